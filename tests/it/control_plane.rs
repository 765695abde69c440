//! Black-box tests of the control plane of issue 3 (parts 2, 3, 5, 6, 7): fault
//! injection (`/__admin/faults` and the `x-enos-mock-fault` header), the request
//! journal (`/__admin/requests`), reset, health and fixtures hot reload
//! (`docs/behaviour.md`, A2-A5, B11, B12, B14, B15), over real HTTP.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::contract::*;
use crate::common::judge::*;
use crate::common::table::{CERTS, DEVICES, PRODUCTS};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

const FAULT_HEADER: &str = "x-enos-mock-fault";

/// The default fixtures' table sizes (health `counts`).
fn default_counts() -> Value {
    json!({ "orgs": 2, "products": 6, "devices": 9, "certificates": 0, "revoked": 0 })
}

// ---------------------------------------------------------------------------
// helpers

/// Any call: method, path with query, optional JSON body, extra headers → (HTTP status, JSON).
async fn send(
    mock: &Mock,
    method: Method,
    path_and_query: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = mock.http.request(method, mock.url(path_and_query));
    if let Some(body) = body {
        request = request.json(&body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{path_and_query} answered non-JSON ({e}): {text:?}"));
    (status, json)
}

fn cert_query(action: &str, asset_id: &str) -> String {
    format!("{CERTS}?action={action}&orgId={ORG}&assetId={asset_id}")
}

/// A certificate call by assetId (list a GET, the rest POST) → (HTTP status, JSON).
async fn cert_call(mock: &Mock, action: &str, asset_id: &str, body: Value) -> (u16, Value) {
    cert_call_with(mock, action, asset_id, body, &[]).await
}

async fn cert_call_with(
    mock: &Mock,
    action: &str,
    asset_id: &str,
    body: Value,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let path = cert_query(action, asset_id);
    if action == "list" {
        send(mock, Method::GET, &path, None, headers).await
    } else {
        send(mock, Method::POST, &path, Some(body), headers).await
    }
}

/// List by productKey + deviceKey → (HTTP status, JSON).
async fn list_by_keys(mock: &Mock, product_key: &str, device_key: &str) -> (u16, Value) {
    let path =
        format!("{CERTS}?action=list&orgId={ORG}&productKey={product_key}&deviceKey={device_key}");
    send(mock, Method::GET, &path, None, &[]).await
}

async fn faults(mock: &Mock) -> Vec<Value> {
    let (status, list) = send(mock, Method::GET, "/__admin/faults", None, &[]).await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .unwrap_or_else(|| panic!("GET /__admin/faults is not a bare array: {list}"))
        .clone()
}

async fn clear_faults(mock: &Mock) {
    let (status, body) = send(mock, Method::DELETE, "/__admin/faults", None, &[]).await;
    assert_eq!(status, 200, "{body}");
}

/// GET /__admin/requests with a raw filter query ("" for none).
async fn journal(mock: &Mock, filter: &str) -> Vec<Value> {
    let path = if filter.is_empty() {
        "/__admin/requests".to_string()
    } else {
        format!("/__admin/requests?{filter}")
    };
    let (status, list) = send(mock, Method::GET, &path, None, &[]).await;
    assert_eq!(status, 200, "{path}: {list}");
    list.as_array()
        .unwrap_or_else(|| panic!("{path} is not a bare array: {list}"))
        .clone()
}

async fn clear_journal(mock: &Mock) {
    let (status, body) = send(mock, Method::DELETE, "/__admin/requests", None, &[]).await;
    assert_eq!(status, 200, "{body}");
}

async fn health(mock: &Mock) -> Value {
    let (status, body) = send(mock, Method::GET, "/__admin/health", None, &[]).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn post_admin(mock: &Mock, path: &str) -> (u16, Value) {
    send(mock, Method::POST, path, None, &[]).await
}

/// A `{"message": ...}` body, returning the message.
#[track_caller]
fn message(body: &Value) -> String {
    body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no string message in {body}"))
        .to_string()
}

/// A CA cacert fetch (journaled, no EnOS code).
async fn fetch_root(mock: &Mock, query: &str) {
    let response = mock
        .http
        .get(mock.url(&format!("/enos/CA/cacert/RSA{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pem = response.text().await.unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
}

/// The default fixtures as JSON, with extra devices appended.
fn fixtures_with(devices: &[Value]) -> Value {
    let mut fixtures: Value = serde_json::from_str(crate::common::DEFAULT_FIXTURES).unwrap();
    let list = fixtures["devices"].as_array_mut().unwrap();
    list.extend(devices.iter().cloned());
    fixtures
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

fn bidi_device(asset_id: &str, device_key: &str) -> Value {
    json!({ "assetId": asset_id, "productKey": BIDI_PRODUCT, "deviceKey": device_key, "deviceName": asset_id })
}

// ---------------------------------------------------------------------------
// fault injection: every 99500 row and every templated CA row

/// The contract rows only a fault reaches (every 99500 row and every templated CA row),
/// each tried on every action the contract lists it for.
const FAULT_ROWS: &[Row] = &[
    CERT_SERVICE_INTERNAL,
    PRODUCT_SERVICE_INTERNAL,
    IOT_HUB_INTERNAL,
    IOT_HUB_INTERNAL_LIST,
    CALL_CA_ERROR,
    REVOKE_FAILED,
    RENEW_FAILED,
    QUERY_FAILED,
    CA_PARAMS_INVALID,
    INVALID_CERT_REQUEST,
    DUPLICATE_SUBJECT,
];

/// What a fault of `row` answers: the row, a template filled with the fault's own words.
fn fault_msg(row: &Row, fault_id: &str) -> String {
    match row.key {
        "call_ca_error" => row.fill(&[
            ("code", "500"),
            ("message", "injected fault"),
            ("detail", fault_id),
        ]),
        _ if row.is_template() => row.detailed("injected fault", fault_id),
        _ => row.msg.to_string(),
    }
}

#[tokio::test]
async fn every_internal_and_ca_template_row_is_reachable_by_a_registered_fault() {
    let mock = Mock::start().await;
    let serial = sn(&mock.apply_ok(DEV1, "fault-rows-1").await);
    // Calls that would succeed without a fault, so a fault that misses shows up as code 0.
    let spare_csr = rsa_csr("fault-rows-spare");
    let catalogue = mock.get_json("/__admin/errors").await;
    let catalogue = catalogue.as_array().expect("catalogue is an array");

    let mut failures = Vec::new();
    for row in FAULT_ROWS {
        let entry = catalogue
            .iter()
            .find(|e| e["key"] == row.key)
            .unwrap_or_else(|| panic!("row {} is not in GET /__admin/errors", row.key));
        assert_eq!(entry["code"], row.code, "catalogue code of {}", row.key);
        for &action in row.actions {
            let listed = entry["actions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == action));
            if !listed {
                failures.push(format!(
                    "{} on {action}: the catalogue does not list {action} for it: {entry}",
                    row.key
                ));
            }
            let id = add_fault(
                &mock,
                json!({ "action": action, "error": row.key, "times": 1 }),
            )
            .await;
            let body = match action {
                "apply" => json!({ "csr": spare_csr }),
                "renew" => json!({ "certSn": serial }),
                "revoke" => json!({ "certSn": serial, "reason": 1 }),
                _ => Value::Null,
            };
            let (status, r) = cert_call(&mock, action, DEV1, body).await;
            let expected = fault_msg(row, &id);
            let request_id_ok = r["requestId"].as_str().is_some_and(is_uuid_v4);
            if status != 200
                || r["code"] != row.code
                || r["msg"] != expected.as_str()
                || !r["data"].is_null()
                || !request_id_ok
            {
                failures.push(format!(
                    "{} on {action}: expected HTTP 200, code {}, msg {expected:?}, data null, a UUID requestId; got HTTP {status} {r}",
                    row.key, row.code
                ));
            }
            let left = faults(&mock).await;
            if !left.is_empty() {
                failures.push(format!(
                    "{} on {action}: a times-1 fault is still listed after its hit: {left:?}",
                    row.key
                ));
                clear_faults(&mock).await;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The injected calls changed nothing: one certificate, still valid.
    let list = mock.list(DEV1).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["certSN"], serial.to_string());
    assert_eq!(
        list[0]["certStatus"], 0,
        "an injected revoke/renew must not act"
    );
}

#[tokio::test]
async fn the_fault_rows_cover_every_internal_and_ca_template_row_of_the_catalogue() {
    let mock = Mock::start().await;
    let catalogue = mock.get_json("/__admin/errors").await;
    let tested: BTreeSet<&str> = FAULT_ROWS.iter().map(|r| r.key).collect();
    let mut missing = Vec::new();
    for entry in catalogue.as_array().unwrap() {
        let msg = entry["msg"].as_str().unwrap();
        let reachable_only_by_faults = entry["code"] == 99500
            || msg.starts_with("Call ca error!")
            || msg.contains(", detail message: {detail}");
        if reachable_only_by_faults && !tested.contains(entry["key"].as_str().unwrap()) {
            missing.push(entry.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "catalogue rows without a fault test: {missing:?}"
    );
    assert_eq!(tested.len(), 11);
}

#[tokio::test]
async fn a_fault_with_both_error_and_http_status_answers_that_status_with_the_envelope() {
    let mock = Mock::start().await;
    let id = add_fault(
        &mock,
        json!({ "action": "apply", "error": "call_ca_error", "httpStatus": 502, "times": 1 }),
    )
    .await;
    let (status, r) = cert_call(&mock, "apply", DEV1, json!({ "csr": rsa_csr("both") })).await;
    assert_eq!(status, 502, "{r}");
    assert_error(
        &r,
        99400,
        &format!("Call ca error!: Certificate service err info:, code: 500, message: injected fault, detail message: {id}"),
    );

    let id = add_fault(
        &mock,
        json!({ "action": "list", "error": "cert_service_internal", "httpStatus": 500 }),
    )
    .await;
    let (status, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
    assert_eq!(status, 500, "fault {id}: {r}");
    assert_row(&r, &CERT_SERVICE_INTERNAL);
}

// ---------------------------------------------------------------------------
// fault injection: counting, filters, listing, clearing

#[tokio::test]
async fn a_fault_with_times_two_hits_exactly_the_next_two_matching_calls() {
    let mock = Mock::start().await;
    let id = add_fault(
        &mock,
        json!({ "action": "apply", "error": "cert_service_internal", "times": 2 }),
    )
    .await;
    assert!(id.starts_with("fault-"), "{id}");

    let listed = faults(&mock).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["action"], "apply");
    assert_eq!(listed[0]["error"], "cert_service_internal");
    assert_eq!(listed[0]["times"], 2, "{listed:?}");
    assert_eq!(listed[0]["hits"], 0, "{listed:?}");

    let csr = rsa_csr("times-two");
    let (_, r) = cert_call(&mock, "apply", DEV1, json!({ "csr": csr })).await;
    assert_row(&r, &CERT_SERVICE_INTERNAL);
    let listed = faults(&mock).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["times"], 1, "one hit left: {listed:?}");
    assert_eq!(listed[0]["hits"], 1, "{listed:?}");

    let (_, r) = cert_call(&mock, "apply", DEV1, json!({ "csr": csr })).await;
    assert_row(&r, &CERT_SERVICE_INTERNAL);
    assert!(
        faults(&mock).await.is_empty(),
        "a spent fault leaves the list"
    );

    let (status, r) = cert_call(&mock, "apply", DEV1, json!({ "csr": csr })).await;
    assert_eq!(status, 200);
    assert_ok(&r);
    assert_eq!(
        mock.list(DEV1).await.len(),
        1,
        "only the third apply issued"
    );
}

#[tokio::test]
async fn a_fault_without_times_hits_every_matching_call_until_cleared() {
    let mock = Mock::start().await;
    let id = add_fault(
        &mock,
        json!({ "action": "list", "error": "iot_hub_internal_list" }),
    )
    .await;
    for _ in 0..4 {
        let (_, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
        assert_row(&r, &IOT_HUB_INTERNAL_LIST);
    }
    let listed = faults(&mock).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(
        listed[0]["times"].is_null(),
        "no times: until cleared, shown as null: {listed:?}"
    );
    assert_eq!(listed[0]["hits"], 4, "{listed:?}");

    let (status, cleared) = send(&mock, Method::DELETE, "/__admin/faults", None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(cleared, json!([]));
    assert!(faults(&mock).await.is_empty());
    let (_, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
    assert_ok(&r);
    assert_eq!(r["data"], json!([]));
}

#[tokio::test]
async fn a_fault_hits_only_its_action() {
    let mock = Mock::start().await;
    add_fault(
        &mock,
        json!({ "action": "apply", "error": "cert_service_internal", "times": 1 }),
    )
    .await;
    for action in ["list", "renew", "revoke"] {
        let (_, r) = cert_call(&mock, action, DEV1, json!({ "certSn": 999_999 })).await;
        assert_ne!(r["code"], 99500, "an apply fault hit {action}: {r}");
    }
    let listed = faults(&mock).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["hits"], 0, "{listed:?}");
    let (_, r) = cert_call(&mock, "apply", DEV1, json!({ "csr": "x" })).await;
    assert_row(&r, &CERT_SERVICE_INTERNAL);
}

#[tokio::test]
async fn a_star_fault_hits_every_action() {
    let mock = Mock::start().await;
    add_fault(
        &mock,
        json!({ "action": "*", "error": "product_service_internal" }),
    )
    .await;
    for action in ["apply", "renew", "revoke", "list"] {
        let (status, r) = cert_call(&mock, action, DEV1, json!({ "certSn": 1 })).await;
        assert_eq!(status, 200, "{action}");
        assert_row(&r, &PRODUCT_SERVICE_INTERNAL);
    }
    let calls = [
        (
            Method::POST,
            format!("{PRODUCTS}?action=create&orgId={ORG}"),
            Some(product_body()),
        ),
        (
            Method::GET,
            format!("{PRODUCTS}?action=get&orgId={ORG}&productKey={BIDI_PRODUCT}"),
            None,
        ),
        (
            Method::POST,
            format!("{DEVICES}?action=update&orgId={ORG}&assetId={DEV2}"),
            Some(json!({ "deviceDesc": "x" })),
        ),
        (
            Method::GET,
            format!("{DEVICES}?action=get&orgId={ORG}&assetId={DEV2}"),
            None,
        ),
    ];
    for (method, path, body) in calls {
        let (status, r) = send(&mock, method, &path, body, &[]).await;
        assert_eq!(status, 200, "{path}");
        assert_row(&r, &PRODUCT_SERVICE_INTERNAL);
    }
    let listed = faults(&mock).await;
    assert_eq!(listed[0]["hits"], 8, "{listed:?}");
    // The CA endpoints are no EnOS action: a `*` fault leaves them alone.
    fetch_root(&mock, "").await;
    assert_eq!(
        health(&mock).await["counts"],
        default_counts(),
        "nothing was created"
    );
}

#[tokio::test]
async fn reset_clears_faults() {
    let mock = Mock::start().await;
    add_fault(
        &mock,
        json!({ "action": "list", "error": "cert_service_internal" }),
    )
    .await;
    assert_eq!(health(&mock).await["faults"], 1);
    let (status, body) = post_admin(&mock, "/__admin/reset").await;
    assert_eq!(status, 200, "{body}");
    assert!(faults(&mock).await.is_empty());
    assert_eq!(health(&mock).await["faults"], 0);
    let (_, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
    assert_ok(&r);
}

#[tokio::test]
async fn a_fault_scoped_by_asset_id_hits_the_device_named_by_keys_and_no_other() {
    let mock = Mock::start().await;
    add_fault(
        &mock,
        json!({ "action": "list", "error": "query_failed", "assetId": DEV1 }),
    )
    .await;
    let id = faults(&mock).await[0]["id"].as_str().unwrap().to_string();
    let expected = format!("Query cert is failed!message:  injected fault, detail message: {id}");

    let (_, r) = cert_call(&mock, "list", DEV2, Value::Null).await;
    assert_ok(&r);
    let (_, r) = list_by_keys(&mock, BIDI_PRODUCT, "meter-002").await;
    assert_ok(&r);
    let (_, r) = list_by_keys(&mock, BIDI_PRODUCT, "meter-001").await;
    assert_error(&r, 99400, &expected);
    let (_, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
    assert_error(&r, 99400, &expected);
    let listed = faults(&mock).await;
    assert_eq!(listed[0]["assetId"], DEV1, "{listed:?}");
    assert_eq!(
        listed[0]["hits"], 2,
        "DEV2's calls are not counted: {listed:?}"
    );
}

#[tokio::test]
async fn a_fault_scoped_by_product_and_device_key_hits_the_device_named_by_asset_id() {
    let mock = Mock::start().await;
    add_fault(
        &mock,
        json!({ "action": "*", "error": "cert_service_internal", "productKey": BIDI_PRODUCT, "deviceKey": "meter-002", "times": 2 }),
    )
    .await;
    let (_, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
    assert_ok(&r);
    let (_, r) = cert_call(&mock, "list", DEV3, Value::Null).await;
    assert_ok(&r);
    let (_, r) = cert_call(&mock, "list", DEV2, Value::Null).await;
    assert_row(&r, &CERT_SERVICE_INTERNAL);
    // device.get names the device by assetId too.
    let r = get_device(&mock, &format!("assetId={DEV2}")).await;
    assert_row(&r, &CERT_SERVICE_INTERNAL);
    let listed = faults(&mock).await;
    assert!(listed.is_empty(), "two hits spent it: {listed:?}");
    let (_, r) = cert_call(&mock, "list", DEV2, Value::Null).await;
    assert_ok(&r);
}

#[tokio::test]
async fn an_http_status_fault_answers_that_status_with_a_message() {
    let mock = Mock::start().await;
    let id = add_fault(&mock, json!({ "action": "list", "httpStatus": 503 })).await;
    let (status, body) = cert_call(&mock, "list", DEV1, Value::Null).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(message(&body), format!("injected fault {id}"), "{body}");
    assert!(body.get("code").is_none(), "a gateway-style answer: {body}");
    // Other actions are untouched.
    let (status, r) = cert_call(&mock, "renew", DEV1, json!({ "certSn": 5 })).await;
    assert_eq!(status, 200, "{r}");
    // The journal records the injected status, without an EnOS code.
    let entries = journal(&mock, "action=list").await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["status"], 503, "{entries:#?}");
    assert!(entries[0]["code"].is_null(), "{entries:#?}");
}

#[tokio::test]
async fn a_delay_fault_delays_the_call_which_then_succeeds() {
    let mock = Mock::start().await;
    add_fault(
        &mock,
        json!({ "action": "list", "delayMs": 300, "times": 1 }),
    )
    .await;
    let started = Instant::now();
    let (status, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "delayed call took {took:?}"
    );
    assert_eq!(status, 200, "{r}");
    assert_ok(&r);
    assert_eq!(r["data"], json!([]));
    assert!(faults(&mock).await.is_empty(), "the delay was spent");
}

#[tokio::test]
async fn bad_fault_bodies_are_refused_with_400_and_a_message() {
    let mock = Mock::start().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "unknown action",
            json!({ "action": "explode", "error": "cert_service_internal" }),
            "action must be one of *, apply, renew, revoke, list, product.create, product.get, product.update, product.delete, device.create, device.get, device.update, device.delete, mqtt.connect, mqtt.reply",
        ),
        (
            "unknown error key",
            json!({ "action": "apply", "error": "nope" }),
            "error \"nope\" is not a catalogue key (see GET /__admin/errors)",
        ),
        (
            "httpStatus 42",
            json!({ "action": "apply", "httpStatus": 42 }),
            "httpStatus must be between 100 and 599",
        ),
        (
            "nothing to inject",
            json!({ "action": "apply", "times": 1 }),
            "give at least one of error, httpStatus, delayMs",
        ),
        (
            "times 0",
            json!({ "action": "apply", "error": "cert_service_internal", "times": 0 }),
            "times must be at least 1 (leave it out for every matching call)",
        ),
        (
            "productKey without deviceKey",
            json!({ "action": "apply", "error": "cert_service_internal", "productKey": BIDI_PRODUCT }),
            "a device scope is assetId, or productKey with deviceKey",
        ),
    ];
    for (what, body, expected) in cases {
        let (status, answer) = post_fault(&mock, body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(message(&answer), expected, "{what}");
    }
    let (status, answer) = post_fault(
        &mock,
        json!({ "action": "apply", "error": "cert_service_internal", "colour": "red" }),
    )
    .await;
    assert_eq!(status, 400, "unknown field: {answer}");
    let text = message(&answer);
    assert!(
        text.starts_with("invalid body: unknown field `colour`"),
        "unknown field: {text}"
    );
    assert!(faults(&mock).await.is_empty(), "nothing was registered");
    let (_, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
    assert_ok(&r);
}

// ---------------------------------------------------------------------------
// the x-enos-mock-fault header

#[tokio::test]
async fn the_fault_header_fails_one_call_with_a_catalogue_row() {
    let mock = Mock::start().await;
    let (status, r) = cert_call_with(
        &mock,
        "apply",
        DEV1,
        json!({ "csr": rsa_csr("header-1") }),
        &[(FAULT_HEADER, "cert_service_internal")],
    )
    .await;
    assert_eq!(status, 200);
    assert_row(&r, &CERT_SERVICE_INTERNAL);
    assert!(mock.list(DEV1).await.is_empty(), "nothing was issued");

    let (_, r) = cert_call_with(
        &mock,
        "list",
        DEV1,
        Value::Null,
        &[(FAULT_HEADER, "call_ca_error")],
    )
    .await;
    assert_error(
        &r,
        99400,
        "Call ca error!: Certificate service err info:, code: 500, message: injected fault, detail message: x-enos-mock-fault",
    );

    // Header names are case-insensitive.
    let (_, r) = cert_call_with(
        &mock,
        "list",
        DEV1,
        Value::Null,
        &[("X-Enos-Mock-Fault", "iot_hub_internal_list")],
    )
    .await;
    assert_row(&r, &IOT_HUB_INTERNAL_LIST);

    // Only the call that carries it.
    let (_, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
    assert_ok(&r);
}

#[tokio::test]
async fn an_unknown_key_in_the_fault_header_is_a_99400() {
    let mock = Mock::start().await;
    let (status, r) =
        cert_call_with(&mock, "list", DEV1, Value::Null, &[(FAULT_HEADER, "nope")]).await;
    assert_eq!(status, 200);
    assert_error(
        &r,
        99400,
        "Invalid Argument x-enos-mock-fault:unknown catalogue key \"nope\"",
    );
}

#[tokio::test]
async fn the_fault_header_works_on_product_and_device_calls() {
    let mock = Mock::start().await;
    let (status, r) = send(
        &mock,
        Method::POST,
        &format!("{PRODUCTS}?action=create&orgId={ORG}"),
        Some(product_body()),
        &[(FAULT_HEADER, "product_service_internal")],
    )
    .await;
    assert_eq!(status, 200);
    assert_row(&r, &PRODUCT_SERVICE_INTERNAL);
    assert_eq!(health(&mock).await["counts"]["products"], 6, "not created");

    let (_, r) = send(
        &mock,
        Method::GET,
        &format!("{PRODUCTS}?action=get&orgId={ORG}&productKey={BIDI_PRODUCT}"),
        None,
        &[(FAULT_HEADER, "cert_service_internal")],
    )
    .await;
    assert_row(&r, &CERT_SERVICE_INTERNAL);

    let (_, r) = send(
        &mock,
        Method::GET,
        &format!("{DEVICES}?action=get&orgId={ORG}&assetId={DEV1}"),
        None,
        &[(FAULT_HEADER, "iot_hub_internal")],
    )
    .await;
    assert_row(&r, &IOT_HUB_INTERNAL);

    let (_, r) = send(
        &mock,
        Method::POST,
        &format!("{DEVICES}?action=delete&orgId={ORG}&assetId={DEV3}"),
        Some(json!({})),
        &[(FAULT_HEADER, "iot_hub_internal")],
    )
    .await;
    assert_row(&r, &IOT_HUB_INTERNAL);
    let r = get_device(&mock, &format!("assetId={DEV3}")).await;
    assert_ok(&r);
    assert_eq!(
        r["data"]["assetId"], DEV3,
        "the faulted delete deleted nothing"
    );
}

// ---------------------------------------------------------------------------
// the request journal

#[tokio::test]
async fn the_journal_records_enos_and_ca_calls_newest_last_on_the_mock_clock() {
    let mock = Mock::start().await;
    let (status, _) = post_clock(&mock, json!({ "set": "2030-01-01T00:00:00Z" })).await;
    assert_eq!(status, 200);
    let set_ms = rfc3339_ms("2030-01-01T00:00:00Z");
    clear_journal(&mock).await;
    let csr = rsa_csr("journal-1");

    let (_, r) = cert_call(&mock, "apply", DEV1, json!({ "csr": csr })).await;
    assert_ok(&r);
    let (_, r) = send(
        &mock,
        Method::GET,
        &format!("{CERTS}?action=list&assetId={DEV1}"),
        None,
        &[],
    )
    .await;
    assert_row(&r, &ORG_MISSING);
    fetch_root(&mock, "").await;
    // Control calls are not journaled.
    health(&mock).await;
    mock.get_json("/__admin/clock").await;
    mock.get_json("/__admin/errors").await;

    let entries = journal(&mock, "").await;
    assert_eq!(entries.len(), 3, "{entries:#?}");
    let now_ms = mock_now_ms(&mock).await;
    for e in &entries {
        let time = e["time"].as_str().unwrap_or_else(|| panic!("{e}"));
        assert!(time.starts_with("2030-01-01T"), "mock-clock date: {e}");
        let ms = rfc3339_ms(time);
        assert!(ms >= set_ms && ms <= now_ms, "time on the mock clock: {e}");
        let latency = e["latencyMs"]
            .as_f64()
            .unwrap_or_else(|| panic!("latencyMs is a number: {e}"));
        assert!(latency >= 0.0, "{e}");
        assert_eq!(e["status"], 200, "{e}");
    }
    let apply = &entries[0];
    assert_eq!(apply["method"], "POST");
    assert_eq!(apply["path"], CERTS);
    assert_eq!(
        apply["query"],
        format!("action=apply&orgId={ORG}&assetId={DEV1}")
    );
    assert_eq!(apply["action"], "apply");
    assert_eq!(apply["code"], 0);

    let list = &entries[1];
    assert_eq!(list["method"], "GET");
    assert_eq!(list["path"], CERTS);
    assert_eq!(list["query"], format!("action=list&assetId={DEV1}"));
    assert_eq!(list["action"], "list");
    assert_eq!(list["code"], 99400);

    let ca = &entries[2];
    assert_eq!(ca["method"], "GET");
    assert_eq!(ca["path"], "/enos/CA/cacert/RSA");
    assert_eq!(ca["query"], "");
    assert!(ca["action"].is_null(), "{ca}");
    assert!(ca["code"].is_null(), "no EnOS code on a CA fetch: {ca}");
    assert!(ca.get("code").is_some(), "code is present (null): {ca}");

    let h = health(&mock).await;
    assert_eq!(h["journal"], json!({ "entries": 3, "capacity": 1000 }));
}

#[tokio::test]
async fn the_journal_filters_by_action_code_and_limit_and_clears() {
    let mock = Mock::start().await;
    mock.apply_ok(DEV1, "journal-filter").await;
    let (_, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
    assert_ok(&r);
    let (_, r) = cert_call(&mock, "renew", DEV1, json!({})).await;
    assert_row(&r, &CERT_SN_MISSING);
    fetch_root(&mock, "?n=last").await;

    let all = journal(&mock, "").await;
    let actions: Vec<&Value> = all.iter().map(|e| &e["action"]).collect();
    assert_eq!(
        actions,
        [
            &json!("apply"),
            &json!("list"),
            &json!("renew"),
            &Value::Null
        ],
        "{all:#?}"
    );

    let applies = journal(&mock, "action=apply").await;
    assert_eq!(applies.len(), 1, "{applies:#?}");
    assert_eq!(applies[0]["action"], "apply");

    let errors = journal(&mock, "code=99400").await;
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["action"], "renew");

    let ok = journal(&mock, "code=0").await;
    assert_eq!(ok.len(), 2, "{ok:#?}");

    let newest = journal(&mock, "limit=1").await;
    assert_eq!(newest.len(), 1, "{newest:#?}");
    assert_eq!(newest[0]["query"], "n=last", "limit keeps the newest");

    let newest_two_ok = journal(&mock, "code=0&limit=1").await;
    assert_eq!(newest_two_ok.len(), 1);
    assert_eq!(newest_two_ok[0]["action"], "list");

    assert!(journal(&mock, "action=revoke").await.is_empty());

    let (status, body) = send(&mock, Method::GET, "/__admin/requests?code=abc", None, &[]).await;
    assert_eq!(status, 400, "{body}");
    message(&body);

    let (status, cleared) = send(&mock, Method::DELETE, "/__admin/requests", None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(cleared, json!([]));
    assert!(journal(&mock, "").await.is_empty());
    assert_eq!(health(&mock).await["journal"]["entries"], 0);
}

#[tokio::test]
async fn the_journal_keeps_only_the_newest_journal_size_entries() {
    let mock = Mock::start_with(Config {
        journal_size: 5,
        ..Config::default()
    })
    .await;
    for i in 0..20 {
        fetch_root(&mock, &format!("?seq={i}")).await;
    }
    let entries = journal(&mock, "").await;
    let queries: Vec<&str> = entries
        .iter()
        .map(|e| e["query"].as_str().unwrap())
        .collect();
    assert_eq!(
        queries,
        ["seq=15", "seq=16", "seq=17", "seq=18", "seq=19"],
        "the newest 5, newest last"
    );
    assert_eq!(
        health(&mock).await["journal"],
        json!({ "entries": 5, "capacity": 5 })
    );
}

#[tokio::test]
async fn a_journal_size_of_zero_keeps_nothing() {
    let mock = Mock::start_with(Config {
        journal_size: 0,
        ..Config::default()
    })
    .await;
    for _ in 0..3 {
        let (_, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
        assert_ok(&r);
        fetch_root(&mock, "").await;
    }
    assert!(journal(&mock, "").await.is_empty());
    assert_eq!(
        health(&mock).await["journal"],
        json!({ "entries": 0, "capacity": 0 })
    );
}

#[tokio::test]
async fn reset_clears_the_journal() {
    let mock = Mock::start().await;
    let (_, r) = cert_call(&mock, "list", DEV1, Value::Null).await;
    assert_ok(&r);
    assert_eq!(journal(&mock, "").await.len(), 1);
    let (status, _) = post_admin(&mock, "/__admin/reset").await;
    assert_eq!(status, 200);
    assert!(journal(&mock, "").await.is_empty());
}

#[tokio::test]
async fn product_and_device_calls_are_journaled_with_their_action_names() {
    let mock = Mock::start().await;
    let product_key = create_product(&mock, json!({})).await;
    let (_, r) = send(
        &mock,
        Method::GET,
        &format!("{PRODUCTS}?action=get&orgId={ORG}&productKey={product_key}"),
        None,
        &[],
    )
    .await;
    assert_ok(&r);
    let (_, r) = send(
        &mock,
        Method::POST,
        &format!("{DEVICES}?action=create&orgId={ORG}"),
        Some(json!({ "productKey": product_key, "deviceName": { "defaultValue": "d" }, "timezone": "+08:00" })),
        &[],
    )
    .await;
    assert_ok(&r);
    let r = get_device(&mock, "assetId=NoSuchAs").await;
    assert_row(&r, &DEVICE_NOT_FOUND);

    let entries = journal(&mock, "").await;
    let seen: Vec<(&str, &str, i64)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("<none>"),
                e["path"].as_str().unwrap(),
                e["code"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("product.create", PRODUCTS, 0),
            ("product.get", PRODUCTS, 0),
            ("device.create", DEVICES, 0),
            ("device.get", DEVICES, 11404),
        ],
        "{entries:#?}"
    );
    let created = journal(&mock, "action=product.create").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["method"], "POST");
    assert_eq!(created[0]["query"], format!("action=create&orgId={ORG}"));
}

// ---------------------------------------------------------------------------
// reset

#[tokio::test]
async fn reset_restores_clock_faults_journal_and_fixtures_in_one_call() {
    let mock = Mock::start().await;
    let serial = sn(&mock.apply_ok(DEV1, "reset-1").await);
    let product_key = create_product(&mock, json!({})).await;
    let (_, r) = send(
        &mock,
        Method::POST,
        &format!("{DEVICES}?action=delete&orgId={ORG}&assetId={DEV2}"),
        Some(json!({})),
        &[],
    )
    .await;
    assert_ok(&r);
    advance_days(&mock, 40).await;
    add_fault(
        &mock,
        json!({ "action": "apply", "error": "cert_service_internal" }),
    )
    .await;
    assert!(!journal(&mock, "").await.is_empty());
    let before = health(&mock).await;
    assert_eq!(before["counts"]["certificates"], 1, "{before}");
    assert_eq!(before["counts"]["products"], 7, "{before}");

    let (status, body) = post_admin(&mock, "/__admin/reset").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "reset", "{body}");
    assert_eq!(body["counts"], default_counts(), "{body}");

    let clock = mock.get_json("/__admin/clock").await;
    assert_eq!(clock["offsetSeconds"], 0, "{clock}");
    assert!(faults(&mock).await.is_empty());
    assert!(journal(&mock, "").await.is_empty());
    assert!(
        mock.list(DEV1).await.is_empty(),
        "certificate {serial} gone"
    );
    assert_ok(&get_device(&mock, &format!("assetId={DEV2}")).await);
    let (_, r) = send(
        &mock,
        Method::GET,
        &format!("{PRODUCTS}?action=get&orgId={ORG}&productKey={product_key}"),
        None,
        &[],
    )
    .await;
    assert_row(&r, &PRODUCT_NOT_FOUND);
    let after = health(&mock).await;
    assert_eq!(after["counts"], default_counts());
    assert_eq!(after["faults"], 0);
    // The faults are gone, and the fixtures work again.
    mock.apply_ok(DEV1, "reset-1").await;
}

// ---------------------------------------------------------------------------
// fixtures hot reload

#[tokio::test]
async fn reload_replaces_the_state_with_the_rewritten_fixtures_file() {
    let dir = tmp();
    let path = dir.path().join("fixtures.json");
    write_json(
        &path,
        &fixtures_with(&[bidi_device("Rl1dev01", "reload-001")]),
    );
    let mock = Mock::start_with(Config {
        fixtures: Some(path.clone()),
        ..Config::default()
    })
    .await;
    assert_eq!(
        health(&mock).await["fixturesFile"],
        path.display().to_string()
    );
    mock.apply_ok("Rl1dev01", "reload-a").await;
    mock.apply_ok(DEV1, "reload-b").await;
    post_clock(&mock, json!({ "advanceDays": 3 })).await;
    add_fault(
        &mock,
        json!({ "action": "list", "error": "cert_service_internal", "assetId": DEV3 }),
    )
    .await;

    write_json(
        &path,
        &fixtures_with(&[bidi_device("Rl2dev02", "reload-002")]),
    );
    let (status, body) = post_admin(&mock, "/__admin/reload").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "reloaded", "{body}");
    assert_eq!(body["fixturesFile"], path.display().to_string(), "{body}");
    assert_eq!(
        body["counts"],
        json!({ "orgs": 2, "products": 6, "devices": 10, "certificates": 0, "revoked": 0 }),
        "{body}"
    );

    assert!(
        mock.list("Rl2dev02").await.is_empty(),
        "the new device exists"
    );
    let (_, r) = cert_call(&mock, "list", "Rl1dev01", Value::Null).await;
    assert_row(&r, &DEVICE_NOT_FOUND);
    assert!(
        mock.list(DEV1).await.is_empty(),
        "the certificates are gone"
    );
    // Like reset: clock, faults, journal.
    assert_eq!(mock.get_json("/__admin/clock").await["offsetSeconds"], 0);
    assert!(faults(&mock).await.is_empty());
    assert_eq!(journal(&mock, "").await.len(), 3, "only the lists since");
    let h = health(&mock).await;
    let assets: Vec<&str> = h["fixtures"]["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["assetId"].as_str().unwrap())
        .collect();
    assert!(assets.contains(&"Rl2dev02"), "{assets:?}");
    assert!(!assets.contains(&"Rl1dev01"), "{assets:?}");
    // Issuing still works on the reloaded device.
    mock.apply_ok("Rl2dev02", "reload-c").await;
}

#[tokio::test]
async fn a_broken_fixtures_file_is_refused_and_leaves_the_running_state_intact() {
    let dir = tmp();
    let path = dir.path().join("fixtures.json");
    let good = fixtures_with(&[bidi_device("Rl1dev01", "reload-001")]);
    write_json(&path, &good);
    let mock = Mock::start_with(Config {
        fixtures: Some(path.clone()),
        ..Config::default()
    })
    .await;
    let serial = sn(&mock.apply_ok("Rl1dev01", "broken-a").await);
    let product_key = create_product(&mock, json!({})).await;
    let counts = health(&mock).await["counts"].clone();
    assert_eq!(counts["certificates"], 1, "{counts}");
    let shown = path.display().to_string();

    let assert_intact = |what: &'static str| {
        let mock = &mock;
        let counts = counts.clone();
        let product_key = product_key.clone();
        async move {
            let list = mock.list("Rl1dev01").await;
            assert_eq!(list.len(), 1, "{what}: {list:?}");
            assert_eq!(list[0]["certSN"], serial.to_string(), "{what}");
            let h = health(mock).await;
            assert_eq!(h["counts"], counts, "{what}");
            let (_, r) = send(
                mock,
                Method::GET,
                &format!("{PRODUCTS}?action=get&orgId={ORG}&productKey={product_key}"),
                None,
                &[],
            )
            .await;
            assert_ok(&r);
        }
    };

    // An unknown key.
    let mut unknown_key = fixtures_with(&[bidi_device("Rl2dev02", "reload-002")]);
    unknown_key["bogus"] = json!(true);
    write_json(&path, &unknown_key);
    let (status, body) = post_admin(&mock, "/__admin/reload").await;
    assert_eq!(status, 400, "{body}");
    let text = message(&body);
    assert!(
        text.starts_with(&format!("fixtures file {shown}: unknown field `bogus`")),
        "{text}"
    );
    assert_intact("after an unknown key").await;

    // A device of an undeclared product.
    let undeclared = fixtures_with(&[
        bidi_device("Rl2dev02", "reload-002"),
        json!({ "assetId": "Bad00001", "productKey": "NoSuchPr", "deviceKey": "bad-001" }),
    ]);
    write_json(&path, &undeclared);
    let (status, body) = post_admin(&mock, "/__admin/reload").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        message(&body),
        format!("fixtures file {shown}: devices[10] (assetId \"Bad00001\"): productKey \"NoSuchPr\" is not declared in products"),
    );
    assert_intact("after an undeclared product").await;
    let (_, r) = cert_call(&mock, "list", "Rl2dev02", Value::Null).await;
    assert_row(&r, &DEVICE_NOT_FOUND);

    // Not JSON at all.
    std::fs::write(&path, "{ not json").unwrap();
    let (status, body) = post_admin(&mock, "/__admin/reload").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        message(&body).starts_with(&format!("fixtures file {shown}: ")),
        "{body}"
    );
    assert_intact("after malformed JSON").await;

    // The file is gone.
    std::fs::remove_file(&path).unwrap();
    let (status, body) = post_admin(&mock, "/__admin/reload").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        message(&body).starts_with(&format!("fixtures file {shown}: ")),
        "{body}"
    );
    assert_intact("after a missing file").await;

    // A refused reload does not replace what reset goes back to.
    let (status, _) = post_admin(&mock, "/__admin/reset").await;
    assert_eq!(status, 200);
    assert!(mock.list("Rl1dev01").await.is_empty());
    let (_, r) = cert_call(&mock, "list", "Rl2dev02", Value::Null).await;
    assert_row(&r, &DEVICE_NOT_FOUND);
}

#[tokio::test]
async fn reload_of_the_built_in_fixtures_resets_to_them() {
    let mock = Mock::start().await;
    mock.apply_ok(DEV1, "builtin-reload").await;
    create_product(&mock, json!({})).await;
    let (status, body) = post_admin(&mock, "/__admin/reload").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "reloaded");
    assert_eq!(body["fixturesFile"], "built-in fixtures/default.json");
    assert_eq!(body["counts"], default_counts());
    assert!(mock.list(DEV1).await.is_empty());
    assert_eq!(health(&mock).await["counts"], default_counts());
}

#[tokio::test]
async fn reload_refuses_a_fixtures_file_that_start_up_refuses_for_its_missing_ca_files() {
    let dir = tmp();
    let path = dir.path().join("fixtures.json");
    let mut broken = fixtures_with(&[]);
    broken["ca"] = json!({ "rsa": { "cert": "missing-rsa.pem", "key": "missing-rsa.key" } });
    write_json(&path, &broken);
    // Start-up refuses this file (B15: a broken file stops start-up with a message)...
    let refused = crate::common::start(Config {
        fixtures: Some(path.clone()),
        ..Config::default()
    })
    .await
    .err()
    .expect("start-up refuses fixtures whose CA files are missing");
    assert!(matches!(refused, StartError::Ca(_)), "{refused:?}");
    let refused = refused.to_string();
    assert!(refused.contains("missing-rsa.pem"), "{refused}");

    // ...so reload must refuse it too (B14: a broken file answers 400, state untouched).
    write_json(&path, &fixtures_with(&[]));
    let mock = Mock::start_with(Config {
        fixtures: Some(path.clone()),
        ..Config::default()
    })
    .await;
    let serial = sn(&mock.apply_ok(DEV1, "ca-reload").await);
    write_json(&path, &broken);
    let (status, body) = post_admin(&mock, "/__admin/reload").await;
    assert_eq!(
        status, 400,
        "reload accepted a file start-up refuses: {body}"
    );
    assert!(message(&body).contains("missing-rsa.pem"), "{body}");
    let list = mock.list(DEV1).await;
    assert_eq!(list.len(), 1, "state untouched: {list:?}");
    assert_eq!(list[0]["certSN"], serial.to_string());
}

// ---------------------------------------------------------------------------
// health

#[tokio::test]
async fn health_reports_version_fixtures_roots_clock_counts_faults_journal_and_seed() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let h = health(&mock).await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["fixturesFile"], "built-in fixtures/default.json");
    assert_eq!(h["counts"], default_counts());
    assert_eq!(h["faults"], 0);
    assert_eq!(h["journal"], json!({ "entries": 0, "capacity": 1000 }));
    assert!(h["seed"].is_null(), "no seed: {}", h["seed"]);

    let cas = h["cas"].as_array().expect("cas is an array");
    assert_eq!(cas.len(), 2, "{cas:?}");
    for authority in ["RSA", "ECC"] {
        let ca = cas
            .iter()
            .find(|c| c["issueAuthority"] == authority)
            .unwrap_or_else(|| panic!("no {authority} root in {cas:?}"));
        let root = mock.root(authority).await;
        assert_eq!(
            ca["fingerprintSha256"].as_str().unwrap().to_uppercase(),
            fingerprint(&root),
            "{authority}"
        );
        let (not_before, not_after) = cert_dates(&root);
        assert_eq!(
            rfc3339_ms(ca["notBefore"].as_str().unwrap()),
            not_before,
            "{ca}"
        );
        assert_eq!(
            rfc3339_ms(ca["notAfter"].as_str().unwrap()),
            not_after,
            "{ca}"
        );
        let cn = if authority == "RSA" {
            "EnOS CA"
        } else {
            "EnOS ECC CA"
        };
        assert_eq!(
            ca["subject"],
            format!(
                "EMAILADDRESS=ca@eniot.io, CN={cn}, OU={cn}, O=EnOS, L=Shanghai, ST=Shanghai, C=CN"
            ),
            "the root's subject, Java-style"
        );
    }

    // The clock, as GET /__admin/clock shows it.
    advance_days(&mock, 10).await;
    let h = health(&mock).await;
    assert_eq!(h["clock"]["offsetSeconds"], 10 * 86_400);
    let shown = rfc3339_ms(h["clock"]["now"].as_str().unwrap());
    let now = mock_now_ms(&mock).await;
    assert!((now - shown).abs() < 5_000, "{} vs {now}", h["clock"]);

    // Counts, faults and journal follow the state.
    clear_journal(&mock).await;
    mock.apply_ok(DEV1, "health-1").await;
    add_fault(
        &mock,
        json!({ "action": "revoke", "error": "cert_service_internal" }),
    )
    .await;
    add_fault(&mock, json!({ "action": "renew", "delayMs": 1 })).await;
    let h = health(&mock).await;
    assert_eq!(h["counts"]["certificates"], 1);
    assert_eq!(h["faults"], 2);
    assert_eq!(
        h["journal"]["entries"], 1,
        "the apply only: {}",
        h["journal"]
    );
}

#[tokio::test]
async fn health_reports_the_seed_and_the_fixtures_file() {
    let dir = tmp();
    let path = dir.path().join("fixtures.json");
    write_json(&path, &fixtures_with(&[]));
    let mock = Mock::start_with(Config {
        seed: Some(3),
        fixtures: Some(path.clone()),
        journal_size: 7,
        ..Config::default()
    })
    .await;
    let h = health(&mock).await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["seed"], 3);
    assert_eq!(h["fixturesFile"], path.display().to_string());
    assert_eq!(h["journal"], json!({ "entries": 0, "capacity": 7 }));
}

// ------------------------------------------------------------------ bulk loading

#[tokio::test]
async fn bulk_devices_are_real_devices_with_verifiable_certificates() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let body = json!({ "orgId": ORG, "productKey": BIDI_PRODUCT, "count": 40, "prefix": "bk", "issueAuthority": "ECC" });
    let (status, text) = mock
        .post_raw("/__admin/bulk/devices", body.to_string())
        .await;
    assert_eq!(status, 200, "{text}");
    let loaded: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(loaded["devices"], 40, "{loaded}");
    assert_eq!(loaded["certificates"], 40, "{loaded}");

    // Each device lists one certificate, issued by the ECC root for its own CN.
    let rows = mock.list("bk7").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(
        row["subject"],
        "CN=bk7, OU=EnOS, O=EnOS, L=Shanghai, ST=Shanghai, C=CN"
    );
    assert_eq!(row["issueAuthority"], "ECC");
    let cert = row["cert"].as_str().unwrap();
    verify(&mock.root("ECC").await, cert).unwrap();
    let subject = x509(cert, &["-subject", "-nameopt", "RFC2253"]);
    assert!(
        subject.contains("CN=bk7,OU=EnOS,O=EnOS,L=Shanghai,ST=Shanghai,C=CN"),
        "{subject}"
    );
    // The devices take part in the EnOS rules like any other: renew works,
    // and a CN in use is a duplicate subject for the same authority.
    let sn = row["certSN"].as_str().unwrap().parse::<u64>().unwrap();
    let r = mock.cert("renew", "bk7", json!({ "certSn": sn })).await;
    assert_eq!(r["code"], 0, "{r}");
    let r = mock
        .cert(
            "apply",
            DEV1,
            json!({ "csr": ec_csr("bk8"), "issueAuthority": "ECC" }),
        )
        .await;
    assert_eq!(r["code"], 99400, "{r}");
    assert!(
        r["msg"].as_str().unwrap().starts_with("Duplicate subject"),
        "{r}"
    );
    let health = mock.get_json("/__admin/health").await;
    assert_eq!(health["counts"]["devices"], 9 + 40, "{health}");

    // Refused whole: taken names, bad counts, unknown products.
    for (bad, why) in [
        (
            json!({ "orgId": ORG, "productKey": BIDI_PRODUCT, "count": 5, "prefix": "bk" }),
            "already exists",
        ),
        (
            json!({ "orgId": ORG, "productKey": BIDI_PRODUCT, "count": 0 }),
            "count must be between",
        ),
        (
            json!({ "orgId": ORG, "productKey": "NoSuchPr", "count": 1 }),
            "Product cannot be found",
        ),
        (
            json!({ "orgId": ORG, "productKey": BIDI_PRODUCT, "count": 1, "issueAuthority": "DSA" }),
            "issueAuthority",
        ),
    ] {
        let (status, text) = mock
            .post_raw("/__admin/bulk/devices", bad.to_string())
            .await;
        assert_eq!(status, 400, "{bad}: {text}");
        assert!(text.contains(why), "{bad}: {text}");
    }
    let health = mock.get_json("/__admin/health").await;
    assert_eq!(
        health["counts"]["devices"],
        9 + 40,
        "nothing half-loaded: {health}"
    );
}

/// The mock clock now, epoch ms, as `GET /__admin/clock` tells it.
async fn mock_now_ms(mock: &Mock) -> i64 {
    let clock = mock.get_json("/__admin/clock").await;
    rfc3339_ms(clock["now"].as_str().expect("clock.now is a string"))
}

/// `POST /__admin/clock {"advanceDays"}`, which must answer 200.
async fn advance_days(mock: &Mock, days: i64) {
    let (status, body) = post_clock(mock, json!({ "advanceDays": days })).await;
    assert_eq!(status, 200, "{body}");
}
