//! What every EnOS business call shares: a requestId, the action from the
//! query, injected faults, the method, `orgId`, and the envelope around the answer.

use std::future::Future;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::response::Response;

use crate::app::faults::Fault;
use crate::app::App;
use crate::domain::actions::{Action, ResourceAction};
use crate::domain::errors::{EnosError, ErrorKey};
use crate::domain::model::CallerApp;
use crate::domain::model::DeviceId;
use crate::service::CallerContext;

use super::envelope::{self, AnswerAction};
use super::params::Query;

/// The header that makes one call fail with a catalogue row, without an admin call.
pub(crate) const FAULT_HEADER: &str = "x-enos-mock-fault";

fn action<A: ResourceAction>(query: &Query) -> Result<A, EnosError> {
    let given = query
        .non_empty("action")
        .ok_or_else(|| EnosError::new(ErrorKey::ActionMissing))?;
    A::from_query(given).ok_or_else(|| EnosError::new(ErrorKey::ActionInvalid))
}

/// `orgId`, mandatory on every EnOS call.
fn org_id(query: &Query) -> Result<String, EnosError> {
    query
        .non_empty("orgId")
        .map(str::to_string)
        .ok_or_else(|| EnosError::new(ErrorKey::OrgMissing))
}

/// `assetId`, or `productKey` + `deviceKey`, from the query.
pub(crate) fn device_id(query: &Query) -> Result<DeviceId, EnosError> {
    DeviceId::from_parts(
        query.get("assetId"),
        query.get("productKey"),
        query.get("deviceKey"),
    )
}

/// Longest method name an answer repeats: an overlong one is cut, not echoed whole.
const METHOD_SHOWN: usize = 32;

/// Reads may be GET or POST, everything else POST: any other method, standard
/// (PUT, TRACE) or not (`BREW`), gets EnOS's own refusal rather than a framework 405.
fn check_method(method: &Method, action: &str, is_read: bool) -> Result<(), EnosError> {
    if method == Method::POST || (is_read && method == Method::GET) {
        return Ok(());
    }
    let wanted = if is_read { "GET or POST" } else { "POST" };
    let name = method.as_str();
    let shown = match name.char_indices().nth(METHOD_SHOWN) {
        Some((cut, _)) => format!("{}...", &name[..cut]),
        None => name.to_string(),
    };
    Err(EnosError::invalid_argument(
        "method",
        format!("action {action} must be called with {wanted}, not {shown}"),
    ))
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

/// The answer to a call that names a row in the fault header.
fn header_fault(key: &str, query: &Query, request_id: &str) -> Response {
    let e = match ErrorKey::from_key(key) {
        Some(k) => injected_error(k, query, FAULT_HEADER),
        None => EnosError::invalid_argument(FAULT_HEADER, format!("unknown catalogue key {key:?}")),
    };
    envelope::error(request_id, &e)
}

/// A registered fault's answer after its delay: its row (under its status, or 200),
/// a bare status, or `None` for a delay only.
async fn fault_answer(fault: &Fault, query: &Query, request_id: &str) -> Option<Response> {
    if let Some(ms) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let status = fault.http_status.and_then(|s| StatusCode::from_u16(s).ok());
    match (fault.error, status) {
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

/// The fault this call meets, if any: the header first, then registered faults.
async fn injected(
    app: &App,
    action: Action,
    query: &Query,
    fault_header: Option<&str>,
    request_id: &str,
) -> Option<Response> {
    if let Some(key) = fault_header {
        return Some(header_fault(key, query, request_id));
    }
    let device = device_id(query).ok();
    let fault = app.fault_for(action, device.as_ref())?;
    fault_answer(&fault, query, request_id).await
}

/// An EnOS business call as every resource reads it: the gateway's verdict on
/// the caller, the raw query and the body.
pub(crate) struct EnosRequest {
    app: App,
    method: Method,
    caller: Option<CallerApp>,
    /// How the client named the mock, for links when it has no fixed public URL.
    host: Option<String>,
    fault_header: Option<String>,
    raw_query: Option<String>,
    body: Bytes,
}

impl FromRequest<App> for EnosRequest {
    type Rejection = Response;

    async fn from_request(request: Request, app: &App) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let caller = parts.extensions.get::<CallerApp>().cloned();
        let fault_header = parts
            .headers
            .get(FAULT_HEADER)
            .map(|v| v.to_str().unwrap_or("").trim().to_string());
        let raw_query = parts.uri.query().map(str::to_string);
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let method = parts.method.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), app)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(EnosRequest {
            app: app.clone(),
            method,
            caller,
            host,
            fault_header,
            raw_query,
            body,
        })
    }
}

/// One EnOS call after the shared steps: what a resource's handler works from.
pub(crate) struct Call<A> {
    pub app: App,
    pub body: Bytes,
    pub action: A,
    pub caller: CallerContext,
    pub query: Query,
    pub request_id: String,
}

impl EnosRequest {
    /// Answers the call in the envelope: requestId, action, injected faults, the
    /// method (reads may be GET, the rest need POST), orgId, then `run`.
    pub(crate) async fn answer<A, F, Fut>(self, run: F) -> Response
    where
        A: ResourceAction + Into<Action>,
        F: FnOnce(Call<A>) -> Fut,
        Fut: Future<Output = Result<Response, EnosError>>,
    {
        let app = self.app;
        let query = Query::parse(self.raw_query.as_deref());
        let request_id = app.service.request_id();
        let action: A = match action(&query) {
            Ok(a) => a,
            Err(e) => return envelope::error(&request_id, &e),
        };
        let fault_header = self.fault_header.as_deref();
        let injected = injected(&app, action.into(), &query, fault_header, &request_id).await;
        let mut response = match injected {
            Some(r) => r,
            None => {
                let answered = async {
                    check_method(&self.method, action.name(), action.is_read())?;
                    let caller = CallerContext {
                        org_id: org_id(&query)?,
                        app: self.caller,
                        host: self.host,
                    };
                    let call = Call {
                        app,
                        body: self.body,
                        action,
                        caller,
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
        response
            .extensions_mut()
            .insert(AnswerAction(action.name()));
        response
    }
}
