//! The URLs the mock writes into what it issues: certChainURL in apply's and renew's
//! answers and the CRL distribution point in every certificate. The HTTP router
//! serves these paths (`api::router`); this is the one place they are spelt for links.

use crate::domain::model::Authority;

/// Where a root certificate is served, followed by `/{RSA|ECC}`.
pub const CACERT_PATH: &str = "/enos/CA/cacert";
/// Where a root's CRL is served, followed by `/{RSA|ECC}`.
pub const CRL_PATH: &str = "/enos/CA/crl";

/// Links as clients reach the mock (`--public-url`, or the bound address).
#[derive(Debug, Clone)]
pub struct CaLinks {
    public_url: String,
}

impl CaLinks {
    pub fn new(public_url: &str) -> CaLinks {
        CaLinks {
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn cert_chain(&self, authority: Authority) -> String {
        format!("{}{CACERT_PATH}/{}", self.public_url, authority.as_str())
    }

    pub fn crl(&self, authority: Authority) -> String {
        format!("{}{CRL_PATH}/{}", self.public_url, authority.as_str())
    }
}
