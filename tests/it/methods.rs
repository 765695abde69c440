//! Methods on the EnOS business paths: reads take GET or POST, the rest POST only;
//! any other method, standard or extension, short or absurdly long, gets EnOS's
//! `Invalid Argument method:` answer in the envelope, never a framework 405/400.

use reqwest::Method;
use serde_json::Value;

use crate::common::*;

/// (path, a read action, a write action) of every business resource.
const RESOURCES: [(&str, &str, &str); 6] = [
    ("/connect-service/v2.0/certificates", "list", "apply"),
    ("/connect-service/v2.1/certificates", "list", "revoke"),
    ("/connect-service/v2.0/products", "get", "create"),
    ("/connect-service/v2.1/products", "get", "delete"),
    ("/connect-service/v2.0/devices", "get", "create"),
    ("/connect-service/v2.1/devices", "get", "update"),
];

fn methods() -> Vec<Method> {
    let long = "X".repeat(1000);
    vec![
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::from_bytes(b"BREW").unwrap(),
        Method::from_bytes(long.as_bytes()).unwrap(),
    ]
}

async fn answer(mock: &Mock, method: &Method, path: &str, action: &str) -> (u16, String) {
    let url = mock.url(&format!(
        "{path}?action={action}&orgId={ORG}&assetId={DEV1}&productKey={BIDI_PRODUCT}"
    ));
    let response = mock
        .http
        .request(method.clone(), url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn any_other_method_gets_the_enos_method_refusal() {
    let mock = Mock::start().await;
    for (path, read, write) in RESOURCES {
        for action in [read, write] {
            for method in methods() {
                let shown = &method.as_str()[..method.as_str().len().min(40)];
                let (status, text) = answer(&mock, &method, path, action).await;
                assert_eq!(status, 200, "{shown} {path} {action}: HTTP {status} {text}");
                let body: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{shown} {path} {action}: not JSON ({e}): {text}"));
                assert_eq!(body["code"], 99400, "{shown} {path} {action}: {body}");
                let msg = body["msg"].as_str().unwrap_or_default();
                assert!(
                    msg.starts_with("Invalid Argument method:"),
                    "{shown} {path} {action}: {body}"
                );
                assert!(msg.len() < 300, "the method is not echoed whole: {msg}");
                assert!(body["data"].is_null(), "{body}");
                assert!(body["requestId"].is_string(), "{body}");
            }
        }
    }
}

#[tokio::test]
async fn reads_take_get_and_post() {
    let mock = Mock::start().await;
    for (path, read, _) in RESOURCES {
        for method in [Method::GET, Method::POST] {
            let (status, text) = answer(&mock, &method, path, read).await;
            assert_eq!(status, 200, "{method} {path} {read}: {text}");
            assert!(
                !text.contains("Invalid Argument method"),
                "{method} {path} {read}: {text}"
            );
        }
    }
}
