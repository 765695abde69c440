mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn apply_then_openssl_verifies_against_the_served_root() {
    let mock = Mock::start().await;
    let data = mock.apply_ok(DEV1, "smoke-1").await;
    let root = mock.root("RSA").await;
    verify(&root, data["cert"].as_str().unwrap()).unwrap();
    assert_eq!(data["caCert"].as_str().unwrap(), root);
    let _ = json!({});
}
