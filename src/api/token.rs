//! `/apim-token-service/v2.0/token/{get,refresh}` (A9.1): always HTTP 200, the outcome in
//! `status` of `{status, msg, business, data}`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::app::App;
use crate::auth::tokens::Issued;
use crate::auth::TokenRequest;
use crate::domain::errors::{EnosError, ErrorKey};

use super::envelope;

const BUSINESS: &str = "apim-token-service";

/// The token service's answer: always HTTP 200, the outcome in `status`.
#[derive(Serialize, ToSchema)]
pub(crate) struct TokenReply<'a> {
    status: i64,
    msg: &'a str,
    business: &'static str,
    /// On success.
    data: Option<TokenView<'a>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenView<'a> {
    access_token: &'a str,
    expire: i64,
}

fn reply(outcome: Result<Issued, EnosError>) -> Response {
    let body = match &outcome {
        Ok(issued) => TokenReply {
            status: 0,
            msg: "Success",
            business: BUSINESS,
            data: Some(TokenView {
                access_token: &issued.access_token,
                expire: issued.expire_seconds,
            }),
        },
        Err(e) => TokenReply {
            status: e.code(),
            msg: &e.msg,
            business: BUSINESS,
            data: None,
        },
    };
    envelope::json(StatusCode::OK, &body)
}

fn invalid(reason: &str) -> EnosError {
    EnosError::with(ErrorKey::TokenParamInvalid, &[("reason", reason)])
}

/// A field as text: strings as sent, numbers in decimal (clients send `timestamp` both
/// ways), absent or null as empty.
fn text(body: &Map<String, Value>, name: &str) -> Result<String, EnosError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(_) => Err(invalid(&format!("{name} must be a string"))),
    }
}

/// An empty body is a request with every field empty (1202), not malformed JSON.
fn parse(bytes: &[u8]) -> Result<TokenRequest, EnosError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(TokenRequest::default());
    }
    let body = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(invalid("the body must be a JSON object")),
        Err(e) => return Err(invalid(&format!("malformed JSON: {e}"))),
    };
    Ok(TokenRequest {
        app_key: text(&body, "appKey")?,
        encryption: text(&body, "encryption")?,
        timestamp: text(&body, "timestamp")?,
        access_token: text(&body, "accessToken")?,
    })
}

#[utoipa::path(post, path = "/apim-token-service/v2.0/token/get", tag = "token",
    request_body(content = Option<super::openapi::TokenBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "status 0 with data {accessToken, expire}, or a non-zero status", body = TokenReply),
        (status = 413, description = "Request size limit exceeded", body = super::envelope::Message),
    ))]
pub(crate) async fn get(State(app): State<App>, body: Bytes) -> Response {
    let service = &app.service;
    reply(parse(&body).and_then(|request| {
        app.gateway
            .token_get(&**service, app.clock.now_ms(), &request)
    }))
}

#[utoipa::path(post, path = "/apim-token-service/v2.0/token/refresh", tag = "token",
    request_body(content = Option<super::openapi::TokenBody>, content_type = "application/json"),
    responses(
        (status = 200, description = "status 0 with data {accessToken, expire}, or a non-zero status", body = TokenReply),
        (status = 413, description = "Request size limit exceeded", body = super::envelope::Message),
    ))]
pub(crate) async fn refresh(State(app): State<App>, body: Bytes) -> Response {
    let service = &app.service;
    reply(parse(&body).and_then(|request| {
        app.gateway
            .token_refresh(&**service, app.clock.now_ms(), &request)
    }))
}
