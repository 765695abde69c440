//! The shortest path, with openssl on both sides: an openssl-made CSR is certified
//! and openssl verifies the certificate against the served root.

use crate::common::judge::{cert_pubkey, csr_pubkey};
use crate::common::*;

#[tokio::test]
async fn openssl_made_csrs_are_certified_and_openssl_verifies_them() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    for (spec, authority, cn) in [
        ("rsa:2048", "RSA", "smoke-rsa"),
        ("ec:prime256v1", "ECC", "smoke-ecc"),
    ] {
        let csr = openssl_csr(spec, &subject(cn), "sha256");
        let data = ok_data(&apply_csr(&mock, DEV1, &csr, Some(authority)).await);
        let root = mock.root(authority).await;
        let cert = data["cert"].as_str().unwrap();
        verify(&root, cert).unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!(data["caCert"].as_str().unwrap(), root);
        assert_eq!(csr_pubkey(&csr), cert_pubkey(cert));
    }
}
