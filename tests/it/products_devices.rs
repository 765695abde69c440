//! A8, B12, B14: the EnOS product and device APIs (create, get, update, delete),
//! how product changes drive the certificate rules at once, what deleting a
//! device does to its certificates, the v2.0 alias, and `--seed`. The refusals are
//! tables: each case a call and the row of `common::contract` it must answer, exactly.
//! Certificates and CRLs are judged by the openssl CLI.

use crate::common::contract::*;
use crate::common::judge::*;
use crate::common::table::*;
use crate::common::*;
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;
const UNKNOWN_ORG_ID: &str = "o99999999999999";
/// The fixture product of the other org.
const OTHER_ORG_PRODUCT: &str = "OtherOrg";

/// Every product field A8 lists for `action=get`.
const PRODUCT_FIELDS: [&str; 13] = [
    "orgId",
    "productKey",
    "productName",
    "productDesc",
    "productType",
    "dataFormat",
    "modelId",
    "biDirectionalAuth",
    "defaultValidDay",
    "maxValidDay",
    "createTime",
    "updateTime",
    "productSecret",
];

/// Exactly the device fields B14 lists for `action=get`.
const DEVICE_FIELDS: [&str; 12] = [
    "orgId",
    "assetId",
    "productKey",
    "deviceKey",
    "deviceName",
    "deviceDesc",
    "timezone",
    "deviceSecret",
    "deviceAttributes",
    "deviceTags",
    "createTime",
    "status",
];

/// The refusal to delete a product that still has `count` devices.
fn has_devices(count: usize) -> Want {
    Want::Msg(
        &PRODUCT_HAS_DEVICES,
        PRODUCT_HAS_DEVICES.fill(&[("count", &count.to_string())]),
    )
}

/// A product call in ORG: POST `action=..&orgId=ORG&{rest}` with a JSON body.
fn product_call(action: &str, rest: &str, body: Value) -> Call {
    Call::post(
        format!("{PRODUCTS}?action={action}&orgId={ORG}{rest}"),
        body,
    )
}

/// A device call in ORG: POST `action=..&orgId=ORG&{rest}` with a JSON body.
fn device_call(action: &str, rest: &str, body: Value) -> Call {
    Call::post(format!("{DEVICES}?action={action}&orgId={ORG}{rest}"), body)
}

/// `must be between 1 and 3650` of a validity field.
fn days_range(field: &str) -> Want {
    Want::argument(field, &format!("{field} must be between 1 and 3650"))
}

/// `defaultValidDay {default} exceeds maxValidDay {max}`.
fn default_over_max(default: i64, max: i64) -> Want {
    Want::argument(
        "defaultValidDay",
        &format!("defaultValidDay {default} exceeds maxValidDay {max}"),
    )
}

// ---------------------------------------------------------------------------
// Helpers

fn is_alnum(s: &str, len: usize) -> bool {
    s.len() == len && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The product's `data`, asserting success.
async fn product(mock: &Mock, product_key: &str) -> Value {
    let r = get_product(mock, product_key).await;
    assert_ok(&r);
    r["data"].clone()
}

async fn update_product(mock: &Mock, product_key: &str, body: Value) -> Value {
    products(
        mock,
        &format!("action=update&orgId={ORG}&productKey={product_key}"),
        body,
    )
    .await
}

async fn delete_product(mock: &Mock, product_key: &str) -> Value {
    products(
        mock,
        &format!("action=delete&orgId={ORG}&productKey={product_key}"),
        json!({}),
    )
    .await
}

/// Creates a device and returns its assetId.
async fn new_device(mock: &Mock, product_key: &str) -> String {
    create_device(mock, product_key, json!({})).await["assetId"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn device(mock: &Mock, asset_id: &str) -> Value {
    let r = get_device(mock, &format!("assetId={asset_id}")).await;
    assert_ok(&r);
    r["data"].clone()
}

async fn update_device(mock: &Mock, selector: &str, body: Value) -> Value {
    devices(mock, &format!("action=update&orgId={ORG}&{selector}"), body).await
}

async fn delete_device(mock: &Mock, selector: &str) -> Value {
    devices(
        mock,
        &format!("action=delete&orgId={ORG}&{selector}"),
        json!({}),
    )
    .await
}

async fn counts(mock: &Mock) -> Value {
    mock.get_json("/__admin/health").await["counts"].clone()
}

/// Apply with a validDay; returns the envelope.
async fn apply_days(mock: &Mock, asset_id: &str, cn: &str, valid_day: Option<i64>) -> Value {
    let mut body = json!({ "csr": rsa_csr(cn) });
    if let Some(days) = valid_day {
        body["validDay"] = json!(days);
    }
    mock.cert("apply", asset_id, body).await
}

/// Asserts that a freshly issued certificate lasts `days` days, by openssl and by List.
async fn assert_lasts(mock: &Mock, asset_id: &str, data: &Value, days: i64) {
    let (not_before, not_after) = cert_dates(data["cert"].as_str().unwrap());
    assert_eq!(
        not_after - not_before,
        days * DAY_MS,
        "openssl dates of {data}"
    );
    let row = row(&mock.list(asset_id).await, sn(data));
    let effective = row["effectiveDate"].as_i64().unwrap();
    let expire = row["expireDate"].as_i64().unwrap();
    assert_eq!(expire - effective, days * DAY_MS, "List row {row}");
    assert_eq!(effective, not_before, "{row}");
    assert_eq!(expire, not_after, "{row}");
}

// ---------------------------------------------------------------------------
// Product create

#[tokio::test]
async fn product_create_minimal_body_answers_the_bare_product_key() {
    let mock = Mock::start().await;
    let r = products(&mock, &create_query(), product_body()).await;
    assert_ok(&r);
    let key = r["data"]
        .as_str()
        .unwrap_or_else(|| panic!("data is a bare string: {r}"));
    assert!(is_alnum(key, 8), "productKey is 8 alphanumerics: {key:?}");

    // The other enum values are accepted as well, and keys are fresh each time.
    let other = create_product(
        &mock,
        json!({ "productType": "Gateway", "dataFormat": "Custom", "biDirectionalAuth": false }),
    )
    .await;
    assert!(is_alnum(&other, 8), "{other:?}");
    assert_ne!(other, key);
    let p = product(&mock, &other).await;
    assert_eq!(p["productType"], "Gateway", "{p}");
    assert_eq!(p["dataFormat"], "Custom", "{p}");
    assert_eq!(p["biDirectionalAuth"], false, "{p}");
}

#[tokio::test]
async fn product_get_returns_every_a8_field_with_defaults() {
    let mock = Mock::start().await;
    let before = mock.now_ms();
    let key = create_product(&mock, json!({})).await;
    let after = mock.now_ms();
    let p = product(&mock, &key).await;
    for field in PRODUCT_FIELDS {
        assert!(p.get(field).is_some(), "product lacks {field}: {p}");
    }
    assert_eq!(p["orgId"], ORG, "{p}");
    assert_eq!(p["productKey"], key.as_str(), "{p}");
    assert_eq!(p["productName"]["defaultValue"], "Test product", "{p}");
    assert!(p["productDesc"].is_string(), "{p}");
    assert_eq!(p["productType"], "Device", "{p}");
    assert_eq!(p["dataFormat"], "Json", "{p}");
    assert_eq!(p["modelId"], "model-1", "{p}");
    assert_eq!(p["biDirectionalAuth"], true, "{p}");
    assert_eq!(p["defaultValidDay"], 730, "{p}");
    assert_eq!(p["maxValidDay"], 1095, "{p}");
    let created = p["createTime"].as_i64().expect("createTime is epoch ms");
    assert!(
        (before..=after).contains(&created),
        "createTime {created} within [{before}, {after}]"
    );
    assert_eq!(p["updateTime"], created, "{p}");
    let secret = p["productSecret"].as_str().expect("productSecret string");
    assert!(
        !secret.is_empty() && secret.chars().all(|c| c.is_ascii_alphanumeric()),
        "{p}"
    );

    // Optional fields are kept as given.
    let key = create_product(
        &mock,
        json!({
            "productName": { "defaultValue": "Meter", "i18nValue": { "zh_CN": "电表" } },
            "productDesc": "a description",
            "productType": "Gateway",
            "dataFormat": "Custom",
            "modelId": "anything goes",
            "biDirectionalAuth": false,
            "defaultValidDay": 10,
            "maxValidDay": 20,
        }),
    )
    .await;
    let p = product(&mock, &key).await;
    assert_eq!(
        p["productName"],
        json!({ "defaultValue": "Meter", "i18nValue": { "zh_CN": "电表" } }),
        "{p}"
    );
    assert_eq!(p["productDesc"], "a description", "{p}");
    assert_eq!(p["productType"], "Gateway", "{p}");
    assert_eq!(p["dataFormat"], "Custom", "{p}");
    assert_eq!(p["modelId"], "anything goes", "{p}");
    assert_eq!(p["biDirectionalAuth"], false, "{p}");
    assert_eq!(p["defaultValidDay"], 10, "{p}");
    assert_eq!(p["maxValidDay"], 20, "{p}");
}

#[tokio::test]
async fn product_valid_day_defaults_follow_b14() {
    let mock = Mock::start().await;
    // (given, expected defaultValidDay, expected maxValidDay)
    let cases = [
        (json!({}), 730, 1095),
        (json!({ "maxValidDay": 100 }), 100, 100),
        (json!({ "maxValidDay": 730 }), 730, 730),
        (json!({ "maxValidDay": 2000 }), 730, 2000),
        (json!({ "defaultValidDay": 10 }), 10, 1095),
        (json!({ "defaultValidDay": 1095 }), 1095, 1095),
        (json!({ "defaultValidDay": 5, "maxValidDay": 6 }), 5, 6),
        (json!({ "defaultValidDay": 1, "maxValidDay": 1 }), 1, 1),
        (
            json!({ "defaultValidDay": 3650, "maxValidDay": 3650 }),
            3650,
            3650,
        ),
    ];
    for (given, default, max) in cases {
        let key = create_product(&mock, given.clone()).await;
        let p = product(&mock, &key).await;
        assert_eq!(p["defaultValidDay"], default, "{given} -> {p}");
        assert_eq!(p["maxValidDay"], max, "{given} -> {p}");
    }
}

#[tokio::test]
async fn product_create_rows() {
    let mock = Mock::start().await;
    let before = counts(&mock).await["products"].clone();
    let create = |extra: Value| product_call("create", "", merged(product_body(), extra));
    // An empty body lacks every required field; the first is named.
    let mut cases = vec![case(
        product_call("create", "", json!({})),
        Want::argument("productName", "productName is missing"),
    )];
    for field in [
        "productName",
        "productType",
        "dataFormat",
        "modelId",
        "biDirectionalAuth",
    ] {
        cases.push(case(
            create(json!({ field: null })),
            Want::argument(field, &format!("{field} is missing")),
        ));
    }
    let string_i18n =
        r#"productName must be a StringI18n object {"defaultValue": ..., "i18nValue": {...}}"#;
    for (field, value, reason) in [
        (
            "productType",
            json!("Sensor"),
            "productType must be one of Device, Gateway",
        ),
        (
            "productType",
            json!(1),
            "productType must be one of Device, Gateway",
        ),
        (
            "dataFormat",
            json!("XML"),
            "dataFormat must be one of Custom, Json",
        ),
        (
            "dataFormat",
            json!(true),
            "dataFormat must be one of Custom, Json",
        ),
        ("productName", json!(5), string_i18n),
        (
            "productName",
            json!({ "defaultValue": "" }),
            "productName.defaultValue must not be empty",
        ),
        (
            "productName",
            json!({ "i18nValue": { "zh_CN": "x" } }),
            string_i18n,
        ),
        ("modelId", json!(5), "modelId must be a string"),
        ("modelId", json!(["m"]), "modelId must be a string"),
        (
            "biDirectionalAuth",
            json!("yes"),
            "biDirectionalAuth must be true or false",
        ),
        (
            "biDirectionalAuth",
            json!(1),
            "biDirectionalAuth must be true or false",
        ),
        ("productDesc", json!(5), "productDesc must be a string"),
        (
            "dynamicActivateEnabled",
            json!("maybe"),
            "dynamicActivateEnabled must be true or false",
        ),
        (
            "productTags",
            json!("tag"),
            "productTags must be an object of strings",
        ),
        (
            "defaultValidDay",
            json!("ten"),
            "defaultValidDay must be an integer",
        ),
        (
            "defaultValidDay",
            json!(1.5),
            "defaultValidDay must be an integer",
        ),
        (
            "maxValidDay",
            json!("many"),
            "maxValidDay must be an integer",
        ),
        ("maxValidDay", json!(2.5), "maxValidDay must be an integer"),
    ] {
        cases.push(case(
            create(json!({ field: value })),
            Want::argument(field, reason),
        ));
    }
    // defaultValidDay above maxValidDay (which defaults to 1095).
    for (days, default, max) in [
        (
            json!({ "defaultValidDay": 200, "maxValidDay": 100 }),
            200,
            100,
        ),
        (
            json!({ "defaultValidDay": 101, "maxValidDay": 100 }),
            101,
            100,
        ),
        (json!({ "defaultValidDay": 1096 }), 1096, 1095),
        (json!({ "defaultValidDay": 3650 }), 3650, 1095),
    ] {
        cases.push(case(create(days), default_over_max(default, max)));
    }
    // Validity outside 1-3650.
    for field in ["defaultValidDay", "maxValidDay"] {
        for value in [0, 3651, -1] {
            cases.push(case(create(json!({ field: value })), days_range(field)));
        }
    }
    // By GET, create is refused.
    cases.push(case(
        Call::get(format!("{PRODUCTS}?{}", create_query())),
        Want::argument(
            "method",
            "action product.create must be called with POST, not GET",
        ),
    ));
    check(&mock, cases).await;
    assert_eq!(
        counts(&mock).await["products"],
        before,
        "nothing was created"
    );
    // The limits themselves are fine.
    let key = create_product(&mock, json!({ "defaultValidDay": 100, "maxValidDay": 100 })).await;
    assert_eq!(product(&mock, &key).await["defaultValidDay"], 100);
    let key = create_product(&mock, json!({ "maxValidDay": 3650 })).await;
    assert_eq!(product(&mock, &key).await["maxValidDay"], 3650);
}

#[tokio::test]
async fn product_and_device_calls_check_org_and_action() {
    let mock = Mock::start().await;
    let mut cases = vec![
        case(
            Call::post(
                format!("{PRODUCTS}?action=create&orgId={UNKNOWN_ORG_ID}"),
                product_body(),
            ),
            Want::Row(&ORG_UNKNOWN),
        ),
        case(
            Call::post(
                format!("{DEVICES}?action=create&orgId={UNKNOWN_ORG_ID}"),
                device_body(BIDI_PRODUCT),
            ),
            Want::Row(&ORG_UNKNOWN),
        ),
    ];
    for action in ["get", "update", "delete"] {
        cases.push(case(
            Call::post(
                format!(
                    "{PRODUCTS}?action={action}&orgId={UNKNOWN_ORG_ID}&productKey={BIDI_PRODUCT}"
                ),
                json!({}),
            ),
            Want::Row(&ORG_UNKNOWN),
        ));
        cases.push(case(
            Call::post(
                format!("{DEVICES}?action={action}&orgId={UNKNOWN_ORG_ID}&assetId={DEV1}"),
                json!({}),
            ),
            Want::Row(&ORG_UNKNOWN),
        ));
    }
    // Missing orgId, missing or unknown action.
    for (path, body) in [
        (PRODUCTS, product_body()),
        (DEVICES, device_body(BIDI_PRODUCT)),
    ] {
        cases.extend([
            case(
                Call::post(format!("{path}?action=create"), body.clone()),
                Want::Row(&ORG_MISSING),
            ),
            case(
                Call::post(format!("{path}?action=create&orgId="), body.clone()),
                Want::Row(&ORG_MISSING),
            ),
            case(
                Call::get(format!("{path}?action=get")),
                Want::Row(&ORG_MISSING),
            ),
            case(
                Call::post(format!("{path}?orgId={ORG}"), body.clone()),
                Want::Row(&ACTION_MISSING),
            ),
            case(
                Call::post(format!("{path}?action=list&orgId={ORG}"), body),
                Want::Row(&ACTION_INVALID),
            ),
        ]);
    }
    check(&mock, cases).await;
    // The fixture device survived the delete attempt.
    assert_eq!(device(&mock, DEV1).await["assetId"], DEV1);
}

#[tokio::test]
async fn product_writes_need_post_and_get_answers_by_get_and_post() {
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({ "productDesc": "kept" })).await;
    let by_get = |action: &str| {
        Call::get(format!(
            "{PRODUCTS}?action={action}&orgId={ORG}&productKey={key}"
        ))
    };
    check(
        &mock,
        ["update", "delete"].map(|action| {
            case(
                by_get(action),
                Want::argument(
                    "method",
                    &format!("action product.{action} must be called with POST, not GET"),
                ),
            )
        }),
    )
    .await;
    let got = product(&mock, &key).await;
    assert_eq!(got["productDesc"], "kept", "{got}");
    let by_post = products(
        &mock,
        &format!("action=get&orgId={ORG}&productKey={key}"),
        json!({}),
    )
    .await;
    assert_eq!(ok_data(&by_post), got);
}

#[tokio::test]
async fn products_work_in_an_org_declared_through_the_control_api() {
    let mock = Mock::start().await;
    let org = "o17000000000042";
    let r = products(&mock, &format!("action=create&orgId={org}"), product_body()).await;
    assert_row(&r, &ORG_UNKNOWN);
    let declared = mock
        .http
        .post(mock.url("/__admin/orgs"))
        .json(&json!({ "orgId": org, "apps": [] }))
        .send()
        .await
        .unwrap();
    assert!(declared.status().is_success(), "{}", declared.status());
    let r = products(&mock, &format!("action=create&orgId={org}"), product_body()).await;
    assert_ok(&r);
    let key = text(&r["data"]);
    let r = devices(
        &mock,
        &format!("action=create&orgId={org}"),
        device_body(&key),
    )
    .await;
    assert_ok(&r);
    let asset_id = text(&r["data"]["assetId"]);
    let r = Call::get(format!(
        "/connect-service/v2.1/devices?action=get&orgId={org}&assetId={asset_id}"
    ))
    .envelope(&mock)
    .await;
    assert_ok(&r);
    assert_eq!(r["data"]["orgId"], org, "{r}");
    // Invisible from ORG.
    assert_row(&get_product(&mock, &key).await, &PRODUCT_NOT_FOUND);
    assert_row(
        &get_device(&mock, &format!("assetId={asset_id}")).await,
        &DEVICE_NOT_FOUND,
    );
}

#[tokio::test]
async fn fixture_products_and_devices_are_served_by_the_enos_apis() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    // (productKey, biDirectionalAuth, defaultValidDay, maxValidDay) as fixtures/default.json declares.
    for (key, bidi, default, max) in [
        (BIDI_PRODUCT, true, 730, 1095),
        ("ShortPrd", true, 30, 365),
        ("PlainPrd", false, 730, 1095),
    ] {
        let p = product(&mock, key).await;
        for field in PRODUCT_FIELDS {
            assert!(p.get(field).is_some(), "{key} lacks {field}: {p}");
        }
        assert_eq!(p["orgId"], ORG, "{p}");
        assert_eq!(p["productKey"], key, "{p}");
        assert_eq!(p["biDirectionalAuth"], bidi, "{p}");
        assert_eq!(p["defaultValidDay"], default, "{p}");
        assert_eq!(p["maxValidDay"], max, "{p}");
        assert!(p["productName"]["defaultValue"].is_string(), "{p}");
    }
    assert_eq!(
        product(&mock, BIDI_PRODUCT).await["productName"]["defaultValue"],
        "Bi-directional meter"
    );
    for (asset_id, product_key, device_key) in [
        (DEV1, BIDI_PRODUCT, "meter-001"),
        (SHORT_DEV, "ShortPrd", "sensor-001"),
        (PLAIN_DEV, "PlainPrd", "gateway-001"),
    ] {
        let r = get_device(
            &mock,
            &format!("productKey={product_key}&deviceKey={device_key}"),
        )
        .await;
        assert_ok(&r);
        assert_eq!(r["data"]["assetId"], asset_id, "{r}");
        assert_eq!(r["data"], device(&mock, asset_id).await);
    }

    // Changing a fixture product drives its fixture devices, and reset restores it.
    assert_ok(
        &update_product(
            &mock,
            "ShortPrd",
            json!({ "defaultValidDay": 7, "maxValidDay": 10 }),
        )
        .await,
    );
    assert_row(
        &apply_days(&mock, SHORT_DEV, "fixture-1", Some(11)).await,
        &VALID_DAY_EXCEEDS_MAX,
    );
    let r = apply_days(&mock, SHORT_DEV, "fixture-1", None).await;
    assert_ok(&r);
    assert_lasts(&mock, SHORT_DEV, &r["data"], 7).await;
    assert_ok(
        &update_device(
            &mock,
            &format!("assetId={DEV2}"),
            json!({ "deviceDesc": "changed" }),
        )
        .await,
    );
    assert_ok(&delete_device(&mock, &format!("assetId={DEV3}")).await);
    let created = create_product(&mock, json!({})).await;

    let reset = mock
        .http
        .post(mock.url("/__admin/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    let p = product(&mock, "ShortPrd").await;
    assert_eq!(p["defaultValidDay"], 30, "{p}");
    assert_eq!(p["maxValidDay"], 365, "{p}");
    assert_ne!(device(&mock, DEV2).await["deviceDesc"], "changed");
    assert_eq!(device(&mock, DEV3).await["deviceKey"], "meter-003");
    assert_row(&get_product(&mock, &created).await, &PRODUCT_NOT_FOUND);
}

#[tokio::test]
async fn product_and_device_bodies_ignore_unknown_top_level_keys_and_content_type() {
    let mock = Mock::start().await;
    // A1: unknown keys are ignored.
    let body = merged(
        product_body(),
        json!({ "someFutureField": 1, "productKey": "MyOwnKy1" }),
    );
    let r = products(&mock, &create_query(), body).await;
    assert_ok(&r);
    let key = text(&r["data"]);
    assert_ne!(
        key, "MyOwnKy1",
        "productKey is generated, not taken from the body"
    );
    let r = devices(
        &mock,
        &create_query(),
        merged(device_body(&key), json!({ "someFutureField": [1, 2] })),
    )
    .await;
    assert_ok(&r);
    // A JSON body without a content type, or with another spelling of it.
    for content_type in [
        None,
        Some("application/json;charset=utf-8"),
        Some("APPLICATION/JSON"),
    ] {
        let mut request = mock
            .http
            .post(mock.url(&format!(
                "/connect-service/v2.1/products?{}",
                create_query()
            )))
            .body(product_body().to_string());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let r: Value = response.json().await.unwrap();
        assert_ok(&r);
        assert!(is_alnum(&text(&r["data"]), 8), "{content_type:?}: {r}");
    }
}

#[tokio::test]
async fn unknown_keys_inside_a_string_i18n_are_ignored() {
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({})).await;
    // A1: unknown keys are ignored, also inside a StringI18n (a newer client may send more).
    let body = merged(
        product_body(),
        json!({ "productName": { "defaultValue": "Named", "i18nValue": {}, "someFutureField": "x" } }),
    );
    let r = products(&mock, &create_query(), body).await;
    assert_ok(&r);
    assert_eq!(
        product(&mock, &text(&r["data"])).await["productName"]["defaultValue"],
        "Named"
    );
    let body = merged(
        device_body(&key),
        json!({ "deviceName": { "defaultValue": "Named", "someFutureField": "x" } }),
    );
    assert_ok(&devices(&mock, &create_query(), body).await);
}

// ---------------------------------------------------------------------------
// Product get/update/delete

#[tokio::test]
async fn unknown_or_foreign_product_is_not_found() {
    let mock = Mock::start().await;
    let mine = create_product(&mock, json!({})).await;
    let not_found = || Want::Row(&PRODUCT_NOT_FOUND);
    let mut cases = Vec::new();
    for key in ["NoSuchPr", OTHER_ORG_PRODUCT] {
        let rest = format!("&productKey={key}");
        cases.extend([
            case(
                Call::get(format!("{PRODUCTS}?action=get&orgId={ORG}{rest}")),
                not_found(),
            ),
            case(
                product_call("update", &rest, json!({ "productDesc": "stolen" })),
                not_found(),
            ),
            case(product_call("delete", &rest, json!({})), not_found()),
        ]);
    }
    // ORG's product is invisible to the other org.
    for action in ["get", "delete"] {
        cases.push(case(
            Call::post(
                format!("{PRODUCTS}?action={action}&orgId={OTHER_ORG}&productKey={mine}"),
                json!({}),
            ),
            not_found(),
        ));
    }
    check(&mock, cases).await;
    // The other org's product is there for its own org, untouched.
    let r = Call::get(format!(
        "{PRODUCTS}?action=get&orgId={OTHER_ORG}&productKey={OTHER_ORG_PRODUCT}"
    ))
    .envelope(&mock)
    .await;
    let other = ok_data(&r);
    assert_eq!(other["orgId"], OTHER_ORG, "{r}");
    assert_eq!(other["productKey"], OTHER_ORG_PRODUCT, "{r}");
    assert_ne!(other["productDesc"], "stolen", "{r}");
    product(&mock, &mine).await;
}

#[tokio::test]
async fn product_calls_without_product_key_are_refused() {
    let missing = || Want::argument("productKey", "productKey is missing");
    let mut cases = vec![case(
        Call::get(format!("{PRODUCTS}?action=get&orgId={ORG}")),
        missing(),
    )];
    for action in ["get", "update", "delete"] {
        for rest in ["", "&productKey="] {
            cases.push(case(
                product_call(action, rest, json!({ "productDesc": "x" })),
                missing(),
            ));
        }
    }
    check(&Mock::start().await, cases).await;
}

#[tokio::test]
async fn product_update_changes_only_the_fields_given() {
    let mock = Mock::start().await;
    let key = create_product(
        &mock,
        json!({ "productDesc": "old", "defaultValidDay": 100, "maxValidDay": 200 }),
    )
    .await;
    let before = product(&mock, &key).await;
    advance_seconds(&mock, 3600).await;

    let r = update_product(&mock, &key, json!({ "productDesc": "new" })).await;
    assert_ok(&r);
    assert!(r["data"].is_null(), "{r}");
    let after = product(&mock, &key).await;
    assert_eq!(after["productDesc"], "new", "{after}");
    let moved = after["updateTime"].as_i64().unwrap() - before["updateTime"].as_i64().unwrap();
    assert!(
        moved >= 3_600_000,
        "updateTime moved by {moved} ms: {after}"
    );
    for (k, v) in before.as_object().unwrap() {
        if k != "productDesc" && k != "updateTime" {
            assert_eq!(&after[k], v, "{k} changed: {before} -> {after}");
        }
    }

    // Every updatable A8 field at once; identity and creation stay.
    let r = update_product(
        &mock,
        &key,
        json!({
            "productName": { "defaultValue": "Renamed", "i18nValue": { "en_US": "Renamed" } },
            "productType": "Gateway",
            "dataFormat": "Custom",
            "modelId": "model-2",
            "biDirectionalAuth": false,
            "defaultValidDay": 1000,
            "maxValidDay": 2000,
        }),
    )
    .await;
    assert_ok(&r);
    let last = product(&mock, &key).await;
    assert_eq!(last["productName"]["defaultValue"], "Renamed", "{last}");
    assert_eq!(last["productType"], "Gateway", "{last}");
    assert_eq!(last["dataFormat"], "Custom", "{last}");
    assert_eq!(last["modelId"], "model-2", "{last}");
    assert_eq!(last["biDirectionalAuth"], false, "{last}");
    assert_eq!(last["defaultValidDay"], 1000, "{last}");
    assert_eq!(last["maxValidDay"], 2000, "{last}");
    for k in [
        "orgId",
        "productKey",
        "productSecret",
        "createTime",
        "productDesc",
    ] {
        assert_eq!(last[k], after[k], "{k} changed: {after} -> {last}");
    }
}

#[tokio::test]
async fn product_update_refusing_default_above_max_leaves_the_product_unchanged() {
    let mock = Mock::start().await;
    let key = create_product(
        &mock,
        json!({ "productDesc": "old", "defaultValidDay": 100, "maxValidDay": 200 }),
    )
    .await;
    let before = product(&mock, &key).await;
    advance_seconds(&mock, 60).await;
    let rest = format!("&productKey={key}");
    let update = |body: Value| product_call("update", &rest, body);
    // A refused patch changes none of its other fields either.
    let cases = [
        case(
            update(json!({ "defaultValidDay": 300 })),
            default_over_max(300, 200),
        ),
        case(
            update(json!({ "maxValidDay": 50 })),
            default_over_max(100, 50),
        ),
        case(
            update(
                json!({ "productDesc": "changed", "biDirectionalAuth": false, "maxValidDay": 99 }),
            ),
            default_over_max(100, 99),
        ),
        case(
            update(json!({ "productDesc": "changed", "productType": "Sensor" })),
            Want::argument("productType", "productType must be one of Device, Gateway"),
        ),
        case(
            update(json!({ "maxValidDay": 3651 })),
            days_range("maxValidDay"),
        ),
        case(
            update(json!({ "defaultValidDay": 0 })),
            days_range("defaultValidDay"),
        ),
    ];
    check(&mock, cases).await;
    assert_eq!(product(&mock, &key).await, before, "product unchanged");
}

// ---------------------------------------------------------------------------
// Product changes drive the certificate rules at once

#[tokio::test]
async fn certificate_rules_follow_validity_changes_at_once() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({ "maxValidDay": 100 })).await;
    let dev = new_device(&mock, &key).await;

    let r = apply_days(&mock, &dev, "rules-1", Some(101)).await;
    assert_row(&r, &VALID_DAY_EXCEEDS_MAX);
    let r = apply_days(&mock, &dev, "rules-1", Some(100)).await;
    assert_ok(&r);
    assert_lasts(&mock, &dev, &r["data"], 100).await;
    // Without validDay: the default, which followed maxValidDay down to 100.
    let r = apply_days(&mock, &dev, "rules-2", None).await;
    assert_ok(&r);
    assert_lasts(&mock, &dev, &r["data"], 100).await;

    assert_ok(&update_product(&mock, &key, json!({ "maxValidDay": 200 })).await);
    let r = apply_days(&mock, &dev, "rules-3", Some(150)).await;
    assert_ok(&r);
    assert_lasts(&mock, &dev, &r["data"], 150).await;
    let r = apply_days(&mock, &dev, "rules-4", Some(201)).await;
    assert_row(&r, &VALID_DAY_EXCEEDS_MAX);

    assert_ok(
        &update_product(
            &mock,
            &key,
            json!({ "defaultValidDay": 20, "maxValidDay": 50 }),
        )
        .await,
    );
    let r = apply_days(&mock, &dev, "rules-5", None).await;
    assert_ok(&r);
    let renewable = sn(&r["data"]);
    assert_lasts(&mock, &dev, &r["data"], 20).await;
    let r = apply_days(&mock, &dev, "rules-6", Some(50)).await;
    assert_ok(&r);
    assert_lasts(&mock, &dev, &r["data"], 50).await;
    let r = apply_days(&mock, &dev, "rules-7", Some(51)).await;
    assert_row(&r, &VALID_DAY_EXCEEDS_MAX);

    // Renew follows the same product values.
    let r = mock
        .cert(
            "renew",
            &dev,
            json!({ "certSn": renewable, "validDay": 51 }),
        )
        .await;
    assert_row(&r, &VALID_DAY_EXCEEDS_MAX);
    let r = mock
        .cert("renew", &dev, json!({ "certSn": renewable }))
        .await;
    assert_ok(&r);
    assert_lasts(&mock, &dev, &r["data"], 20).await;
}

#[tokio::test]
async fn turning_bi_directional_auth_off_fails_the_next_apply() {
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({ "biDirectionalAuth": true })).await;
    let dev = new_device(&mock, &key).await;
    let first = sn(&mock.apply_ok(&dev, "bidi-1").await);

    assert_ok(&update_product(&mock, &key, json!({ "biDirectionalAuth": false })).await);
    assert_eq!(product(&mock, &key).await["biDirectionalAuth"], false);
    let r = apply_days(&mock, &dev, "bidi-2", None).await;
    assert_row(&r, &NOT_BI_DIRECTIONAL);
    let r = mock.cert("renew", &dev, json!({ "certSn": first })).await;
    assert_row(&r, &NOT_BI_DIRECTIONAL);
    // List needs no bi-directional product.
    assert_eq!(mock.list(&dev).await.len(), 1);

    assert_ok(&update_product(&mock, &key, json!({ "biDirectionalAuth": true })).await);
    let r = apply_days(&mock, &dev, "bidi-2", None).await;
    assert_ok(&r);

    // And the other way round: a one-way product turned bi-directional.
    let plain = create_product(&mock, json!({ "biDirectionalAuth": false })).await;
    let dev2 = new_device(&mock, &plain).await;
    assert_row(
        &apply_days(&mock, &dev2, "bidi-3", None).await,
        &NOT_BI_DIRECTIONAL,
    );
    assert_ok(&update_product(&mock, &plain, json!({ "biDirectionalAuth": true })).await);
    assert_ok(&apply_days(&mock, &dev2, "bidi-3", None).await);
}

// ---------------------------------------------------------------------------
// Product delete

#[tokio::test]
async fn product_with_devices_cannot_be_deleted_until_they_are_gone() {
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({})).await;
    let a = new_device(&mock, &key).await;
    let b = create_device(&mock, &key, json!({ "deviceKey": "second" })).await;

    assert_want(&delete_product(&mock, &key).await, &has_devices(2));
    product(&mock, &key).await;
    assert_ok(&delete_device(&mock, &format!("assetId={a}")).await);
    assert_want(&delete_product(&mock, &key).await, &has_devices(1));
    assert_ok(&delete_device(&mock, &format!("productKey={key}&deviceKey=second")).await);
    assert_row(
        &get_device(
            &mock,
            &format!("assetId={}", b["assetId"].as_str().unwrap()),
        )
        .await,
        &DEVICE_NOT_FOUND,
    );

    let r = delete_product(&mock, &key).await;
    assert_ok(&r);
    assert!(r["data"].is_null(), "{r}");
    assert_row(&get_product(&mock, &key).await, &PRODUCT_NOT_FOUND);
    assert_row(&delete_product(&mock, &key).await, &PRODUCT_NOT_FOUND);
    let r = devices(&mock, &create_query(), device_body(&key)).await;
    assert_row(&r, &PRODUCT_NOT_FOUND);

    // The fixture product has its three meters.
    assert_want(&delete_product(&mock, BIDI_PRODUCT).await, &has_devices(3));
}

// ---------------------------------------------------------------------------
// Device create

#[tokio::test]
async fn device_create_rows() {
    let mock = Mock::start().await;
    let before = counts(&mock).await["devices"].clone();
    let create = |product_key: &str, extra: Value| {
        device_call("create", "", merged(device_body(product_key), extra))
    };
    let mut cases = vec![
        case(
            create(BIDI_PRODUCT, json!({ "productKey": "" })),
            Want::argument("productKey", "productKey is missing"),
        ),
        case(
            create(BIDI_PRODUCT, json!({ "deviceKey": 7 })),
            Want::argument("deviceKey", "deviceKey must be a string"),
        ),
        case(
            create(BIDI_PRODUCT, json!({ "timezone": 8 })),
            Want::argument("timezone", "timezone must be a string"),
        ),
        // A deviceKey the product has already.
        case(
            create(BIDI_PRODUCT, json!({ "deviceKey": "meter-001" })),
            Want::Row(&DEVICE_KEY_EXISTS),
        ),
    ];
    for field in ["productKey", "deviceName", "timezone"] {
        cases.push(case(
            create(BIDI_PRODUCT, json!({ field: null })),
            Want::argument(field, &format!("{field} is missing")),
        ));
    }
    for tz in ["8:00", "+15:00", "+08:60", "+8:00", "UTC", ""] {
        cases.push(case(
            create(BIDI_PRODUCT, json!({ "timezone": tz })),
            Want::argument(
                "timezone",
                &format!("timezone {tz:?} must be a UTC offset such as +08:00"),
            ),
        ));
    }
    let long = "x".repeat(65);
    for key in ["bad key", "a/b", "ké", "a#b", "a?b", long.as_str()] {
        cases.push(case(
            create(BIDI_PRODUCT, json!({ "deviceKey": key })),
            Want::argument(
                "deviceKey",
                "deviceKey must be 1-64 letters, digits, '_', '-', '.' or ':'",
            ),
        ));
    }
    for product_key in ["NoSuchPr", OTHER_ORG_PRODUCT] {
        cases.push(case(
            create(product_key, json!({})),
            Want::Row(&PRODUCT_NOT_FOUND),
        ));
    }
    check(&mock, cases).await;
    assert_eq!(
        counts(&mock).await["devices"],
        before,
        "nothing was created"
    );
    // What is allowed: every UTC offset form, a 64-character deviceKey.
    for tz in ["-05:30", "+14:00", "+00:00", "-12:00"] {
        let d = create_device(&mock, BIDI_PRODUCT, json!({ "timezone": tz })).await;
        assert_eq!(
            device(&mock, d["assetId"].as_str().unwrap()).await["timezone"],
            tz
        );
    }
    let max = "y".repeat(64);
    let d = create_device(&mock, BIDI_PRODUCT, json!({ "deviceKey": max })).await;
    assert_eq!(d["deviceKey"], max.as_str());
}

#[tokio::test]
async fn device_create_answers_enos_like_identifiers() {
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({})).await;
    let r = devices(&mock, &create_query(), device_body(&key)).await;
    assert_ok(&r);
    let d = &r["data"];
    let mut fields: Vec<&str> = d
        .as_object()
        .unwrap_or_else(|| panic!("data is an object: {r}"))
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["assetId", "deviceKey", "deviceSecret", "productKey"],
        "{r}"
    );
    let asset_id = d["assetId"].as_str().unwrap();
    assert!(is_alnum(asset_id, 8), "assetId is 8 alphanumerics: {d}");
    assert_eq!(d["productKey"], key.as_str(), "{d}");
    let device_key = d["deviceKey"].as_str().unwrap();
    assert!(
        !device_key.is_empty() && device_key.chars().all(|c| c.is_ascii_alphanumeric()),
        "a generated deviceKey: {d}"
    );
    assert!(
        is_alnum(d["deviceSecret"].as_str().unwrap(), 20),
        "deviceSecret is 20 alphanumerics: {d}"
    );
    // The device is there under both names, with the same secret.
    let got = device(&mock, asset_id).await;
    assert_eq!(got["deviceKey"], d["deviceKey"], "{got}");
    assert_eq!(got["deviceSecret"], d["deviceSecret"], "{got}");
    let r = get_device(&mock, &format!("productKey={key}&deviceKey={device_key}")).await;
    assert_ok(&r);
    assert_eq!(r["data"]["assetId"], asset_id, "{r}");

    let d2 = create_device(&mock, &key, json!({})).await;
    for f in ["assetId", "deviceKey", "deviceSecret"] {
        assert_ne!(d2[f], d[f], "{f} is fresh: {d} vs {d2}");
    }
}

#[tokio::test]
async fn device_create_keeps_an_explicit_device_key_unique_per_product() {
    let mock = Mock::start().await;
    let p1 = create_product(&mock, json!({})).await;
    let p2 = create_product(&mock, json!({})).await;
    let d = create_device(&mock, &p1, json!({ "deviceKey": "dev-A.1:x_y" })).await;
    assert_eq!(d["deviceKey"], "dev-A.1:x_y", "{d}");
    let r = get_device(&mock, &format!("productKey={p1}&deviceKey=dev-A.1:x_y")).await;
    assert_ok(&r);
    assert_eq!(r["data"]["assetId"], d["assetId"], "{r}");

    let before = counts(&mock).await["devices"].clone();
    let body = merged(device_body(&p1), json!({ "deviceKey": "dev-A.1:x_y" }));
    let r = devices(&mock, &create_query(), body).await;
    assert_row(&r, &DEVICE_KEY_EXISTS);
    let body = merged(
        device_body(BIDI_PRODUCT),
        json!({ "deviceKey": "meter-001" }),
    );
    let r = devices(&mock, &create_query(), body).await;
    assert_row(&r, &DEVICE_KEY_EXISTS);
    assert_eq!(counts(&mock).await["devices"], before, "nothing created");

    let other = create_device(&mock, &p2, json!({ "deviceKey": "dev-A.1:x_y" })).await;
    assert_eq!(other["deviceKey"], "dev-A.1:x_y", "{other}");
    assert_ne!(other["assetId"], d["assetId"]);
    let r = get_device(&mock, &format!("productKey={p2}&deviceKey=dev-A.1:x_y")).await;
    assert_eq!(r["data"]["assetId"], other["assetId"], "{r}");
}

// ---------------------------------------------------------------------------
// Device get/update/delete

#[tokio::test]
async fn device_get_by_asset_id_and_by_keys_returns_exactly_the_b14_fields() {
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({})).await;
    let before = mock.now_ms();
    let created = create_device(
        &mock,
        &key,
        json!({
            "deviceKey": "full-1",
            "deviceName": { "defaultValue": "Full device", "i18nValue": { "zh_CN": "设备" } },
            "deviceDesc": "described",
            "timezone": "-05:30",
            "deviceAttributes": { "floor": 3, "room": "A" },
            "deviceTags": { "site": "sh" },
        }),
    )
    .await;
    let after = mock.now_ms();
    let asset_id = created["assetId"].as_str().unwrap();

    let d = device(&mock, asset_id).await;
    let mut fields: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    let mut expected = DEVICE_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(fields, expected, "{d}");
    assert_eq!(d["orgId"], ORG, "{d}");
    assert_eq!(d["assetId"], asset_id, "{d}");
    assert_eq!(d["productKey"], key.as_str(), "{d}");
    assert_eq!(d["deviceKey"], "full-1", "{d}");
    assert_eq!(
        d["deviceName"],
        json!({ "defaultValue": "Full device", "i18nValue": { "zh_CN": "设备" } }),
        "{d}"
    );
    assert_eq!(d["deviceDesc"], "described", "{d}");
    assert_eq!(d["timezone"], "-05:30", "{d}");
    assert_eq!(d["deviceSecret"], created["deviceSecret"], "{d}");
    assert_eq!(
        d["deviceAttributes"],
        json!({ "floor": 3, "room": "A" }),
        "{d}"
    );
    assert_eq!(d["deviceTags"], json!({ "site": "sh" }), "{d}");
    let t = d["createTime"].as_i64().expect("createTime epoch ms");
    assert!((before..=after).contains(&t), "{t} in [{before}, {after}]");
    assert!(d["status"].is_string(), "{d}");

    let r = get_device(&mock, &format!("productKey={key}&deviceKey=full-1")).await;
    assert_ok(&r);
    assert_eq!(r["data"], d);
    let r = devices(
        &mock,
        &format!("action=get&orgId={ORG}&assetId={asset_id}"),
        json!({}),
    )
    .await;
    assert_ok(&r);
    assert_eq!(r["data"], d, "get by POST is tolerated");

    // A fixture device answers the same shape.
    let f = device(&mock, DEV1).await;
    let mut fields: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, expected, "{f}");
    assert_eq!(f["productKey"], BIDI_PRODUCT, "{f}");
    assert_eq!(f["deviceKey"], "meter-001", "{f}");
}

#[tokio::test]
async fn unknown_or_foreign_device_is_not_found_and_a_missing_identifier_is_invalid() {
    let mock = Mock::start().await;
    let mut cases = Vec::new();
    for (selectors, want) in [
        (
            vec![
                "&assetId=NoSuchAs".to_string(),
                format!("&productKey={BIDI_PRODUCT}&deviceKey=no-such"),
                format!("&assetId={OTHER_ORG_DEV}"),
                format!("&productKey={OTHER_ORG_PRODUCT}&deviceKey=other-001"),
            ],
            Want::Row(&DEVICE_NOT_FOUND),
        ),
        (
            vec![
                String::new(),
                "&assetId=".to_string(),
                format!("&productKey={BIDI_PRODUCT}"),
                "&deviceKey=meter-001".to_string(),
            ],
            Want::Row(&DEVICE_IDENTIFIER_INVALID),
        ),
    ] {
        for rest in selectors {
            cases.extend([
                case(
                    Call::get(format!("{DEVICES}?action=get&orgId={ORG}{rest}")),
                    want.clone(),
                ),
                case(
                    device_call("update", &rest, json!({ "deviceDesc": "x" })),
                    want.clone(),
                ),
                case(device_call("delete", &rest, json!({})), want.clone()),
            ]);
        }
    }
    check(&mock, cases).await;
    // The other org's device is intact for its own org.
    let r = Call::get(format!(
        "{DEVICES}?action=get&orgId={OTHER_ORG}&assetId={OTHER_ORG_DEV}"
    ))
    .envelope(&mock)
    .await;
    let other = ok_data(&r);
    assert_eq!(other["orgId"], OTHER_ORG, "{r}");
    assert_ne!(other["deviceDesc"], "x", "{r}");
}

#[tokio::test]
async fn device_update_changes_only_the_fields_given() {
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({})).await;
    let created = create_device(
        &mock,
        &key,
        json!({
            "deviceKey": "upd-1",
            "deviceDesc": "old",
            "deviceAttributes": { "a": 1 },
            "deviceTags": { "t": "1" },
        }),
    )
    .await;
    let asset_id = created["assetId"].as_str().unwrap();
    let before = device(&mock, asset_id).await;

    let r = update_device(
        &mock,
        &format!("assetId={asset_id}"),
        json!({ "deviceDesc": "new" }),
    )
    .await;
    assert_ok(&r);
    assert!(r["data"].is_null(), "{r}");
    let after = device(&mock, asset_id).await;
    assert_eq!(after["deviceDesc"], "new", "{after}");
    for (k, v) in before.as_object().unwrap() {
        if k != "deviceDesc" {
            assert_eq!(&after[k], v, "{k} changed: {before} -> {after}");
        }
    }

    // By productKey+deviceKey, several fields at once.
    let r = update_device(
        &mock,
        &format!("productKey={key}&deviceKey=upd-1"),
        json!({
            "deviceName": { "defaultValue": "Renamed" },
            "timezone": "+01:00",
            "deviceAttributes": { "b": "two" },
            "deviceTags": { "u": "2" },
        }),
    )
    .await;
    assert_ok(&r);
    let last = device(&mock, asset_id).await;
    assert_eq!(last["deviceName"]["defaultValue"], "Renamed", "{last}");
    assert_eq!(last["timezone"], "+01:00", "{last}");
    assert_eq!(last["deviceAttributes"], json!({ "b": "two" }), "{last}");
    assert_eq!(last["deviceTags"], json!({ "u": "2" }), "{last}");
    for k in [
        "orgId",
        "assetId",
        "productKey",
        "deviceKey",
        "deviceSecret",
        "createTime",
        "deviceDesc",
        "status",
    ] {
        assert_eq!(last[k], after[k], "{k} changed: {after} -> {last}");
    }
}

#[tokio::test]
async fn device_update_with_a_bad_value_changes_nothing() {
    let mock = Mock::start().await;
    let asset_id = new_device(&mock, BIDI_PRODUCT).await;
    let before = device(&mock, &asset_id).await;
    let rest = format!("&assetId={asset_id}");
    let update = |extra: Value| {
        device_call(
            "update",
            &rest,
            merged(json!({ "deviceDesc": "changed" }), extra),
        )
    };
    let mut cases = vec![
        case(
            update(json!({ "deviceAttributes": "flat" })),
            Want::argument("deviceAttributes", "deviceAttributes must be an object"),
        ),
        case(
            update(json!({ "deviceName": { "defaultValue": "" } })),
            Want::argument("deviceName", "deviceName.defaultValue must not be empty"),
        ),
    ];
    for tz in ["+15:00", "8:00", "UTC"] {
        cases.push(case(
            update(json!({ "timezone": tz })),
            Want::argument(
                "timezone",
                &format!("timezone {tz:?} must be a UTC offset such as +08:00"),
            ),
        ));
    }
    check(&mock, cases).await;
    assert_eq!(device(&mock, &asset_id).await, before, "device unchanged");
}

#[tokio::test]
async fn deleting_a_device_revokes_its_valid_certificates() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({})).await;
    let created = create_device(&mock, &key, json!({ "deviceKey": "doomed" })).await;
    let dev = created["assetId"].as_str().unwrap().to_string();
    let revoked = sn(&mock.apply_ok(&dev, "doomed-1").await);
    let valid = sn(&mock.apply_ok(&dev, "doomed-2").await);
    let r = mock
        .cert(
            "apply",
            &dev,
            json!({ "csr": ec_csr("doomed-3"), "issueAuthority": "ECC" }),
        )
        .await;
    assert_ok(&r);
    let ecc = sn(&r["data"]);
    let r = mock
        .cert(
            "revoke",
            &dev,
            json!({ "certSn": revoked, "reason": "KEY_COMPROMISE" }),
        )
        .await;
    assert_ok(&r);
    let list = mock.list(&dev).await;
    assert_eq!(row(&list, revoked)["certStatus"], 1);
    assert_eq!(row(&list, valid)["certStatus"], 0);
    let crl = parse_crl(&mock.get_bytes("/enos/CA/crl/RSA").await, "DER");
    assert_eq!(crl.reason_of(valid), None, "not on the CRL before delete");

    let r = delete_device(&mock, &format!("assetId={dev}")).await;
    assert_ok(&r);
    assert!(r["data"].is_null(), "{r}");

    let der = mock.get_bytes("/enos/CA/crl/RSA").await;
    crl_verify(&der, &mock.root("RSA").await).expect("CRL verifies against the RSA root");
    let crl = parse_crl(&der, "DER");
    assert_eq!(
        crl.reason_of(valid),
        Some(Some("Cessation Of Operation".to_string())),
        "{crl:?}"
    );
    assert_eq!(
        crl.reason_of(revoked),
        Some(Some("Key Compromise".to_string())),
        "the earlier revocation keeps its reason: {crl:?}"
    );
    assert_eq!(
        crl.serials().iter().filter(|s| **s == revoked).count(),
        1,
        "{crl:?}"
    );
    assert_eq!(
        crl.reason_of(ecc),
        None,
        "the ECC certificate is not on the RSA CRL"
    );
    let der = mock.get_bytes("/enos/CA/crl/ECC").await;
    crl_verify(&der, &mock.root("ECC").await).expect("CRL verifies against the ECC root");
    assert_eq!(
        parse_crl(&der, "DER").reason_of(ecc),
        Some(Some("Cessation Of Operation".to_string())),
        "the ECC certificate is revoked on the ECC CRL"
    );

    // The device is gone under both names, for every call.
    assert_row(
        &get_device(&mock, &format!("assetId={dev}")).await,
        &DEVICE_NOT_FOUND,
    );
    assert_row(
        &get_device(&mock, &format!("productKey={key}&deviceKey=doomed")).await,
        &DEVICE_NOT_FOUND,
    );
    assert_row(
        &mock.cert("list", &dev, Value::Null).await,
        &DEVICE_NOT_FOUND,
    );
    assert_row(
        &mock.cert("revoke", &dev, json!({ "certSn": valid })).await,
        &DEVICE_NOT_FOUND,
    );
    assert_row(
        &delete_device(&mock, &format!("assetId={dev}")).await,
        &DEVICE_NOT_FOUND,
    );
}

#[tokio::test]
async fn deleting_a_device_leaves_its_expired_certificates_off_the_crl() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({ "maxValidDay": 1 })).await;
    let dev = new_device(&mock, &key).await;
    let expired = sn(&mock.apply_ok(&dev, "short-1").await);
    mock.advance_clock(Duration::days(2));
    let valid = sn(&mock.apply_ok(&dev, "short-2").await);
    let list = mock.list(&dev).await;
    assert_eq!(row(&list, expired)["certStatus"], 2);
    assert_eq!(row(&list, valid)["certStatus"], 0);

    assert_ok(&delete_device(&mock, &format!("assetId={dev}")).await);
    let crl = parse_crl(&mock.get_bytes("/enos/CA/crl/RSA").await, "DER");
    assert_eq!(
        crl.reason_of(valid),
        Some(Some("Cessation Of Operation".to_string())),
        "{crl:?}"
    );
    assert_eq!(
        crl.reason_of(expired),
        None,
        "only valid certificates are revoked: {crl:?}"
    );
}

#[tokio::test]
async fn a_deleted_devices_subject_and_key_can_be_used_again() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let key = create_product(&mock, json!({})).await;
    let dev1 = create_device(&mock, &key, json!({ "deviceKey": "reused" })).await;
    let dev1 = dev1["assetId"].as_str().unwrap().to_string();
    let dev2 = new_device(&mock, &key).await;
    let dir = tmp();
    let key1 = crate::common::key(dir.path(), "rsa:2048");
    let csr1 = csr_for_key(&key1, &subject("reused-cn"), "sha256");
    let csr2 = rsa_csr("reused-cn");

    let first = sn(&ok_data(
        &mock.cert("apply", &dev1, json!({ "csr": csr1 })).await,
    ));
    // While dev1 lives, its key and its CN are taken.
    let r = mock.cert("apply", &dev2, json!({ "csr": csr1 })).await;
    assert_row(&r, &CERT_BOUND_ELSEWHERE);
    let r = mock.cert("apply", &dev2, json!({ "csr": csr2 })).await;
    assert_want(
        &r,
        &Want::Msg(
            &DUPLICATE_SUBJECT,
            DUPLICATE_SUBJECT.detailed(
                "the subject is already used by a valid certificate",
                &format!("CN reused-cn is the subject of certSn {first}"),
            ),
        ),
    );

    assert_ok(&delete_device(&mock, &format!("assetId={dev1}")).await);
    let r = mock.cert("apply", &dev2, json!({ "csr": csr1 })).await;
    assert_ok(&r);
    assert_eq!(
        cert_subject(r["data"]["cert"].as_str().unwrap()),
        csr_subject(&csr1)
    );

    // The deleted device's deviceKey is free again, too.
    let again = create_device(&mock, &key, json!({ "deviceKey": "reused" })).await;
    assert_eq!(again["deviceKey"], "reused");
    let again = again["assetId"].as_str().unwrap();
    assert!(
        mock.list(again).await.is_empty(),
        "a new device starts bare"
    );
}

// ---------------------------------------------------------------------------
// Flow and alias

#[tokio::test]
async fn enos_apis_alone_take_a_device_through_its_whole_lifecycle() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let root = mock.root("RSA").await;

    let product_key = create_product(
        &mock,
        json!({ "productName": { "defaultValue": "Flow" }, "defaultValidDay": 365, "maxValidDay": 400 }),
    )
    .await;
    let p = product(&mock, &product_key).await;
    assert_eq!(p["biDirectionalAuth"], true, "{p}");

    let created = create_device(&mock, &product_key, json!({ "deviceKey": "flow-1" })).await;
    let asset_id = created["assetId"].as_str().unwrap().to_string();
    let keys = format!("productKey={product_key}&deviceKey=flow-1");
    let r = get_device(&mock, &keys).await;
    assert_ok(&r);
    assert_eq!(r["data"]["assetId"], asset_id.as_str(), "{r}");

    // Apply, naming the device by its keys.
    let csr = rsa_csr("flow-cn");
    let r = mock
        .cert_query(
            &format!("action=apply&orgId={ORG}&{keys}"),
            json!({ "csr": csr }),
        )
        .await;
    assert_ok(&r);
    let first = r["data"].clone();
    let first_pem = first["cert"].as_str().unwrap();
    verify(&root, first_pem).expect("applied certificate verifies");
    assert_eq!(cert_serial(first_pem), sn(&first));
    assert_eq!(cert_subject(first_pem), csr_subject(&csr));
    let (nb, na) = cert_dates(first_pem);
    assert_eq!(na - nb, 365 * DAY_MS, "the product's defaultValidDay");

    // Renew without a CSR.
    let r = mock
        .cert("renew", &asset_id, json!({ "certSn": sn(&first) }))
        .await;
    assert_ok(&r);
    let second = r["data"].clone();
    let second_pem = second["cert"].as_str().unwrap();
    verify(&root, second_pem).expect("renewed certificate verifies");
    assert!(sn(&second) > sn(&first));
    assert_eq!(cert_pubkey(second_pem), cert_pubkey(first_pem));

    // List.
    let list = mock.list(&asset_id).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let old = row(&list, sn(&first));
    assert_eq!(old["certStatus"], 1, "{old}");
    assert_eq!(old["revoker"], "IoT_Hub", "{old}");
    assert_eq!(old["revokerReason"], "SUPERSEDED", "{old}");
    let new = row(&list, sn(&second));
    assert_eq!(new["certStatus"], 0, "{new}");
    assert_eq!(new["revoker"], "", "{new}");

    // Revoke.
    let r = mock
        .cert(
            "revoke",
            &asset_id,
            json!({ "certSn": sn(&second), "reason": 1 }),
        )
        .await;
    assert_ok(&r);
    let new = row(&mock.list(&asset_id).await, sn(&second));
    assert_eq!(new["certStatus"], 1, "{new}");
    assert_eq!(new["revokerReason"], "KEY COMPROMISE", "{new}");
    assert_eq!(new["revoker"], ORG, "unauthenticated revoke: the orgId");
    let crl = parse_crl(&mock.get_bytes("/enos/CA/crl/RSA").await, "DER");
    assert_eq!(
        crl.reason_of(sn(&second)),
        Some(Some("Key Compromise".to_string()))
    );
    assert_eq!(
        crl.reason_of(sn(&first)),
        Some(Some("Superseded".to_string()))
    );

    // Delete the device, then the product.
    assert_ok(&delete_device(&mock, &keys).await);
    assert_row(
        &get_device(&mock, &format!("assetId={asset_id}")).await,
        &DEVICE_NOT_FOUND,
    );
    assert_ok(&delete_product(&mock, &product_key).await);
    assert_row(&get_product(&mock, &product_key).await, &PRODUCT_NOT_FOUND);
}

#[tokio::test]
async fn v2_0_serves_products_and_devices_as_an_alias() {
    let mock = Mock::start().await;
    let v20 = |resource: &str, query: String| format!("/connect-service/v2.0/{resource}?{query}");

    let r = Call::post(v20("products", create_query()), product_body())
        .envelope(&mock)
        .await;
    assert_ok(&r);
    let key = r["data"].as_str().unwrap().to_string();
    let get20 = Call::get(v20(
        "products",
        format!("action=get&orgId={ORG}&productKey={key}"),
    ))
    .envelope(&mock)
    .await;
    assert_ok(&get20);
    assert_eq!(get20["data"], product(&mock, &key).await, "same product");
    let r = Call::post(
        v20(
            "products",
            format!("action=update&orgId={ORG}&productKey={key}"),
        ),
        json!({ "productDesc": "via v2.0" }),
    )
    .envelope(&mock)
    .await;
    assert_ok(&r);
    assert_eq!(product(&mock, &key).await["productDesc"], "via v2.0");
    let r = Call::get(v20(
        "products",
        format!("action=get&orgId={ORG}&productKey=NoSuchPr"),
    ))
    .envelope(&mock)
    .await;
    assert_row(&r, &PRODUCT_NOT_FOUND);

    let r = Call::post(
        v20("devices", create_query()),
        merged(device_body(&key), json!({ "deviceKey": "alias-1" })),
    )
    .envelope(&mock)
    .await;
    assert_ok(&r);
    let asset_id = r["data"]["assetId"].as_str().unwrap().to_string();
    let r = Call::get(v20(
        "devices",
        format!("action=get&orgId={ORG}&productKey={key}&deviceKey=alias-1"),
    ))
    .envelope(&mock)
    .await;
    assert_ok(&r);
    assert_eq!(r["data"], device(&mock, &asset_id).await);
    let r = Call::post(
        v20(
            "devices",
            format!("action=update&orgId={ORG}&assetId={asset_id}"),
        ),
        json!({ "deviceDesc": "via v2.0" }),
    )
    .envelope(&mock)
    .await;
    assert_ok(&r);
    assert_eq!(device(&mock, &asset_id).await["deviceDesc"], "via v2.0");
    let r = Call::post(
        v20(
            "devices",
            format!("action=delete&orgId={ORG}&assetId={asset_id}"),
        ),
        json!({}),
    )
    .envelope(&mock)
    .await;
    assert_ok(&r);
    assert_row(
        &get_device(&mock, &format!("assetId={asset_id}")).await,
        &DEVICE_NOT_FOUND,
    );
    let r = Call::post(
        v20(
            "products",
            format!("action=delete&orgId={ORG}&productKey={key}"),
        ),
        json!({}),
    )
    .envelope(&mock)
    .await;
    assert_ok(&r);
    assert_row(&get_product(&mock, &key).await, &PRODUCT_NOT_FOUND);
}

// ---------------------------------------------------------------------------
// --seed

/// `--seed` does not fix serials (each run starts at a random one), so these runs also
/// give `--first-serial`, as a reproducible test would.
fn seeded(seed: Option<u64>) -> Config {
    Config {
        seed,
        first_serial: Some(enos_cert_mock::Serial::new(1000)),
        ..Config::default()
    }
}

async fn advance_seconds(mock: &Mock, seconds: i64) {
    let (status, body) = post_clock(mock, json!({ "advanceSeconds": seconds })).await;
    assert_eq!(status, 200, "{body}");
}

/// Control calls, which must draw nothing from the seeded generator.
async fn control_calls(mock: &Mock) {
    let health = mock
        .http
        .get(mock.url("/__admin/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    advance_seconds(mock, 5).await;
    let requests = mock.get_json("/__admin/requests").await;
    assert!(requests.is_array(), "{requests}");
    let clock = mock.get_json("/__admin/clock").await;
    assert!(clock["now"].is_string(), "{clock}");
    let errors = mock.get_json("/__admin/errors").await;
    assert!(errors.is_array(), "{errors}");
    let fault = mock
        .admin(
            "/__admin/faults",
            json!({ "action": "revoke", "error": "cert_service_internal", "times": 1 }),
        )
        .await;
    assert!(fault.to_string().contains("fault-"), "{fault}");
    let cleared = mock
        .http
        .delete(mock.url("/__admin/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    let org = mock
        .http
        .post(mock.url("/__admin/orgs"))
        .json(&json!({ "orgId": "o17000000000007", "apps": [] }))
        .send()
        .await
        .unwrap();
    assert!(org.status().is_success(), "{}", org.status());
}

/// One labelled value of a run.
type Transcript = Vec<(&'static str, String)>;

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is a string"))
        .to_string()
}

/// The EnOS calls of a seeded run: create product, get it, create a device
/// without deviceKey, apply, list. With `control`, control calls between them.
async fn seeded_run(mock: &Mock, csr: &str, control: bool) -> Transcript {
    let mut t = Transcript::new();
    if control {
        control_calls(mock).await;
    }
    let r = products(mock, &create_query(), product_body()).await;
    assert_ok(&r);
    t.push(("product create requestId", text(&r["requestId"])));
    t.push(("productKey", text(&r["data"])));
    let product_key = text(&r["data"]);
    if control {
        control_calls(mock).await;
    }
    let r = get_product(mock, &product_key).await;
    assert_ok(&r);
    t.push(("product get requestId", text(&r["requestId"])));
    t.push(("productSecret", text(&r["data"]["productSecret"])));
    let r = devices(mock, &create_query(), device_body(&product_key)).await;
    assert_ok(&r);
    t.push(("device create requestId", text(&r["requestId"])));
    for f in ["assetId", "deviceKey", "deviceSecret"] {
        t.push((f, text(&r["data"][f])));
    }
    let asset_id = text(&r["data"]["assetId"]);
    if control {
        control_calls(mock).await;
    }
    let r = mock.cert("apply", &asset_id, json!({ "csr": csr })).await;
    assert_ok(&r);
    t.push(("apply requestId", text(&r["requestId"])));
    t.push(("certSN", text(&r["data"]["certSN"])));
    if control {
        control_calls(mock).await;
    }
    let r = mock.cert("list", &asset_id, Value::Null).await;
    assert_ok(&r);
    t.push(("list requestId", text(&r["requestId"])));
    let serials: Vec<String> = r["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| text(&row["certSN"]))
        .collect();
    t.push(("list certSNs", serials.join(",")));
    t
}

fn value<'a>(t: &'a Transcript, label: &str) -> &'a str {
    &t.iter()
        .find(|(l, _)| *l == label)
        .unwrap_or_else(|| panic!("no {label} in {t:?}"))
        .1
}

/// The labels whose values differ between two runs.
fn differing(a: &Transcript, b: &Transcript) -> Vec<&'static str> {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.1 != y.1)
        .map(|(x, _)| x.0)
        .collect()
}

const GENERATED: [&str; 10] = [
    "product create requestId",
    "productKey",
    "product get requestId",
    "productSecret",
    "device create requestId",
    "assetId",
    "deviceKey",
    "deviceSecret",
    "apply requestId",
    "list requestId",
];

#[tokio::test]
async fn the_same_seed_gives_the_same_identifiers_and_serials() {
    let csr = rsa_csr("seeded");
    let a = Mock::start_with(seeded(Some(7))).await;
    let b = Mock::start_with(seeded(Some(7))).await;
    let ta = seeded_run(&a, &csr, false).await;
    let tb = seeded_run(&b, &csr, false).await;
    assert_eq!(ta, tb, "seed 7 twice");
    assert!(is_alnum(value(&ta, "productKey"), 8), "{ta:?}");
    assert!(is_alnum(value(&ta, "assetId"), 8), "{ta:?}");
    assert!(is_alnum(value(&ta, "deviceSecret"), 20), "{ta:?}");
    for label in GENERATED.iter().filter(|l| l.ends_with("requestId")) {
        assert!(is_uuid_v4(value(&ta, label)), "{label}: {ta:?}");
    }
    assert_eq!(value(&ta, "list certSNs"), value(&ta, "certSN"));
    // A second round on both continues identically.
    let csr2 = rsa_csr("seeded-2");
    assert_eq!(
        seeded_run(&a, &csr2, false).await,
        seeded_run(&b, &csr2, false).await
    );
}

#[tokio::test]
async fn another_seed_gives_other_identifiers() {
    let csr = rsa_csr("seeded");
    let t7 = seeded_run(&Mock::start_with(seeded(Some(7))).await, &csr, false).await;
    let t8 = seeded_run(&Mock::start_with(seeded(Some(8))).await, &csr, false).await;
    assert_eq!(
        differing(&t7, &t8),
        GENERATED.to_vec(),
        "every generated identifier differs: {t7:?} vs {t8:?}"
    );
}

#[tokio::test]
async fn control_calls_draw_nothing_from_the_seeded_generator() {
    let csr = rsa_csr("seeded");
    let quiet = seeded_run(&Mock::start_with(seeded(Some(7))).await, &csr, false).await;
    let busy = seeded_run(&Mock::start_with(seeded(Some(7))).await, &csr, true).await;
    assert_eq!(quiet, busy, "control calls changed the sequence");
}

#[tokio::test]
async fn reset_restarts_the_seeded_sequence_while_serials_keep_counting() {
    let csr = rsa_csr("seeded");
    let fresh = seeded_run(&Mock::start_with(seeded(Some(7))).await, &csr, false).await;
    let mock = Mock::start_with(seeded(Some(7))).await;
    let first = seeded_run(&mock, &csr, false).await;
    assert_eq!(first, fresh);
    let reset = mock
        .http
        .post(mock.url("/__admin/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    // The state went back to the fixtures (read by a control call, which draws nothing).
    let fixture_counts = counts(&Mock::start_with(seeded(Some(7))).await).await;
    assert_eq!(counts(&mock).await, fixture_counts);
    let after = seeded_run(&mock, &csr, false).await;
    // Identifiers start over ...
    assert_eq!(differing(&fresh, &after), ["certSN", "list certSNs"]);
    // ... but serials are never reused: they go on from where they were.
    let before_serial: u64 = value(&first, "certSN").parse().unwrap();
    let after_serial: u64 = value(&after, "certSN").parse().unwrap();
    assert_eq!(after_serial, before_serial + 1, "{first:?} / {after:?}");
    assert_eq!(value(&after, "list certSNs"), after_serial.to_string());
}

#[tokio::test]
async fn without_a_seed_two_mocks_differ() {
    let csr = rsa_csr("unseeded");
    let a = seeded_run(&Mock::start_with(seeded(None)).await, &csr, false).await;
    let b = seeded_run(&Mock::start_with(seeded(None)).await, &csr, false).await;
    assert_eq!(
        differing(&a, &b),
        GENERATED.to_vec(),
        "unseeded identifiers repeat: {a:?} vs {b:?}"
    );
}

// ---------------------------------------------------------------------------
// Device delete racing certificate calls

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_device_deleted_amid_applies_leaves_no_valid_certificate_behind() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let product_key = create_product(&mock, json!({})).await;
    let dir = tmp();
    let device_key = crate::common::key(dir.path(), "rsa:2048");
    let csrs: Vec<String> = (0..40)
        .map(|i| csr_for_key(&device_key, &subject(&format!("amid-{i}")), "sha256"))
        .collect();
    let dev = new_device(&mock, &product_key).await;

    // Twenty applies, the delete, twenty more: all in flight at once.
    let selector = format!("assetId={dev}");
    let mut calls: Vec<futures::future::BoxFuture<'_, Value>> = Vec::new();
    for (i, csr) in csrs.iter().enumerate() {
        if i == csrs.len() / 2 {
            calls.push(Box::pin(delete_device(&mock, &selector)));
        }
        calls.push(Box::pin(mock.cert("apply", &dev, json!({ "csr": csr }))));
    }
    let mut answers = futures::future::join_all(calls).await;
    let deleted = answers.remove(csrs.len() / 2);
    assert_ok(&deleted);

    // Every certificate answered to an apply is either revoked with the device
    // or was never issued (11404): none stays valid without a device.
    let root = mock.root("RSA").await;
    let crl = parse_crl(&mock.get_bytes("/enos/CA/crl/RSA").await, "DER");
    let mut revoked = Vec::new();
    let mut leaked = Vec::new();
    let mut refused = 0;
    for r in &answers {
        if r["code"] == 0 {
            let serial = sn(&r["data"]);
            match crl.reason_of(serial) {
                Some(Some(reason)) if reason == "Cessation Of Operation" => revoked.push(serial),
                _ => {
                    verify(&root, r["data"]["cert"].as_str().unwrap())
                        .expect("a leaked certificate is a real one");
                    leaked.push(serial);
                }
            }
        } else {
            assert_row(r, &DEVICE_NOT_FOUND);
            refused += 1;
        }
    }
    assert!(
        leaked.is_empty(),
        "apply answered code 0 with certificates of the deleted device that are not revoked \
         (nor listed anywhere): {leaked:?}; revoked with the device: {revoked:?}; refused 11404: {refused}"
    );
}
