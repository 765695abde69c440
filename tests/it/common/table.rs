//! Tables of calls and the answer each must give. A table is a `Vec<Case>`; [`check`]
//! sends every case in order to one mock and reports every case that answered otherwise
//! (not only the first), each named by its call. Answers are asserted against the rows of
//! [`super::contract`]: the code and the whole message, exactly.

use std::fmt;

use reqwest::Method;
use serde_json::Value;

use super::contract::Row;
use super::judge::is_uuid_v4;
use super::Mock;

pub const CERTS: &str = "/connect-service/v2.0/certificates";
pub const PRODUCTS: &str = "/connect-service/v2.1/products";
pub const DEVICES: &str = "/connect-service/v2.1/devices";

/// What a call sends after its headers.
#[derive(Clone)]
pub enum Body {
    None,
    /// A JSON body (`content-type: application/json`).
    Json(Value),
    /// A raw body with `content-type: application/json;charset=UTF-8`, for what `json!`
    /// cannot write (broken JSON, a 30-digit number).
    Text(String),
    /// Raw bytes with this content type, or none.
    Bytes(Vec<u8>, Option<&'static str>),
}

/// One request: method, path with query, body.
#[derive(Clone)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: Body,
}

impl Call {
    /// A certificate call with a raw query (`action=..&orgId=..`): as [`Mock::cert_query`]
    /// sends it, list by GET without a body, the rest by POST with `body` as JSON.
    pub fn cert(query: impl Into<String>, body: Value) -> Call {
        let query = query.into();
        if query.contains("action=list") {
            Call::new(Method::GET, format!("{CERTS}?{query}"), Body::None)
        } else {
            Call::new(Method::POST, format!("{CERTS}?{query}"), Body::Json(body))
        }
    }

    /// A certificate call with any method and body.
    pub fn cert_with(method: Method, query: impl Into<String>, body: Body) -> Call {
        Call::new(method, format!("{CERTS}?{}", query.into()), body)
    }

    /// POST with a JSON body.
    pub fn post(path: impl Into<String>, body: Value) -> Call {
        Call::new(Method::POST, path, Body::Json(body))
    }

    /// GET without a body.
    pub fn get(path: impl Into<String>) -> Call {
        Call::new(Method::GET, path, Body::None)
    }

    pub fn new(method: Method, path: impl Into<String>, body: Body) -> Call {
        Call {
            method,
            path: path.into(),
            body,
        }
    }

    /// Sends the call; the HTTP status and the body text.
    pub async fn send(&self, mock: &Mock) -> (u16, String) {
        let mut request = mock.http.request(self.method.clone(), mock.url(&self.path));
        request = match &self.body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Text(text) => request
                .header("content-type", "application/json;charset=UTF-8")
                .body(text.clone()),
            Body::Bytes(bytes, content_type) => {
                let request = match content_type {
                    Some(ct) => request.header("content-type", *ct),
                    None => request,
                };
                request.body(bytes.clone())
            }
        };
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    /// Sends the call and asserts an EnOS business answer: HTTP 200 and a JSON envelope.
    pub async fn envelope(&self, mock: &Mock) -> Value {
        let (status, text) = self.send(mock).await;
        assert_eq!(status, 200, "{self} answered HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{self}: not JSON ({e}): {text}"))
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = match &self.body {
            Body::None => String::new(),
            Body::Json(value) => value.to_string(),
            Body::Text(text) => text.clone(),
            Body::Bytes(bytes, _) => format!("{} bytes", bytes.len()),
        };
        let body: String = body.chars().take(160).collect();
        let path: String = self.path.chars().take(200).collect();
        write!(f, "{} {path} {body}", self.method)
    }
}

/// The answer a call must give.
#[derive(Clone, Debug)]
pub enum Want {
    /// Success: code 0, msg `OK`, a UUID v4 requestId.
    Ok,
    /// Success whose `data` is exactly this.
    OkData(Value),
    /// Success whose `data` has this field with this value.
    OkWith(&'static str, Value),
    /// A row without placeholders, exactly.
    Row(&'static Row),
    /// A row with its placeholders filled: this exact message.
    Msg(&'static Row, String),
    /// A `... message:  {message}, detail message: {detail}` row whose message part is
    /// exact and whose detail (a library's words, e.g. a DER parser's) contains a fragment.
    Detail(&'static Row, &'static str, &'static str),
    /// Some error in a clean envelope: for hostile input, where the point is no 5xx, no
    /// panic and no other shape, whatever the row.
    AnyError,
}

impl Want {
    /// An `Invalid Argument {field}:{reason}` answer, exactly.
    pub fn argument(field: &str, reason: &str) -> Want {
        Want::Msg(
            &super::contract::INVALID_ARGUMENT,
            super::contract::INVALID_ARGUMENT.argument(field, reason),
        )
    }

    /// An `Invalid cert request!...` answer, exactly.
    pub fn cert_request(message: &str, detail: &str) -> Want {
        Want::Msg(
            &super::contract::INVALID_CERT_REQUEST,
            super::contract::INVALID_CERT_REQUEST.detailed(message, detail),
        )
    }

    /// The row this answer is of (`None` for success and any error).
    pub fn row(&self) -> Option<&'static Row> {
        match self {
            Want::Row(row) | Want::Msg(row, _) | Want::Detail(row, _, _) => Some(row),
            Want::Ok | Want::OkData(_) | Want::OkWith(..) | Want::AnyError => None,
        }
    }

    /// Whether `r` is this answer; what differs when it is not.
    pub fn check(&self, r: &Value) -> Result<(), Mismatch> {
        match self.problem(r) {
            None => Ok(()),
            Some(problem) => Err(Mismatch(format!("{problem}; got {r}"))),
        }
    }

    fn problem(&self, r: &Value) -> Option<String> {
        let request_id = r["requestId"].as_str().unwrap_or_default();
        match self {
            Want::Ok => (r["code"] != 0 || r["msg"] != "OK" || !is_uuid_v4(request_id))
                .then(|| "expected code 0, msg OK and a UUID v4 requestId".to_string()),
            Want::OkData(data) => Want::Ok
                .problem(r)
                .or_else(|| (r["data"] != *data).then(|| format!("expected data {data}"))),
            Want::OkWith(field, value) => Want::Ok.problem(r).or_else(|| {
                (r["data"][field] != *value).then(|| format!("expected data.{field} = {value}"))
            }),
            Want::Row(row) => {
                assert!(
                    !row.is_template(),
                    "{} is a template: use Want::Msg",
                    row.key
                );
                error(r, row.code, |msg| msg == row.msg)
                    .map(|e| format!("expected {} {:?}: {e}", row.code, row.msg))
            }
            Want::Msg(row, expected) => {
                assert!(
                    expected.starts_with(row.prefix()),
                    "{expected:?} is not a message of {}",
                    row.key
                );
                error(r, row.code, |msg| msg == expected)
                    .map(|e| format!("expected {} {expected:?}: {e}", row.code))
            }
            Want::Detail(row, message, part) => {
                let head = row.detailed(message, "");
                error(r, row.code, |msg| {
                    msg.strip_prefix(&head)
                        .is_some_and(|detail| detail.contains(part))
                })
                .map(|e| {
                    format!(
                        "expected {} {head:?} with a detail naming {part:?}: {e}",
                        row.code
                    )
                })
            }
            Want::AnyError => {
                let code = r["code"].as_i64().unwrap_or(0);
                (code == 0
                    || r["msg"].as_str().is_none_or(str::is_empty)
                    || request_id.len() != 36
                    || !r["data"].is_null()
                    || r.get("apim_status").is_some())
                .then(|| "expected an error envelope (no apim_status)".to_string())
            }
        }
    }
}

/// What an answer has that its case did not want.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// An error envelope of `code` whose msg passes `msg_ok`, with null data and a requestId.
fn error(r: &Value, code: i64, msg_ok: impl Fn(&str) -> bool) -> Option<&'static str> {
    if r["code"] != code {
        Some("another code")
    } else if !r["msg"].as_str().is_some_and(msg_ok) {
        Some("another msg")
    } else if !r["data"].is_null() {
        Some("data is not null")
    } else if r["requestId"].as_str().is_none_or(|s| s.len() != 36) {
        Some("no requestId")
    } else {
        None
    }
}

/// One row of a table: a call and the answer it must give.
#[derive(Clone)]
pub struct Case {
    pub call: Call,
    pub want: Want,
}

pub fn case(call: Call, want: Want) -> Case {
    Case { call, want }
}

/// Asserts an answer (outside a table); panics with what differs.
#[track_caller]
pub fn assert_want(r: &Value, want: &Want) {
    if let Err(e) = want.check(r) {
        panic!("{e}");
    }
}

/// Sends every case, in order, to `mock`; fails listing every case that answered
/// otherwise than HTTP 200 with its row.
pub async fn check(mock: &Mock, cases: impl IntoIterator<Item = Case>) {
    let mut failures = Vec::new();
    let mut count = 0;
    for Case { call, want } in cases {
        count += 1;
        let (status, text) = call.send(mock).await;
        let result = match serde_json::from_str::<Value>(&text) {
            _ if status != 200 => Err(Mismatch(format!("HTTP {status}: {text}"))),
            Ok(r) => want.check(&r),
            Err(e) => Err(Mismatch(format!("not JSON ({e}): {text}"))),
        };
        if let Err(e) = result {
            failures.push(format!("{call}\n    {e}"));
        }
    }
    assert!(count > 0, "an empty table");
    assert!(
        failures.is_empty(),
        "{} of {count} cases answered otherwise:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
