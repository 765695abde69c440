//! The dashboard's page and the state it draws (`/__admin/ui`, `/__admin/state`);
//! scripts/ui-test.sh drives the page itself in a browser.

use crate::common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn the_root_leads_to_an_embedded_page_that_fetches_nothing_from_elsewhere() {
    let mock = Mock::start().await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = plain.get(mock.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], "/__admin/ui");

    let response = plain.get(mock.url("/__admin/ui")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("id=\"state-filter\""), "the state section");
    assert!(page.len() < 40 * 1024, "small: {} bytes", page.len());
    for outside in ["http://", "https://", "//cdn", "<script src", "<link "] {
        assert!(!page.contains(outside), "the page refers to {outside}");
    }
}

async fn state(mock: &Mock, query: &str) -> Value {
    mock.get_json(&format!("/__admin/state{query}")).await
}

fn asset_ids(state: &Value) -> Vec<String> {
    state["devices"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["assetId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_state_lists_orgs_products_and_a_filtered_page_of_devices() {
    let mock = Mock::start().await;
    let s = state(&mock, "").await;
    assert_eq!(s["devices"]["total"], 9);
    assert_eq!(s["cas"].as_array().unwrap().len(), 2);
    assert_eq!(s["cas"][0]["issueAuthority"], "RSA");
    assert!(s["cas"][1]["fingerprintSha256"]
        .as_str()
        .unwrap()
        .contains(':'));
    let org = &s["orgs"][0];
    assert_eq!(org["orgId"], ORG);
    let bidi = org["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["productKey"] == BIDI_PRODUCT)
        .unwrap();
    assert_eq!(bidi["biDirectionalAuth"], true);
    assert_eq!(bidi["defaultValidDay"], 730);
    assert_eq!(bidi["maxValidDay"], 1095);
    assert_eq!(bidi["devices"], 3);

    // Ordered by org, product, assetId; filtered case-insensitively; paged.
    let meters = state(&mock, "?filter=METER").await;
    assert_eq!(meters["devices"]["total"], 3);
    assert_eq!(asset_ids(&meters), [DEV3, DEV2, DEV1]);
    let page = state(&mock, "?filter=meter&offset=1&limit=1").await;
    assert_eq!(page["devices"]["total"], 3);
    assert_eq!(asset_ids(&page), [DEV2]);
    let past = state(&mock, "?offset=100").await;
    assert_eq!(past["devices"]["total"], 9);
    assert!(asset_ids(&past).is_empty());

    let response = mock
        .http
        .get(mock.url("/__admin/state?limit=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "limit must be a non-negative integer");
}

#[tokio::test]
async fn certificates_show_their_status_on_the_mock_clock_and_revocations_their_crl() {
    let mock = Mock::start().await;
    let first = sn_string(&mock.apply_ok(DEV1, "dash-first").await);
    let second = sn_string(&mock.apply_ok(DEV1, "dash-second").await);
    let r = mock
        .cert(
            "revoke",
            DEV1,
            json!({ "certSn": second.parse::<u64>().unwrap(), "reason": "KEY_COMPROMISE" }),
        )
        .await;
    assert_eq!(r["code"], 0, "{r}");

    let s = state(&mock, &format!("?filter={DEV1}")).await;
    let certs = s["devices"]["items"][0]["certificates"].as_array().unwrap();
    let cert = |serial: &str| certs.iter().find(|c| c["serial"] == serial).unwrap();
    assert_eq!(cert(&first)["status"], "valid");
    assert_eq!(cert(&first)["issueAuthority"], "RSA");
    assert!(cert(&first)["subject"]
        .as_str()
        .unwrap()
        .contains("dash-first"));
    assert!(cert(&first)["pem"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    let extensions = cert(&first)["extensions"].as_array().unwrap();
    let names: Vec<&str> = extensions
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"basicConstraints"), "{names:?}");
    assert!(names.contains(&"crlDistributionPoints"), "{names:?}");
    let value_of = |oid: &str| {
        extensions
            .iter()
            .find(|e| e["oid"] == oid)
            .map(|e| e["value"].clone())
    };
    assert_eq!(
        value_of("2.16.840.1.113730.1.13"),
        Some(json!("Enos Generated Certificate")),
        "the Netscape comment, decoded: {extensions:?}"
    );
    assert_eq!(
        value_of("2.16.840.1.113730.1.4"),
        Some(json!(format!("{}/enos/CA/crl/RSA", mock.server.url()))),
        "the Netscape CA revocation URL, decoded: {extensions:?}"
    );
    assert_eq!(cert(&second)["status"], "revoked");
    assert_eq!(cert(&second)["revocation"]["reason"], "KEY_COMPROMISE");
    assert_eq!(s["cas"][0]["revoked"], 1);
    assert_eq!(s["cas"][0]["crl"][0]["serial"], second.as_str());
    assert_eq!(s["cas"][1]["revoked"], 0);

    mock.advance_clock(time::Duration::days(731));
    let s = state(&mock, &format!("?filter={first}")).await;
    let certs = s["devices"]["items"][0]["certificates"].as_array().unwrap();
    let first_now = certs
        .iter()
        .find(|c| c["serial"] == first.as_str())
        .unwrap();
    assert_eq!(first_now["status"], "expired");
}

fn sn_string(data: &Value) -> String {
    crate::common::judge::sn(data).to_string()
}
