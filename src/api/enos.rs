//! What every EnOS business call shares: a requestId, the action from the
//! query, injected faults, and the envelope around the answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;

use crate::auth::Caller;
use crate::domain::errors::{EnosError, ErrorKey};
use crate::domain::faults::CallDevice;
use crate::domain::model::DeviceId;
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
fn org_id(query: &Query) -> Result<String, EnosError> {
    query
        .non_empty("orgId")
        .map(str::to_string)
        .ok_or_else(|| EnosError::new(ErrorKey::OrgMissing))
}

/// `assetId`, or `productKey` + `deviceKey`, from the query.
pub fn device_ref(query: &Query) -> Result<DeviceId, EnosError> {
    DeviceId::from_parts(
        query.get("assetId"),
        query.get("productKey"),
        query.get("deviceKey"),
    )
}

fn require_post(method: &Method, action: &str) -> Result<(), EnosError> {
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
    fault_header: Option<&str>,
    request_id: &str,
) -> Option<Response> {
    if let Some(key) = fault_header {
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
    let names = device_ref(query)
        .ok()
        .map(|d| service.store.device_names(&d).unwrap_or_else(|| d.into()));
    let device = names
        .as_ref()
        .map(|n| CallDevice {
            asset_id: Some(n.asset_id.as_str()).filter(|s| !s.is_empty()),
            product_key: Some(n.product_key.as_str()).filter(|s| !s.is_empty()),
            device_key: Some(n.device_key.as_str()).filter(|s| !s.is_empty()),
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

/// An EnOS business call as every resource reads it: the gateway's verdict on
/// the caller, the raw query and the body.
pub struct EnosRequest {
    service: Arc<Service>,
    method: Method,
    caller: Option<Caller>,
    fault_header: Option<String>,
    raw_query: Option<String>,
    body: Bytes,
}

impl FromRequest<Arc<Service>> for EnosRequest {
    type Rejection = Response;

    async fn from_request(request: Request, service: &Arc<Service>) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let caller = parts.extensions.get::<Caller>().cloned();
        let fault_header = parts
            .headers
            .get(FAULT_HEADER)
            .map(|v| v.to_str().unwrap_or("").trim().to_string());
        let raw_query = parts.uri.query().map(str::to_string);
        let method = parts.method.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), service)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(EnosRequest {
            service: service.clone(),
            method,
            caller,
            fault_header,
            raw_query,
            body,
        })
    }
}

/// One EnOS call after the shared steps: what a resource's handler works from.
pub struct Call {
    pub service: Arc<Service>,
    pub body: Bytes,
    /// The app the gateway recognised, if any.
    pub caller: Option<Caller>,
    pub action: &'static str,
    pub org_id: String,
    pub query: Query,
    pub request_id: String,
}

impl Call {
    /// The recognised app's org, for the org-access rule.
    pub fn caller_org(&self) -> Option<&str> {
        self.caller.as_ref().map(|c| c.org_id.as_str())
    }
}

impl EnosRequest {
    /// Answers the call in the envelope: requestId, action, injected faults, the
    /// method (`reads` may be GET, the rest need POST), orgId, then `run`.
    pub async fn answer<F, Fut>(self, actions: Actions, reads: &[&str], run: F) -> Response
    where
        F: FnOnce(Call) -> Fut,
        Fut: Future<Output = Result<Response, EnosError>>,
    {
        let service = self.service;
        let query = Query::parse(self.raw_query.as_deref());
        let request_id = service.ids.uuid();
        let action = match action(&query, actions) {
            Ok(a) => a,
            Err(e) => return envelope::error(&request_id, &e),
        };
        let fault_header = self.fault_header.as_deref();
        let mut response = match injected(&service, action, &query, fault_header, &request_id).await
        {
            Some(r) => r,
            None => {
                let answered = async {
                    if !reads.contains(&action) {
                        require_post(&self.method, action)?;
                    }
                    let call = Call {
                        service,
                        body: self.body,
                        caller: self.caller,
                        action,
                        org_id: org_id(&query)?,
                        query,
                        request_id: request_id.clone(),
                    };
                    run(call).await
                };
                answered
                    .await
                    .unwrap_or_else(|e| envelope::error(&request_id, &e))
            }
        };
        response.extensions_mut().insert(AnswerAction(action));
        response
    }
}
