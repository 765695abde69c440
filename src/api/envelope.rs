//! The EnOS response envelope `{code, msg, requestId, data}` and the plain
//! `{"message"}` bodies of gateway-level and control-plane answers.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::EnosError;

const JSON_UTF8: &str = "application/json;charset=UTF-8";

/// The EnOS envelope. Business errors answer 200 too, with a non-zero `code`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(bound = "T: Serialize")]
pub(crate) struct Envelope<'a, T: Serialize> {
    code: i64,
    msg: &'a str,
    request_id: &'a str,
    #[schema(value_type = Option<Value>)]
    data: Option<T>,
}

/// The plain answer of the gateway, the CA endpoints and the control plane.
#[derive(Serialize, ToSchema)]
pub(crate) struct Message<'a> {
    message: &'a str,
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
    json_response(status, &Message { message })
}

/// Any serialisable value as a plain JSON answer (control plane).
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    json_response(status, body)
}

/// PEMs already written as JSON strings, by the address of the PEM they were made from.
type PemJsonCache = HashMap<usize, (Arc<str>, Arc<RawValue>)>;

/// The PEMs served again and again (the roots, in every apply and renew answer) are
/// escaped once: serde_json escapes a byte at a time. List does not use it (see
/// `api::certificates::ListedView`). Each entry holds its PEM, so that its address is not
/// reused while cached; the cache is emptied when full (at most about 1.5 MB).
static PEM_JSON: LazyLock<Mutex<PemJsonCache>> = LazyLock::new(Mutex::default);
const PEM_JSON_ENTRIES: usize = 1024;

/// A PEM as a JSON string, written as it is.
pub struct PemJson(Arc<RawValue>);

impl Serialize for PemJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

pub fn pem_json(pem: &Arc<str>) -> PemJson {
    let key = Arc::as_ptr(pem) as *const u8 as usize;
    if let Some((_, json)) = PEM_JSON.lock().get(&key) {
        return PemJson(json.clone());
    }
    let json: Arc<RawValue> = match serde_json::value::to_raw_value(&**pem) {
        Ok(json) => Arc::from(json),
        Err(_) => Arc::from(RawValue::NULL.to_owned()),
    };
    let mut cache = PEM_JSON.lock();
    if cache.len() >= PEM_JSON_ENTRIES {
        cache.clear();
    }
    cache.insert(key, (pem.clone(), json.clone()));
    PemJson(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_is_written_as_serde_json_writes_it_and_kept_by_its_allocation() {
        let pem: Arc<str> = Arc::from("-----BEGIN X-----\nAB+/\"\\\n-----END X-----\n");
        let expected = serde_json::to_string(&*pem).unwrap();
        let first = pem_json(&pem).0;
        assert_eq!(first.get(), expected);
        assert!(
            Arc::ptr_eq(&first, &pem_json(&pem.clone()).0),
            "served from the cache"
        );
        // The same text in another allocation is another entry, with the same JSON.
        let other: Arc<str> = Arc::from(&*pem);
        let second = pem_json(&other).0;
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(second.get(), expected);
    }
}
