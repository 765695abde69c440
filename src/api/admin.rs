//! The `/__admin` control plane: health, clock, reset, error catalogue, orgs.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::clock::{parse_rfc3339, rfc3339};
use crate::domain::errors::CATALOGUE;
use crate::domain::model::{App, Org};
use crate::service::Service;

use super::envelope;

fn bad_request(message: &str) -> Response {
    envelope::message(StatusCode::BAD_REQUEST, message)
}

/// Parses a control-plane body; unknown keys are refused so typos do not pass silently.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| bad_request(&format!("invalid body: {e}")))
}

fn clock_view(service: &Service) -> serde_json::Value {
    json!({
        "now": rfc3339(service.clock.now_ms()),
        "offsetSeconds": service.clock.offset_seconds(),
    })
}

pub async fn health(State(service): State<Arc<Service>>) -> Response {
    let fixtures = service.fixtures.read().clone();
    let loaded = &fixtures.loaded;
    let cas: Vec<_> = [&service.cas.rsa, &service.cas.ecc]
        .iter()
        .map(|ca| {
            json!({
                "issueAuthority": ca.authority.as_str(),
                "subject": &*ca.subject,
                "fingerprintSha256": ca.fingerprint,
                "notBefore": rfc3339(ca.not_before_ms),
                "notAfter": rfc3339(ca.not_after_ms),
                "remainingDays": (ca.not_after_ms - service.clock.now_ms()).max(0) / crate::domain::rules::DAY_MS,
            })
        })
        .collect();
    let products: Vec<_> = loaded
        .products
        .iter()
        .map(|p| {
            json!({
                "orgId": p.org_id, "productKey": p.product_key,
                "biDirectionalAuth": p.bi_directional_auth,
                "defaultValidDay": p.default_valid_day, "maxValidDay": p.max_valid_day,
            })
        })
        .collect();
    let devices: Vec<_> = loaded
        .devices
        .iter()
        .map(|d| {
            json!({
                "orgId": d.org_id, "assetId": d.asset_id,
                "productKey": d.product_key, "deviceKey": d.device_key,
            })
        })
        .collect();
    envelope::json(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "fixturesFile": fixtures.path,
            "fixtures": { "orgs": loaded.orgs, "products": products, "devices": devices },
            "cas": cas,
            "clock": clock_view(&service),
            "counts": service.store.counts(),
            "renewPolicy": service.renew_policy,
            "auth": service.gateway.mode(),
            "publicUrl": service.public_url,
        }),
    )
}

pub async fn get_clock(State(service): State<Arc<Service>>) -> Response {
    envelope::json(StatusCode::OK, &clock_view(&service))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ClockChange {
    advance_seconds: Option<i64>,
    advance_days: Option<i64>,
    set: Option<String>,
    reset: Option<bool>,
}

pub async fn set_clock(State(service): State<Arc<Service>>, body: Bytes) -> Response {
    let change: ClockChange = match parse(&body) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let given = [
        change.advance_seconds.is_some(),
        change.advance_days.is_some(),
        change.set.is_some(),
        change.reset.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return bad_request("give exactly one of advanceSeconds, advanceDays, set, reset");
    }
    let clock = &service.clock;
    if let Some(s) = change.advance_seconds {
        clock.advance_ms(s.saturating_mul(1000));
    } else if let Some(d) = change.advance_days {
        clock.advance_ms(d.saturating_mul(crate::domain::rules::DAY_MS));
    } else if let Some(set) = change.set {
        match parse_rfc3339(&set) {
            Some(ms) => clock.set_ms(ms),
            None => return bad_request(&format!("set: {set:?} is not an RFC 3339 date-time")),
        }
    } else if change.reset == Some(true) {
        clock.reset();
    } else {
        return bad_request("reset must be true");
    }
    envelope::json(StatusCode::OK, &clock_view(&service))
}

pub async fn reset(State(service): State<Arc<Service>>) -> Response {
    service.reset();
    envelope::json(
        StatusCode::OK,
        &json!({ "status": "reset", "counts": service.store.counts(), "clock": clock_view(&service) }),
    )
}

pub async fn errors() -> Response {
    let rows: Vec<_> = CATALOGUE
        .iter()
        .map(|d| json!({ "key": d.key, "code": d.code, "msg": d.template, "actions": d.actions }))
        .collect();
    envelope::json(StatusCode::OK, &rows)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OrgBody {
    org_id: String,
    #[serde(default)]
    apps: Vec<AppBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppBody {
    app_key: String,
    app_secret: String,
}

pub async fn create_org(State(service): State<Arc<Service>>, body: Bytes) -> Response {
    let org: OrgBody = match parse(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if org.org_id.is_empty() {
        return bad_request("orgId must not be empty");
    }
    if org
        .apps
        .iter()
        .any(|a| a.app_key.is_empty() || a.app_secret.is_empty())
    {
        return bad_request("appKey and appSecret must not be empty");
    }
    let org = Org {
        org_id: org.org_id,
        apps: org
            .apps
            .into_iter()
            .map(|a| App {
                app_key: a.app_key,
                app_secret: a.app_secret,
            })
            .collect(),
    };
    match service.store.upsert_org(org.clone()) {
        Ok(()) => envelope::json(StatusCode::OK, &org),
        Err(e) => bad_request(&e),
    }
}

pub async fn list_orgs(State(service): State<Arc<Service>>) -> Response {
    envelope::json(StatusCode::OK, &service.store.orgs())
}
