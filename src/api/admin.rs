//! The `/__admin` control plane: health, clock, reset, reload, error catalogue,
//! orgs, faults and the request journal.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::clock::{parse_rfc3339, rfc3339};
use crate::domain::errors::{ErrorKey, ALL, CATALOGUE};
use crate::domain::faults::{DeviceScope, FaultSpec};
use crate::domain::model::Authority;
use crate::domain::model::{App, Org};
use crate::journal::Filter;
use crate::service::{BulkSpec, Service};

use super::envelope;
use super::params::Query;

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
            "fixturesFile": fixtures.name,
            "fixtures": { "orgs": loaded.orgs, "products": products, "devices": devices },
            "cas": cas,
            "clock": clock_view(&service),
            "counts": service.store.counts(),
            "renewPolicy": service.renew_policy,
            "seed": service.ids.seed(),
            "faults": service.faults.list().len(),
            "journal": { "entries": service.journal.len(), "capacity": service.journal.capacity() },
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

pub async fn reload(State(service): State<Arc<Service>>) -> Response {
    match service.reload() {
        Ok(()) => envelope::json(
            StatusCode::OK,
            &json!({ "status": "reloaded", "fixturesFile": service.fixtures.read().name, "counts": service.store.counts() }),
        ),
        Err(e) => bad_request(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FaultBody {
    action: String,
    error: Option<String>,
    http_status: Option<u16>,
    delay_ms: Option<u64>,
    times: Option<u32>,
    asset_id: Option<String>,
    product_key: Option<String>,
    device_key: Option<String>,
}

/// What a fault can name: any EnOS action, or `*`.
fn fault_action_known(action: &str) -> bool {
    action == "*" || ALL.contains(&action)
}

fn fault_spec(body: FaultBody) -> Result<FaultSpec, String> {
    if !fault_action_known(&body.action) {
        return Err(format!("action must be one of *, {}", ALL.join(", ")));
    }
    let error = body
        .error
        .as_deref()
        .map(|k| {
            ErrorKey::from_key(k).ok_or_else(|| {
                format!("error {k:?} is not a catalogue key (see GET /__admin/errors)")
            })
        })
        .transpose()?;
    if let Some(status) = body.http_status {
        if !(100..=599).contains(&status) {
            return Err("httpStatus must be between 100 and 599".into());
        }
    }
    if error.is_none() && body.http_status.is_none() && body.delay_ms.is_none() {
        return Err("give at least one of error, httpStatus, delayMs".into());
    }
    if body.delay_ms.is_some_and(|d| d > 600_000) {
        return Err("delayMs must be at most 600000".into());
    }
    if body.times == Some(0) {
        return Err("times must be at least 1 (leave it out for every matching call)".into());
    }
    let scope = match (body.asset_id, body.product_key, body.device_key) {
        (None, None, None) => None,
        (Some(a), _, _) => Some(DeviceScope {
            asset_id: Some(a),
            product_key: None,
            device_key: None,
        }),
        (None, Some(p), Some(d)) => Some(DeviceScope {
            asset_id: None,
            product_key: Some(p),
            device_key: Some(d),
        }),
        _ => return Err("a device scope is assetId, or productKey with deviceKey".into()),
    };
    Ok(FaultSpec {
        action: body.action,
        error,
        http_status: body.http_status,
        delay_ms: body.delay_ms,
        times: body.times,
        scope,
    })
}

pub async fn add_fault(State(service): State<Arc<Service>>, body: Bytes) -> Response {
    let body: FaultBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match fault_spec(body) {
        Ok(spec) => envelope::json(StatusCode::OK, &service.faults.add(spec)),
        Err(e) => bad_request(&e),
    }
}

pub async fn list_faults(State(service): State<Arc<Service>>) -> Response {
    envelope::json(StatusCode::OK, &service.faults.list())
}

pub async fn clear_faults(State(service): State<Arc<Service>>) -> Response {
    service.faults.clear();
    envelope::json(StatusCode::OK, &json!([]))
}

pub async fn requests(State(service): State<Arc<Service>>, RawQuery(raw): RawQuery) -> Response {
    let query = Query::parse(raw.as_deref());
    let code = match query.non_empty("code").map(str::parse::<i64>).transpose() {
        Ok(c) => c,
        Err(_) => return bad_request("code must be an integer"),
    };
    let limit = match query
        .non_empty("limit")
        .map(str::parse::<usize>)
        .transpose()
    {
        Ok(l) => l,
        Err(_) => return bad_request("limit must be a non-negative integer"),
    };
    let filter = Filter {
        action: query.non_empty("action").map(str::to_string),
        code,
        limit,
    };
    envelope::json(StatusCode::OK, &service.journal.query(&filter))
}

pub async fn clear_requests(State(service): State<Arc<Service>>) -> Response {
    service.journal.clear();
    envelope::json(StatusCode::OK, &json!([]))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BulkBody {
    org_id: String,
    product_key: String,
    count: u64,
    #[serde(default = "default_prefix")]
    prefix: String,
    issue_authority: Option<String>,
}

fn default_prefix() -> String {
    "bulk".into()
}

pub async fn bulk_devices(State(service): State<Arc<Service>>, body: Bytes) -> Response {
    let body: BulkBody = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let authority = match body.issue_authority.as_deref().map(Authority::parse) {
        None => None,
        Some(Some(a)) => Some(a),
        Some(None) => {
            return bad_request("issueAuthority must be RSA or ECC (or absent for no certificates)")
        }
    };
    let spec = BulkSpec {
        org_id: body.org_id,
        product_key: body.product_key,
        count: body.count,
        prefix: body.prefix,
        authority,
    };
    let worker = service.clone();
    match tokio::task::spawn_blocking(move || worker.bulk_devices(&spec)).await {
        Ok(Ok(loaded)) => envelope::json(StatusCode::OK, &loaded),
        Ok(Err(e)) => bad_request(&e),
        Err(e) => envelope::message(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("bulk load failed: {e}"),
        ),
    }
}
