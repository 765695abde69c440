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

#[cfg(test)]
mod tests {
    use super::*;

    /// The links written into certificates name routes the HTTP router serves.
    #[test]
    fn links_name_routes_of_the_router() {
        let router = include_str!("../api/mod.rs");
        for path in [CACERT_PATH, CRL_PATH] {
            let route = format!("\"{path}/{{kind}}\"");
            assert!(router.contains(&route), "no route {path}/{{kind}}");
        }
        let links = CaLinks::new("http://mock:8080/");
        assert_eq!(
            links.crl(Authority::Ecc),
            "http://mock:8080/enos/CA/crl/ECC"
        );
    }
}
