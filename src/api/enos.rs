//! What every EnOS business call shares: a requestId, the action from the
//! query, injected faults, and the envelope around the answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;

use crate::domain::errors::{EnosError, ErrorKey};
use crate::domain::faults::CallDevice;
use crate::domain::rules::DeviceRef;
use crate::service::Service;

use super::envelope::{self, AnswerAction};
use super::params::Query;

/// The header that makes one call fail with a catalogue row, without an admin call.
pub const FAULT_HEADER: &str = "x-enos-mock-fault";

/// A query `action` value and the name the mock knows it by.
pub type Actions = &'static [(&'static str, &'static str)];

fn action(query: &Query, actions: Actions) -> Result<&'static str, EnosError> {
    let given = query
        .non_empty("action")
        .ok_or_else(|| EnosError::new(ErrorKey::ActionMissing))?;
    actions
        .iter()
        .find(|(value, _)| *value == given)
        .map(|(_, name)| *name)
        .ok_or_else(|| EnosError::new(ErrorKey::ActionInvalid))
}

/// `orgId`, mandatory on every EnOS call.
pub fn org_id(query: &Query) -> Result<String, EnosError> {
    query
        .non_empty("orgId")
        .map(str::to_string)
        .ok_or_else(|| EnosError::new(ErrorKey::OrgMissing))
}

/// `assetId`, or `productKey` + `deviceKey`, from the query.
pub fn device_ref(query: &Query) -> Result<DeviceRef, EnosError> {
    DeviceRef::from_parts(
        query.get("assetId"),
        query.get("productKey"),
        query.get("deviceKey"),
    )
}

pub fn require_post(method: &Method, action: &str) -> Result<(), EnosError> {
    if method == Method::POST {
        Ok(())
    } else {
        Err(EnosError::invalid_argument(
            "method",
            format!("action {action} must be called with POST, not {method}"),
        ))
    }
}

/// An injected row with its placeholders filled in recognisably.
fn injected_error(key: ErrorKey, query: &Query, detail: &str) -> EnosError {
    EnosError::with(
        key,
        &[
            ("code", "500"),
            ("message", "injected fault"),
            ("detail", detail),
            ("field", "fault"),
            ("reason", "injected fault"),
            ("orgId", query.get("orgId").unwrap_or("")),
            ("count", "1"),
            ("method", "POST"),
            ("path", "/"),
        ],
    )
}

/// The fault this call meets, if any: the header first, then registered faults.
async fn injected(
    service: &Service,
    action: &str,
    query: &Query,
    headers: &HeaderMap,
    request_id: &str,
) -> Option<Response> {
    if let Some(value) = headers.get(FAULT_HEADER) {
        let key = value.to_str().unwrap_or("").trim();
        let e = match ErrorKey::from_key(key) {
            Some(k) => injected_error(k, query, FAULT_HEADER),
            None => {
                EnosError::invalid_argument(FAULT_HEADER, format!("unknown catalogue key {key:?}"))
            }
        };
        return Some(envelope::error(request_id, &e));
    }
    if service.faults.is_empty() {
        return None;
    }
    let names = device_ref(query).ok().map(|d| {
        service.store.device_names(&d).unwrap_or_else(|| match d {
            DeviceRef::AssetId(a) => (a, String::new(), String::new()),
            DeviceRef::Keys {
                product_key,
                device_key,
            } => (String::new(), product_key, device_key),
        })
    });
    let device = names
        .as_ref()
        .map(|(a, p, d)| CallDevice {
            asset_id: Some(a.as_str()).filter(|s| !s.is_empty()),
            product_key: Some(p.as_str()).filter(|s| !s.is_empty()),
            device_key: Some(d.as_str()).filter(|s| !s.is_empty()),
        })
        .unwrap_or_default();
    let fault = service.faults.take(action, &device)?;
    if let Some(ms) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = fault.http_status.and_then(|s| StatusCode::from_u16(s).ok());
    match (fault.error_key(), status) {
        (Some(key), status) => Some(envelope::enos_error(
            status.unwrap_or(StatusCode::OK),
            request_id,
            &injected_error(key, query, &fault.id),
        )),
        (None, Some(status)) => Some(envelope::message(
            status,
            &format!("injected fault {}", fault.id),
        )),
        (None, None) => None,
    }
}

/// Answers one EnOS call: requestId, action, faults, then `run`, all in the envelope.
pub async fn answer<F, Fut>(
    service: Arc<Service>,
    headers: &HeaderMap,
    raw_query: Option<String>,
    actions: Actions,
    run: F,
) -> Response
where
    F: FnOnce(Arc<Service>, &'static str, Query, String) -> Fut,
    Fut: Future<Output = Result<Response, EnosError>>,
{
    let query = Query::parse(raw_query.as_deref());
    let request_id = service.ids.uuid();
    let action = match action(&query, actions) {
        Ok(a) => a,
        Err(e) => return envelope::error(&request_id, &e),
    };
    let mut response = match injected(&service, action, &query, headers, &request_id).await {
        Some(r) => r,
        None => match run(service, action, query, request_id.clone()).await {
            Ok(r) => r,
            Err(e) => envelope::error(&request_id, &e),
        },
    };
    response.extensions_mut().insert(AnswerAction(action));
    response
}
