//! Gateway authentication (A9, B10): the token service's status codes, signed calls,
//! Poseidon tokens, the three modes and org access. Every request here is built by
//! hand: these tests use their own HTTP client, never the harness's lenient token.

use crate::common::contract::*;
use crate::common::table::{assert_want, Want, CERTS};
use crate::common::*;
use aws_lc_rs::digest::{digest, SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

/// The apps of the default fixtures: one in ORG, one in OTHER_ORG.
const APP_KEY: &str = "4ae5a7f2-0c3d-4b7e-9f21-d65c0a8b1e93";
const APP_SECRET: &str = "9c1d2e3f-4a5b-46c7-8d9e-0f1a2b3c4d5e";
const OTHER_APP_KEY: &str = "b7e0c2d4-1f3a-4c5e-8a9b-2c4d6e8f0a1b";
const OTHER_APP_SECRET: &str = "e3f5a7b9-c1d3-4e5f-a7b9-c1d3e5f7a9b1";

const UNAUTHORIZED: &str = r#"{"message":"Invalid authentication credentials"}"#;

/// B10: an app that reaches into another org.
fn denied(org: &str) -> Want {
    Want::Msg(&ORG_DENIED, ORG_DENIED.fill(&[("orgId", org)]))
}

async fn mock(mode: AuthMode) -> Mock {
    Mock::start_with(Config {
        auth: mode,
        ..Config::default()
    })
    .await
}

/// A client with no default headers.
fn bare() -> reqwest::Client {
    reqwest::Client::new()
}

/// Lowercase hex SHA-256, written here rather than borrowed from the mock.
fn sha256_hex(data: &[u8]) -> String {
    digest(&SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// POSTs a raw JSON body to the token service; returns the reply, after checking it is
/// HTTP 200 in the token service's shape.
async fn token_call(mock: &Mock, op: &str, body: &str) -> Value {
    let response = bare()
        .post(mock.url(&format!("/apim-token-service/v2.0/token/{op}")))
        .header("content-type", "application/json;charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let r: Value = response.json().await.unwrap();
    assert_eq!(r["business"], "apim-token-service", "{r}");
    assert!(r.get("apim_status").is_none(), "{r}");
    r
}

/// A token-service body as Envision's clients build it.
fn token_body(app_key: &str, secret: &str, timestamp: i64, access_token: Option<&str>) -> String {
    let encryption = sha256_hex(format!("{app_key}{timestamp}{secret}").as_bytes());
    let mut body = json!({ "appKey": app_key, "encryption": encryption, "timestamp": timestamp });
    if let Some(t) = access_token {
        body["accessToken"] = json!(t);
    }
    body.to_string()
}

#[track_caller]
fn assert_status(r: &Value, status: i64) {
    assert_eq!(r["status"], status, "{r}");
    if status == 0 {
        assert_eq!(r["msg"], "Success", "{r}");
        assert!(
            r["data"]["accessToken"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{r}"
        );
    } else {
        assert!(r["data"].is_null(), "{r}");
        assert!(r["msg"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    }
}

/// token/get for an app at the mock's current time; returns the token.
async fn get_token(mock: &Mock, app_key: &str, secret: &str) -> String {
    let now = mock.now_ms();
    let r = token_call(mock, "get", &token_body(app_key, secret, now, None)).await;
    assert_status(&r, 0);
    r["data"]["accessToken"].as_str().unwrap().to_string()
}

/// What a hand-written client (Envision's Go and C++ ones) holds to sign calls.
struct Signer {
    token: String,
    secret: String,
}

impl Signer {
    async fn for_app(mock: &Mock, app_key: &str, secret: &str) -> Signer {
        Signer {
            token: get_token(mock, app_key, secret).await,
            secret: secret.to_string(),
        }
    }

    /// A9.2, spelled out: sorted `name` + URL-decoded `value` pairs, then the body.
    fn sign(&self, query: &str, body: &str, timestamp: i64) -> String {
        let mut params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        params.sort();
        let mut text = self.token.clone();
        for (k, v) in params {
            text.push_str(&k);
            text.push_str(&v);
        }
        text.push_str(body);
        text.push_str(&timestamp.to_string());
        text.push_str(&self.secret);
        sha256_hex(text.as_bytes())
    }
}

/// One business call with explicit headers; returns HTTP status and body text.
async fn call(
    mock: &Mock,
    query: &str,
    body: Option<&str>,
    headers: &[(&str, String)],
) -> (u16, String) {
    let url = mock.url(&format!("{CERTS}?{query}"));
    let mut request = match body {
        Some(b) => bare()
            .post(url)
            .header("content-type", "application/json;charset=UTF-8")
            .body(b.to_string()),
        None => bare().get(url),
    };
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// A call signed by `signer` at `timestamp`.
async fn signed_at(
    mock: &Mock,
    signer: &Signer,
    query: &str,
    body: Option<&str>,
    timestamp: i64,
) -> (u16, String) {
    let signature = signer.sign(query, body.unwrap_or(""), timestamp);
    call(
        mock,
        query,
        body,
        &[
            ("apim-accesstoken", signer.token.clone()),
            ("apim-timestamp", timestamp.to_string()),
            ("apim-signature", signature),
        ],
    )
    .await
}

/// A call signed now (mock clock); returns the EnOS envelope after checking HTTP 200.
async fn signed(mock: &Mock, signer: &Signer, query: &str, body: Option<&str>) -> Value {
    let now = mock.now_ms();
    let (status, text) = signed_at(mock, signer, query, body, now).await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[track_caller]
fn assert_unauthorized((status, text): &(u16, String)) {
    assert_eq!(*status, 401, "{text}");
    assert_eq!(text, UNAUTHORIZED);
}

fn list_query(asset: &str) -> String {
    format!("action=list&orgId={ORG}&assetId={asset}")
}

/// Seals a Poseidon token as the Python SDK does, under a base64 DER public key.
fn poseidon_token(public_b64: &str, plain: &str) -> String {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1};
    let der = STANDARD.decode(public_b64.trim()).unwrap();
    let key = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&der).unwrap()).unwrap();
    let mut out = vec![0u8; key.ciphertext_size()];
    let sealed = key
        .encrypt(&OAEP_SHA1_MGF1SHA1, plain.as_bytes(), &mut out, None)
        .unwrap();
    STANDARD.encode(sealed)
}

fn poseidon_for(app_key: &str, secret: &str) -> String {
    poseidon_token(
        crate::common::DEFAULT_POSEIDON_PUBLIC_KEY,
        &format!(
            "123456${app_key}${secret}${}${}",
            "a".repeat(64),
            "b".repeat(64)
        ),
    )
}

// ---------------------------------------------------------------- token service

#[tokio::test]
async fn token_get_answers_7200_then_the_same_token_with_its_remaining_seconds() {
    let mock = mock(AuthMode::Strict).await;
    let now = mock.now_ms();
    let first = token_call(&mock, "get", &token_body(APP_KEY, APP_SECRET, now, None)).await;
    assert_status(&first, 0);
    assert_eq!(first["data"]["expire"], 7200);
    assert_eq!(
        first.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["business", "data", "msg", "status"]
    );
    mock.advance_clock(Duration::seconds(100));
    // A string timestamp, as Envision's Java client sends it.
    let now = mock.now_ms();
    let encryption = sha256_hex(format!("{APP_KEY}{now}{APP_SECRET}").as_bytes());
    let body = json!({ "appKey": APP_KEY, "encryption": encryption, "timestamp": now.to_string() });
    let again = token_call(&mock, "get", &body.to_string()).await;
    assert_status(&again, 0);
    assert_eq!(again["data"]["accessToken"], first["data"]["accessToken"]);
    let expire = again["data"]["expire"].as_i64().unwrap();
    assert!((7099..=7100).contains(&expire), "{again}");
}

#[tokio::test]
async fn token_status_1001_for_a_replayed_encryption() {
    let mock = mock(AuthMode::Lenient).await;
    let body = token_body(APP_KEY, APP_SECRET, mock.now_ms(), None);
    assert_status(&token_call(&mock, "get", &body).await, 0);
    assert_status(&token_call(&mock, "get", &body).await, 1001);
}

#[tokio::test]
async fn token_status_1002_for_an_unknown_app_key() {
    let mock = mock(AuthMode::Lenient).await;
    let body = token_body(
        "00000000-0000-0000-0000-000000000000",
        APP_SECRET,
        mock.now_ms(),
        None,
    );
    assert_status(&token_call(&mock, "get", &body).await, 1002);
}

#[tokio::test]
async fn token_status_1003_for_a_wrong_encryption() {
    let mock = mock(AuthMode::Lenient).await;
    let now = mock.now_ms();
    // Signed with another app's secret.
    let body = token_body(APP_KEY, OTHER_APP_SECRET, now, None);
    assert_status(&token_call(&mock, "get", &body).await, 1003);
    let body = json!({ "appKey": APP_KEY, "encryption": "not-hex", "timestamp": now });
    assert_status(&token_call(&mock, "get", &body.to_string()).await, 1003);
}

#[tokio::test]
async fn token_status_1004_for_a_stale_or_malformed_timestamp_or_body() {
    let mock = mock(AuthMode::Lenient).await;
    let now = mock.now_ms();
    let stale = token_body(APP_KEY, APP_SECRET, now - 16 * 60_000, None);
    assert_status(&token_call(&mock, "get", &stale).await, 1004);
    let future = token_body(APP_KEY, APP_SECRET, now + 16 * 60_000, None);
    assert_status(&token_call(&mock, "get", &future).await, 1004);
    let words = json!({ "appKey": APP_KEY, "encryption": "ab", "timestamp": "today" });
    assert_status(&token_call(&mock, "get", &words.to_string()).await, 1004);
    assert_status(&token_call(&mock, "get", "{not json").await, 1004);
    assert_status(&token_call(&mock, "get", "[]").await, 1004);
    let typed = json!({ "appKey": [APP_KEY], "encryption": "ab", "timestamp": now });
    assert_status(
        &token_call(&mock, "refresh", &typed.to_string()).await,
        1004,
    );

    // The window follows the mock clock, not the machine's.
    mock.advance_clock(Duration::seconds(3600));
    let real_now = token_body(APP_KEY, APP_SECRET, now + 1, None);
    assert_status(&token_call(&mock, "get", &real_now).await, 1004);
}

#[tokio::test]
async fn the_timestamp_window_is_configurable() {
    let mock = Mock::start_with(Config {
        auth_window_minutes: 60,
        ..Config::default()
    })
    .await;
    let now = mock.now_ms();
    let body = token_body(APP_KEY, APP_SECRET, now - 30 * 60_000, None);
    assert_status(&token_call(&mock, "get", &body).await, 0);
}

#[tokio::test]
async fn token_status_1202_for_an_empty_parameter() {
    let mock = mock(AuthMode::Lenient).await;
    let now = mock.now_ms();
    let r = token_call(
        &mock,
        "get",
        &json!({ "encryption": "ab", "timestamp": now }).to_string(),
    )
    .await;
    assert_status(&r, 1202);
    assert_eq!(r["msg"], "Parameter is empty: appKey");
    let r = token_call(
        &mock,
        "get",
        &json!({ "appKey": APP_KEY, "encryption": "", "timestamp": now }).to_string(),
    )
    .await;
    assert_status(&r, 1202);
    let r = token_call(
        &mock,
        "get",
        &json!({ "appKey": APP_KEY, "encryption": "ab", "timestamp": null }).to_string(),
    )
    .await;
    assert_status(&r, 1202);
    assert_status(&token_call(&mock, "get", "").await, 1202);
    // Refresh also needs the token to refresh.
    let r = token_call(
        &mock,
        "refresh",
        &token_body(APP_KEY, APP_SECRET, now, None),
    )
    .await;
    assert_status(&r, 1202);
    assert_eq!(r["msg"], "Parameter is empty: accessToken");
}

#[tokio::test]
async fn token_status_1203_for_refreshing_an_expired_token() {
    let mock = mock(AuthMode::Lenient).await;
    let token = get_token(&mock, APP_KEY, APP_SECRET).await;
    mock.advance_clock(Duration::seconds(7300));
    let now = mock.now_ms();
    let r = token_call(
        &mock,
        "refresh",
        &token_body(APP_KEY, APP_SECRET, now, Some(&token)),
    )
    .await;
    assert_status(&r, 1203);
    // A new get after expiry hands out a new token.
    let fresh = get_token(&mock, APP_KEY, APP_SECRET).await;
    assert_ne!(fresh, token);
}

#[tokio::test]
async fn token_status_1204_for_refreshing_a_token_never_issued_to_the_app() {
    let mock = mock(AuthMode::Lenient).await;
    let now = mock.now_ms();
    let r = token_call(
        &mock,
        "refresh",
        &token_body(APP_KEY, APP_SECRET, now, Some("made-up")),
    )
    .await;
    assert_status(&r, 1204);
    // Another app's live token is not this app's to refresh.
    let other = get_token(&mock, OTHER_APP_KEY, OTHER_APP_SECRET).await;
    let r = token_call(
        &mock,
        "refresh",
        &token_body(APP_KEY, APP_SECRET, now + 1, Some(&other)),
    )
    .await;
    assert_status(&r, 1204);
}

#[tokio::test]
async fn refresh_hands_out_a_new_token_and_retires_the_old_one() {
    let mock = mock(AuthMode::Strict).await;
    let old = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
    mock.advance_clock(Duration::seconds(600));
    let now = mock.now_ms();
    let r = token_call(
        &mock,
        "refresh",
        &token_body(APP_KEY, APP_SECRET, now, Some(&old.token)),
    )
    .await;
    assert_status(&r, 0);
    assert_eq!(r["data"]["expire"], 7200);
    let new = Signer {
        token: r["data"]["accessToken"].as_str().unwrap().to_string(),
        secret: APP_SECRET.to_string(),
    };
    assert_ne!(new.token, old.token);
    assert_unauthorized(&signed_at(&mock, &old, &list_query(DEV1), None, now).await);
    assert_eq!(
        signed(&mock, &new, &list_query(DEV1), None).await["code"],
        0
    );
}

#[tokio::test]
async fn admin_reset_forgets_issued_tokens() {
    let mock = mock(AuthMode::Strict).await;
    let signer = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
    assert_eq!(
        signed(&mock, &signer, &list_query(DEV1), None).await["code"],
        0
    );
    mock.reset();
    let now = mock.now_ms();
    assert_unauthorized(&signed_at(&mock, &signer, &list_query(DEV1), None, now).await);
}

// ---------------------------------------------------------------- signed calls

/// The token-service flow by hand, as Envision's Go and C++ clients do it: get a token,
/// then sign apply, list, renew, revoke and list with it.
#[tokio::test]
async fn hand_signed_token_flow_apply_list_renew_revoke_list() {
    let mock = mock(AuthMode::Strict).await;
    let signer = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
    let q = |action: &str| format!("action={action}&orgId={ORG}&assetId={DEV2}");

    let apply = json!({ "csr": rsa_csr("signed-flow"), "validDay": 30 }).to_string();
    let r = signed(&mock, &signer, &q("apply"), Some(&apply)).await;
    assert_eq!(r["code"], 0, "{r}");
    let first = r["data"]["certSN"].as_str().unwrap().to_string();

    let r = signed(&mock, &signer, &q("list"), None).await;
    assert_eq!(r["data"].as_array().unwrap().len(), 1, "{r}");

    let renew = format!(r#"{{"certSn": {first}}}"#);
    let r = signed(&mock, &signer, &q("renew"), Some(&renew)).await;
    assert_eq!(r["code"], 0, "{r}");
    let second = r["data"]["certSN"].as_str().unwrap().to_string();

    let revoke = format!(r#"{{"certSn": "{second}", "reason": "KEY_COMPROMISE"}}"#);
    let r = signed(&mock, &signer, &q("revoke"), Some(&revoke)).await;
    assert_eq!(r["code"], 0, "{r}");

    let r = signed(&mock, &signer, &q("list"), None).await;
    let certs = r["data"].as_array().unwrap();
    assert_eq!(certs.len(), 2, "{r}");
    assert_eq!(certs[0]["certSN"], first.as_str());
    assert_eq!(certs[0]["revoker"], "IoT_Hub");
    assert_eq!(certs[1]["certSN"], second.as_str());
    assert_eq!(certs[1]["certStatus"], 1);
    // B14: an authenticated revoke records the appKey.
    assert_eq!(certs[1]["revoker"], APP_KEY);
    assert_eq!(certs[1]["revokerReason"], "KEY COMPROMISE");
}

#[tokio::test]
async fn the_signature_covers_decoded_sorted_query_params_of_any_order() {
    let mock = mock(AuthMode::Strict).await;
    let signer = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
    let query = format!("deviceKey=meter%2D001&orgId={ORG}&action=list&productKey={BIDI_PRODUCT}");
    let r = signed(&mock, &signer, &query, None).await;
    assert_eq!(r["code"], 0, "{r}");
    // A body on a call that does not need one is still signed byte for byte.
    let r = signed(&mock, &signer, &list_query(DEV1), Some("  ")).await;
    assert_eq!(r["code"], 0, "{r}");
}

#[tokio::test]
async fn a_wrong_signature_is_401_in_every_checking_mode() {
    for mode in [AuthMode::Lenient, AuthMode::Strict] {
        let mock = mock(mode).await;
        let signer = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
        let now = mock.now_ms();
        let query = list_query(DEV1);
        let good = signer.sign(&query, "", now);
        // The last hex digit changed (a fixed "0" would equal it one time in 16).
        let last = if good.ends_with('0') { '1' } else { '0' };
        let bad = format!("{}{last}", &good[..63]);
        let headers = |sig: String| {
            vec![
                ("apim-accesstoken", signer.token.clone()),
                ("apim-timestamp", now.to_string()),
                ("apim-signature", sig),
            ]
        };
        assert_unauthorized(&call(&mock, &query, None, &headers(bad)).await);
        // Signed with another app's secret.
        let wrong_secret = Signer {
            token: signer.token.clone(),
            secret: OTHER_APP_SECRET.into(),
        };
        assert_unauthorized(
            &call(
                &mock,
                &query,
                None,
                &headers(wrong_secret.sign(&query, "", now)),
            )
            .await,
        );
        // Upper-case hex of the right digest passes.
        let (status, _) = call(&mock, &query, None, &headers(good.to_uppercase())).await;
        assert_eq!(status, 200, "{mode:?}");
    }
}

#[tokio::test]
async fn a_changed_body_or_query_breaks_the_signature() {
    let mock = mock(AuthMode::Lenient).await;
    let signer = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
    let now = mock.now_ms();
    let query = format!("action=revoke&orgId={ORG}&assetId={DEV1}");
    let signature = signer.sign(&query, r#"{"certSn": 1}"#, now);
    let headers = [
        ("apim-accesstoken", signer.token.clone()),
        ("apim-timestamp", now.to_string()),
        ("apim-signature", signature),
    ];
    // Same JSON meaning, other bytes.
    assert_unauthorized(&call(&mock, &query, Some(r#"{"certSn":1}"#), &headers).await);
    let other_device = format!("action=revoke&orgId={ORG}&assetId={DEV2}");
    assert_unauthorized(&call(&mock, &other_device, Some(r#"{"certSn": 1}"#), &headers).await);
    // The bytes as signed reach the handler (certificate 1 does not exist there).
    let (status, text) = call(&mock, &query, Some(r#"{"certSn": 1}"#), &headers).await;
    assert_eq!(status, 200, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_error_prefix(
        &r,
        99400,
        "The certificate list bound to the device does not have",
    );
}

#[tokio::test]
async fn a_stale_apim_timestamp_is_401() {
    let mock = mock(AuthMode::Strict).await;
    let signer = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
    let now = mock.now_ms();
    let query = list_query(DEV1);
    assert_unauthorized(&signed_at(&mock, &signer, &query, None, now - 16 * 60_000).await);
    assert_unauthorized(&signed_at(&mock, &signer, &query, None, now + 16 * 60_000).await);
    let (status, text) = signed_at(&mock, &signer, &query, None, now - 14 * 60_000).await;
    assert_eq!(status, 200, "{text}");
    // Freshness is judged on the mock clock: real time is stale once the clock moved.
    mock.advance_clock(Duration::seconds(1800));
    assert_unauthorized(&signed_at(&mock, &signer, &query, None, now).await);
    // A signature without a usable timestamp.
    let signature = signer.sign(&query, "", now);
    let headers = [
        ("apim-accesstoken", signer.token.clone()),
        ("apim-signature", signature),
    ];
    assert_unauthorized(&call(&mock, &query, None, &headers).await);
}

#[tokio::test]
async fn an_expired_token_is_401_once_the_mock_clock_moves_past_it() {
    let mock = mock(AuthMode::Lenient).await;
    let signer = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
    assert_eq!(
        signed(&mock, &signer, &list_query(DEV1), None).await["code"],
        0
    );
    mock.advance_clock(Duration::seconds(7300));
    let now = mock.now_ms();
    assert_unauthorized(&signed_at(&mock, &signer, &list_query(DEV1), None, now).await);
}

#[tokio::test]
async fn a_token_the_service_never_issued_is_401_when_signed() {
    let mock = mock(AuthMode::Lenient).await;
    let signer = Signer {
        token: "tok-123".into(),
        secret: APP_SECRET.into(),
    };
    let now = mock.now_ms();
    assert_unauthorized(&signed_at(&mock, &signer, &list_query(DEV1), None, now).await);
}

// ---------------------------------------------------------------- org access

#[tokio::test]
async fn an_app_touching_another_org_gets_99403_after_the_existence_checks() {
    let mock = mock(AuthMode::Strict).await;
    let other = Signer::for_app(&mock, OTHER_APP_KEY, OTHER_APP_SECRET).await;
    let r = signed(&mock, &other, &list_query(DEV1), None).await;
    assert_want(&r, &denied(ORG));
    let apply = json!({ "csr": rsa_csr("cross-org") }).to_string();
    let query = format!("action=apply&orgId={ORG}&assetId={DEV1}");
    let r = signed(&mock, &other, &query, Some(&apply)).await;
    assert_want(&r, &denied(ORG));
    // Existence is judged first: an unknown org, then an unknown device.
    let r = signed(
        &mock,
        &other,
        "action=list&orgId=o00000000000000&assetId=x",
        None,
    )
    .await;
    assert_row(&r, &ORG_UNKNOWN);
    let r = signed(&mock, &other, &list_query("NoSuchDv"), None).await;
    assert_row(&r, &DEVICE_NOT_FOUND);
    // Its own org is fine.
    let own = format!("action=list&orgId={OTHER_ORG}&assetId={OTHER_ORG_DEV}");
    assert_eq!(signed(&mock, &other, &own, None).await["code"], 0);
}

#[tokio::test]
async fn a_poseidon_app_touching_another_org_gets_99403() {
    let mock = mock(AuthMode::Strict).await;
    let token = poseidon_for(OTHER_APP_KEY, OTHER_APP_SECRET);
    let (status, text) = call(
        &mock,
        &list_query(DEV1),
        None,
        &[("apim-accesstoken", token)],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_want(&r, &denied(ORG));
}

#[tokio::test]
async fn lenient_mode_still_names_the_app_of_a_live_unsigned_token() {
    let mock = mock(AuthMode::Lenient).await;
    let token = get_token(&mock, OTHER_APP_KEY, OTHER_APP_SECRET).await;
    let (status, text) = call(
        &mock,
        &list_query(DEV1),
        None,
        &[("apim-accesstoken", token)],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["code"], 99403, "{r}");
}

// ---------------------------------------------------------------- modes

#[tokio::test]
async fn mode_off_checks_nothing_and_the_revoker_is_the_org() {
    let mock = mock(AuthMode::Off).await;
    let (status, text) = call(&mock, &list_query(DEV1), None, &[]).await;
    assert_eq!(status, 200, "{text}");
    // Even a wrong signature passes: nothing is checked.
    let headers = [
        ("apim-accesstoken", "x".to_string()),
        ("apim-timestamp", "0".to_string()),
        ("apim-signature", "00".to_string()),
    ];
    assert_eq!(call(&mock, &list_query(DEV1), None, &headers).await.0, 200);
    let data = mock.apply_ok(DEV1, "off-mode").await;
    let body = format!(r#"{{"certSn": {}}}"#, data["certSN"].as_str().unwrap());
    let query = format!("action=revoke&orgId={ORG}&assetId={DEV1}");
    let (status, text) = call(&mock, &query, Some(&body), &[]).await;
    assert_eq!(status, 200, "{text}");
    let certs = mock.list(DEV1).await;
    assert_eq!(certs[0]["revoker"], ORG);
    assert_eq!(mock.get_json("/__admin/health").await["auth"], "off");
}

#[tokio::test]
async fn mode_lenient_is_the_default_and_needs_a_token() {
    let mock = Mock::start().await;
    assert_eq!(mock.get_json("/__admin/health").await["auth"], "lenient");
    assert_unauthorized(&call(&mock, &list_query(DEV1), None, &[]).await);
    assert_unauthorized(
        &call(
            &mock,
            &list_query(DEV1),
            None,
            &[("apim-accesstoken", " ".into())],
        )
        .await,
    );
    let (status, _) = call(
        &mock,
        &list_query(DEV1),
        None,
        &[("Apim-AccessToken", "anything".into())],
    )
    .await;
    assert_eq!(status, 200);
    // An unverifiable token names nobody: the revoker is the org.
    let data = mock.apply_ok(DEV1, "lenient-mode").await;
    let body = format!(r#"{{"certSn": {}}}"#, data["certSN"].as_str().unwrap());
    let r = mock
        .cert_query(
            &format!("action=revoke&orgId={ORG}&assetId={DEV1}"),
            serde_json::from_str(&body).unwrap(),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");
    assert_eq!(mock.list(DEV1).await[0]["revoker"], ORG);
    // Unknown EnOS paths are not behind the gateway.
    let (status, _) = mock.post_raw("/connect-service/v2.0/nothing", "{}").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn mode_strict_refuses_unsigned_tokens_it_cannot_open() {
    let mock = mock(AuthMode::Strict).await;
    assert_unauthorized(&call(&mock, &list_query(DEV1), None, &[]).await);
    assert_unauthorized(
        &call(
            &mock,
            &list_query(DEV1),
            None,
            &[("apim-accesstoken", "test-token".into())],
        )
        .await,
    );
    // A live token-service token still needs its signature in strict mode.
    let token = get_token(&mock, APP_KEY, APP_SECRET).await;
    assert_unauthorized(
        &call(
            &mock,
            &list_query(DEV1),
            None,
            &[("apim-accesstoken", token)],
        )
        .await,
    );
    assert_eq!(mock.get_json("/__admin/health").await["auth"], "strict");
}

#[tokio::test]
async fn mode_strict_accepts_a_poseidon_token_for_the_mock_key_and_a_known_app() {
    let mock = mock(AuthMode::Strict).await;
    let ok = |token: String| vec![("apim-accesstoken", token)];
    let (status, text) = call(
        &mock,
        &list_query(DEV1),
        None,
        &ok(poseidon_for(APP_KEY, APP_SECRET)),
    )
    .await;
    assert_eq!(status, 200, "{text}");

    // Revoke through a Poseidon token records the appKey.
    let apply = json!({ "csr": rsa_csr("poseidon-strict") }).to_string();
    let query = format!("action=apply&orgId={ORG}&assetId={DEV3}");
    let (_, text) = call(
        &mock,
        &query,
        Some(&apply),
        &ok(poseidon_for(APP_KEY, APP_SECRET)),
    )
    .await;
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["code"], 0, "{r}");
    let revoke = format!(r#"{{"certSn": {}}}"#, r["data"]["certSN"].as_str().unwrap());
    let query = format!("action=revoke&orgId={ORG}&assetId={DEV3}");
    let (_, text) = call(
        &mock,
        &query,
        Some(&revoke),
        &ok(poseidon_for(APP_KEY, APP_SECRET)),
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["code"],
        0,
        "{text}"
    );
    let (_, text) = call(
        &mock,
        &format!("action=list&orgId={ORG}&assetId={DEV3}"),
        None,
        &ok(poseidon_for(APP_KEY, APP_SECRET)),
    )
    .await;
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["data"][0]["revoker"], APP_KEY, "{r}");

    // Wrong secret, unknown app, or a token for another key: refused.
    let wrong_secret = poseidon_for(APP_KEY, OTHER_APP_SECRET);
    assert_unauthorized(&call(&mock, &list_query(DEV1), None, &ok(wrong_secret)).await);
    let unknown = poseidon_for("00000000-0000-0000-0000-000000000000", APP_SECRET);
    assert_unauthorized(&call(&mock, &list_query(DEV1), None, &ok(unknown)).await);
    let dir = tmp();
    let other_key = key(dir.path(), "rsa:2048");
    let der = public_key_der(&other_key);
    let foreign = poseidon_token(
        &STANDARD.encode(der),
        &format!("123456${APP_KEY}${APP_SECRET}$a$b"),
    );
    assert_unauthorized(&call(&mock, &list_query(DEV1), None, &ok(foreign)).await);
}

#[tokio::test]
async fn strict_mode_opens_poseidon_tokens_with_the_key_given_by_flag() {
    let dir = tmp();
    let key_path = key(dir.path(), "rsa:2048");
    let der = public_key_der(&key_path);
    let mock = Mock::start_with(Config {
        auth: AuthMode::Strict,
        poseidon_key: Some(key_path),
        ..Config::default()
    })
    .await;
    let token = poseidon_token(
        &STANDARD.encode(der),
        &format!("123456${APP_KEY}${APP_SECRET}$a$b"),
    );
    let (status, text) = call(
        &mock,
        &list_query(DEV1),
        None,
        &[("apim-accesstoken", token)],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    // The built-in test key no longer opens anything.
    let builtin = poseidon_for(APP_KEY, APP_SECRET);
    assert_unauthorized(
        &call(
            &mock,
            &list_query(DEV1),
            None,
            &[("apim-accesstoken", builtin)],
        )
        .await,
    );
}

#[tokio::test]
async fn a_broken_poseidon_key_file_stops_start_up_with_its_name() {
    let dir = tmp();
    let path = write(dir.path(), "broken.pem", "not a key");
    let err = crate::common::start(Config {
        poseidon_key: Some(path.clone()),
        ..Config::default()
    })
    .await
    .err()
    .expect("start-up refused");
    assert!(matches!(err, StartError::PoseidonKey(_)), "{err:?}");
    assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
}

#[tokio::test]
async fn ca_token_and_admin_endpoints_stay_open_in_strict_mode() {
    let mock = mock(AuthMode::Strict).await;
    for path in [
        "/enos/CA/cacert",
        "/enos/CA/cacert/ECC",
        "/enos/CA/crl/RSA",
        "/enos/CA/crl?format=pem",
        "/__admin/health",
        "/__admin/clock",
        "/__admin/errors",
    ] {
        let status = bare().get(mock.url(path)).send().await.unwrap().status();
        assert_eq!(status, 200, "{path}");
    }
    let r = token_call(
        &mock,
        "get",
        &token_body(APP_KEY, APP_SECRET, mock.now_ms(), None),
    )
    .await;
    assert_status(&r, 0);
}

#[tokio::test]
async fn the_token_rows_are_in_the_error_catalogue() {
    let mock = mock(AuthMode::Lenient).await;
    let rows = mock.get_json("/__admin/errors").await;
    let codes: Vec<i64> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["actions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "token/get" || a == "token/refresh")
        })
        .map(|r| r["code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [1001, 1002, 1003, 1004, 1005, 1202, 1203, 1204]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_chunked_body_is_still_413_behind_the_gateway() {
    use std::io::{Read, Write};
    let mock = Mock::start_with(Config {
        body_limit: 1024,
        ..Config::default()
    })
    .await;
    let addr = mock.server.addr();
    // Chunked, without a Content-Length, so that only reading the body finds out.
    let answer = tokio::task::spawn_blocking(move || {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        let chunk = "A".repeat(4096);
        let request = format!(
            "POST {CERTS}?action=apply&orgId={ORG}&assetId={DEV1} HTTP/1.1\r\nhost: localhost\r\n\
             apim-accesstoken: test-token\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
             {:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        );
        tcp.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = tcp.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.ends_with(r#"{"message":"Request size limit exceeded"}"#),
        "{answer}"
    );
}

/// A products or devices call with one `apim-accesstoken`; returns status and body.
async fn registry_call(
    mock: &Mock,
    resource: &str,
    query: &str,
    body: Option<&str>,
    token: &str,
) -> (u16, String) {
    let url = mock.url(&format!("/connect-service/v2.1/{resource}?{query}"));
    let request = match body {
        Some(b) => bare().post(url).body(b.to_string()),
        None => bare().get(url),
    };
    let response = request
        .header("apim-accesstoken", token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn products_and_devices_sit_behind_the_gateway_and_its_org_rule() {
    let mock = mock(AuthMode::Strict).await;
    let other = poseidon_for(OTHER_APP_KEY, OTHER_APP_SECRET);
    let own = poseidon_for(APP_KEY, APP_SECRET);
    let product_get = format!("action=get&orgId={ORG}&productKey=BiDiProd");
    // Strict mode refuses a token it cannot open, on these routes too.
    assert_unauthorized(&registry_call(&mock, "products", &product_get, None, "not-a-token").await);
    let envelope = |(status, text): (u16, String)| -> Value {
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).unwrap()
    };
    let other_org = denied(ORG);
    // Another org's app: existence first (11404), then 99403.
    let r = envelope(registry_call(&mock, "products", &product_get, None, &other).await);
    assert_want(&r, &other_org);
    let unknown = format!("action=get&orgId={ORG}&productKey=NoSuchPr");
    let r = envelope(registry_call(&mock, "products", &unknown, None, &other).await);
    assert_row(&r, &PRODUCT_NOT_FOUND);
    let r = envelope(
        registry_call(
            &mock,
            "devices",
            &format!("action=get&orgId={ORG}&assetId={DEV1}"),
            None,
            &other,
        )
        .await,
    );
    assert_want(&r, &other_org);
    let create = json!({ "productName": {"defaultValue": "x"}, "productType": "Device", "dataFormat": "Json",
        "modelId": "m", "biDirectionalAuth": true })
    .to_string();
    let r = envelope(
        registry_call(
            &mock,
            "products",
            &format!("action=create&orgId={ORG}"),
            Some(&create),
            &other,
        )
        .await,
    );
    assert_want(&r, &other_org);
    let device = json!({ "productKey": "BiDiProd", "deviceName": {"defaultValue": "x"}, "timezone": "+08:00" }).to_string();
    let r = envelope(
        registry_call(
            &mock,
            "devices",
            &format!("action=create&orgId={ORG}"),
            Some(&device),
            &other,
        )
        .await,
    );
    assert_want(&r, &other_org);
    let r = envelope(
        registry_call(
            &mock,
            "devices",
            &format!("action=delete&orgId={ORG}&assetId={DEV1}"),
            Some("{}"),
            &other,
        )
        .await,
    );
    assert_want(&r, &other_org);
    // The org's own app goes through, and nothing above changed anything.
    let r = envelope(registry_call(&mock, "products", &product_get, None, &own).await);
    assert_eq!(r["code"], 0, "{r}");
    let r = envelope(
        registry_call(
            &mock,
            "devices",
            &format!("action=get&orgId={ORG}&assetId={DEV1}"),
            None,
            &own,
        )
        .await,
    );
    assert_eq!(r["data"]["assetId"], DEV1, "{r}");
}

#[tokio::test]
async fn strict_mode_refuses_an_exact_replay_of_a_signed_call_lenient_lets_it_through() {
    for (mode, second) in [(AuthMode::Strict, 401), (AuthMode::Lenient, 200)] {
        let mock = mock(mode).await;
        let signer = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
        let now = mock.now_ms();
        let query = list_query(DEV1);
        let (status, text) = signed_at(&mock, &signer, &query, None, now).await;
        assert_eq!(status, 200, "{mode:?}: {text}");
        let (status, text) = signed_at(&mock, &signer, &query, None, now).await;
        assert_eq!(status, second, "{mode:?}: {text}");
        // Another timestamp is another call.
        let (status, text) = signed_at(&mock, &signer, &query, None, now + 1).await;
        assert_eq!(status, 200, "{mode:?}: {text}");
        // A reset forgets the calls seen, with the tokens.
        mock.admin("/__admin/reset", json!({})).await;
        let signer = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
        let (status, text) = signed_at(&mock, &signer, &query, None, now + 2).await;
        assert_eq!(status, 200, "{mode:?}: {text}");
    }
}

#[tokio::test]
async fn strict_mode_refuses_a_replayed_signed_create_so_it_makes_one_product() {
    let mock = mock(AuthMode::Strict).await;
    let signer = Signer::for_app(&mock, APP_KEY, APP_SECRET).await;
    let now = mock.now_ms();
    let query = format!("action=create&orgId={ORG}");
    let body = r#"{"productName": {"defaultValue": "replayed"}, "dataFormat": "Json", "nodeType": 0, "biDirectionalAuth": true}"#;
    let signature = signer.sign(&query, body, now);
    let headers = [
        ("apim-accesstoken", signer.token.clone()),
        ("apim-timestamp", now.to_string()),
        ("apim-signature", signature),
    ];
    let url = mock.url(&format!("/connect-service/v2.1/products?{query}"));
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let mut request = bare()
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        statuses.push(request.send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 401]);
}
