//! The EnOS response envelope `{code, msg, requestId, data}` and the plain
//! `{"message"}` bodies of gateway-level and control-plane answers.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::domain::EnosError;

const JSON_UTF8: &str = "application/json;charset=UTF-8";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a, T: Serialize> {
    code: i64,
    msg: &'a str,
    request_id: String,
    data: Option<T>,
}

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut response = (status, bytes).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
            response
        }
        Err(e) => message(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode response: {e}"),
        ),
    }
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Success: code 0, msg "OK".
pub fn ok<T: Serialize>(data: Option<T>) -> Response {
    json_response(
        StatusCode::OK,
        &Envelope {
            code: 0,
            msg: "OK",
            request_id: request_id(),
            data,
        },
    )
}

/// A business error: HTTP 200 with a non-zero code and `data: null` (A1).
pub fn error(e: &EnosError) -> Response {
    enos_error(StatusCode::OK, e)
}

/// A business error with another HTTP status (unknown routes).
pub fn enos_error(status: StatusCode, e: &EnosError) -> Response {
    json_response(
        status,
        &Envelope::<Value> {
            code: e.code(),
            msg: &e.msg,
            request_id: request_id(),
            data: None,
        },
    )
}

/// `{"message": ...}` with a status, as the gateway and the control plane answer.
pub fn message(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    response
}

/// Any serialisable value as a plain JSON answer (control plane).
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    json_response(status, body)
}
