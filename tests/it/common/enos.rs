//! The calls the test files share, once: products and devices, apply and revoke, faults
//! and the journal's connections.

use reqwest::Method;
use serde_json::{json, Value};

use super::judge::is_uuid_v4;
use super::table::{Body, Call, DEVICES, PRODUCTS};
use super::{Mock, ORG};

/// Asserts an EnOS success: code 0, msg `OK`, a UUID v4 requestId.
#[track_caller]
pub fn assert_ok(r: &Value) {
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(r["msg"], "OK", "{r}");
    assert!(
        r["requestId"].as_str().is_some_and(is_uuid_v4),
        "requestId is a UUID v4: {r}"
    );
}

/// The `data` of a success (asserted as [`assert_ok`]).
#[track_caller]
pub fn ok_data(r: &Value) -> Value {
    assert_ok(r);
    r["data"].clone()
}

/// `base` with the keys of `extra` set (a `null` in `extra` removes the key).
pub fn merged(mut base: Value, extra: Value) -> Value {
    let map = base.as_object_mut().unwrap();
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            map.remove(k);
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    base
}

/// The minimal product create body A8 requires.
pub fn product_body() -> Value {
    json!({
        "productName": { "defaultValue": "Test product" },
        "productType": "Device",
        "dataFormat": "Json",
        "modelId": "model-1",
        "biDirectionalAuth": true,
    })
}

/// The minimal device create body A8 requires.
pub fn device_body(product_key: &str) -> Value {
    json!({
        "productKey": product_key,
        "deviceName": { "defaultValue": "Test device" },
        "timezone": "+08:00",
    })
}

/// `action=create&orgId={ORG}`.
pub fn create_query() -> String {
    format!("action=create&orgId={ORG}")
}

/// POST `/connect-service/v2.1/products?{query}`: the envelope (HTTP 200 asserted).
pub async fn products(mock: &Mock, query: &str, body: Value) -> Value {
    Call::post(format!("{PRODUCTS}?{query}"), body)
        .envelope(mock)
        .await
}

/// POST `/connect-service/v2.1/devices?{query}`: the envelope (HTTP 200 asserted).
pub async fn devices(mock: &Mock, query: &str, body: Value) -> Value {
    Call::post(format!("{DEVICES}?{query}"), body)
        .envelope(mock)
        .await
}

/// Creates a product in ORG from the minimal body plus `extra`; returns its productKey.
pub async fn create_product(mock: &Mock, extra: Value) -> String {
    let r = products(mock, &create_query(), merged(product_body(), extra)).await;
    assert_ok(&r);
    r["data"]
        .as_str()
        .unwrap_or_else(|| panic!("data is the bare productKey string: {r}"))
        .to_string()
}

/// GET `action=get` of a product in ORG: the envelope.
pub async fn get_product(mock: &Mock, product_key: &str) -> Value {
    Call::get(format!(
        "{PRODUCTS}?action=get&orgId={ORG}&productKey={product_key}"
    ))
    .envelope(mock)
    .await
}

/// Creates a device in ORG from the minimal body plus `extra`; returns create's `data`.
pub async fn create_device(mock: &Mock, product_key: &str, extra: Value) -> Value {
    let r = devices(
        mock,
        &create_query(),
        merged(device_body(product_key), extra),
    )
    .await;
    ok_data(&r)
}

/// GET `action=get` of a device in ORG by a selector (`assetId=..`, or
/// `productKey=..&deviceKey=..`): the envelope.
pub async fn get_device(mock: &Mock, selector: &str) -> Value {
    Call::new(
        Method::GET,
        format!("{DEVICES}?action=get&orgId={ORG}&{selector}"),
        Body::None,
    )
    .envelope(mock)
    .await
}

/// Apply with a CSR and an optional issueAuthority: the envelope.
pub async fn apply_csr(mock: &Mock, asset_id: &str, csr: &str, authority: Option<&str>) -> Value {
    let mut body = json!({ "csr": csr });
    if let Some(a) = authority {
        body["issueAuthority"] = json!(a);
    }
    mock.cert("apply", asset_id, body).await
}

/// Revokes a certificate, asserting success (`data` null).
pub async fn revoke(mock: &Mock, asset_id: &str, serial: u64, reason: Value) {
    let r = mock
        .cert(
            "revoke",
            asset_id,
            json!({ "certSn": serial, "reason": reason }),
        )
        .await;
    assert_ok(&r);
    assert!(r["data"].is_null(), "{r}");
}

/// POST /__admin/faults → (HTTP status, JSON).
pub async fn post_fault(mock: &Mock, body: Value) -> (u16, Value) {
    let response = mock
        .http
        .post(mock.url("/__admin/faults"))
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// Registers a fault that must be accepted; returns its id.
pub async fn add_fault(mock: &Mock, body: Value) -> String {
    let (status, fault) = post_fault(mock, body.clone()).await;
    assert_eq!(status, 200, "fault {body} refused: {fault}");
    fault["id"]
        .as_str()
        .unwrap_or_else(|| panic!("fault without id: {fault}"))
        .to_string()
}

/// The newest `mqtt.connect` journal entry.
pub async fn last_connect(mock: &Mock) -> Value {
    let all = mock.get_json("/__admin/requests?action=mqtt.connect").await;
    all.as_array()
        .and_then(|a| a.last().cloned())
        .unwrap_or_else(|| panic!("no mqtt.connect entry: {all}"))
}
