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
    request_id: &'a str,
    data: Option<T>,
}

/// The `code` an answer carried, for the request journal.
#[derive(Debug, Clone, Copy)]
pub struct AnswerCode(pub i64);

/// The action an answer was for (`apply`, `product.create`, ...), for the journal.
#[derive(Debug, Clone, Copy)]
pub struct AnswerAction(pub &'static str);

fn with_code(mut response: Response, code: i64) -> Response {
    response.extensions_mut().insert(AnswerCode(code));
    response
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

/// Success: code 0, msg "OK".
pub fn ok<T: Serialize>(request_id: &str, data: Option<T>) -> Response {
    let response = json_response(
        StatusCode::OK,
        &Envelope {
            code: 0,
            msg: "OK",
            request_id,
            data,
        },
    );
    with_code(response, 0)
}

/// A business error: HTTP 200 with a non-zero code and `data: null` (A1).
pub fn error(request_id: &str, e: &EnosError) -> Response {
    enos_error(StatusCode::OK, request_id, e)
}

/// A business error with another HTTP status (unknown routes, injected faults).
pub fn enos_error(status: StatusCode, request_id: &str, e: &EnosError) -> Response {
    let response = json_response(
        status,
        &Envelope::<Value> {
            code: e.code(),
            msg: &e.msg,
            request_id,
            data: None,
        },
    );
    with_code(response, e.code())
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
