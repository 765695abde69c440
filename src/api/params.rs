//! Reading EnOS parameters from the query and the JSON body into typed values.
//! Every malformed input becomes the contract's 99400 answer (B2, B3, B14).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::errors::{EnosError, ErrorKey};
use crate::domain::model::{Authority, I18n, RevocationReason};
use crate::domain::valid_days::ValidDays;
use crate::domain::Serial;

/// Query parameters in arrival order; the first occurrence of a name wins.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Present and not empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

/// A JSON object body; an empty body counts as `{}`.
#[derive(Debug, Default)]
pub struct Body(Map<String, Value>);

impl Body {
    pub fn parse(bytes: &[u8]) -> Result<Body, EnosError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body::default());
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(EnosError::invalid_argument(
                "body",
                "the request body must be a JSON object",
            )),
            Err(e) => Err(EnosError::invalid_argument(
                "body",
                format!("malformed JSON: {e}"),
            )),
        }
    }

    /// The body value if the key is present (even as null).
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
}

/// A field that may come from the body or the query; the body wins.
enum Source<'a> {
    Body(&'a Value),
    Query(&'a str),
}

fn field<'a>(query: Option<&'a Query>, body: &'a Body, name: &str) -> Option<Source<'a>> {
    match body.raw(name) {
        Some(v) => Some(Source::Body(v)),
        None => query.and_then(|q| q.get(name)).map(Source::Query),
    }
}

enum Integer {
    Value(i128),
    NotInteger,
}

fn integer_of(source: &Source<'_>) -> Option<Integer> {
    let text = match source {
        Source::Body(Value::Null) => return None,
        Source::Body(Value::Number(n)) => {
            return Some(match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Integer::Value(i as i128),
                (None, Some(u)) => Integer::Value(u as i128),
                _ => Integer::NotInteger,
            })
        }
        Source::Body(Value::String(s)) => s.as_str(),
        Source::Body(_) => return Some(Integer::NotInteger),
        Source::Query(s) => s,
    };
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match text.parse::<i128>() {
        Ok(v) => Integer::Value(v),
        Err(_) => Integer::NotInteger,
    })
}

/// `csr`: a string, or absent. Null and blank count as absent.
pub fn csr(body: &Body) -> Result<Option<String>, EnosError> {
    match body.raw("csr") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(EnosError::invalid_argument("csr", "csr must be a string")),
    }
}

/// `validDay`: a positive integer from the body or the query.
pub fn valid_day(query: &Query, body: &Body) -> Result<Option<i64>, EnosError> {
    let Some(source) = field(Some(query), body, "validDay") else {
        return Ok(None);
    };
    match integer_of(&source) {
        None => Ok(None),
        Some(Integer::NotInteger) => Err(EnosError::invalid_argument(
            "validDay",
            "validDay must be an integer",
        )),
        Some(Integer::Value(v)) if v < 1 => Err(EnosError::invalid_argument(
            "validDay",
            "validDay must be at least 1",
        )),
        Some(Integer::Value(v)) => Ok(Some(v.min(i64::MAX as i128) as i64)),
    }
}

/// `issueAuthority`: `RSA` or `ECC` in any case, or absent.
pub fn authority(body: &Body) -> Result<Option<Authority>, EnosError> {
    let bad = || EnosError::invalid_argument("issueAuthority", "issueAuthority must be RSA or ECC");
    match body.raw("issueAuthority") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Authority::parse(s).map(Some).ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// `certSn` (B3): absent, null, negative and non-integer each have their answer.
/// Renew reads it from the body only; revoke also from the query.
pub fn serial(query: Option<&Query>, body: &Body) -> Result<Serial, EnosError> {
    let source =
        field(query, body, "certSn").ok_or_else(|| EnosError::new(ErrorKey::CertSnMissing))?;
    match integer_of(&source) {
        None => Err(EnosError::new(ErrorKey::CertSnRequired)),
        Some(Integer::NotInteger) => Err(EnosError::invalid_argument(
            "certSn",
            "certSn must be an integer",
        )),
        Some(Integer::Value(v)) if v < 0 => Err(EnosError::new(ErrorKey::CertSnNegative)),
        Some(Integer::Value(v)) => u64::try_from(v)
            .ok()
            .filter(|v| *v <= i64::MAX as u64)
            .map(Serial::new)
            .ok_or_else(|| EnosError::invalid_argument("certSn", "certSn is out of range")),
    }
}

/// `reason`: a number, a numeric string or the enum name; absent means 0.
pub fn reason(query: &Query, body: &Body) -> Result<RevocationReason, EnosError> {
    let bad = || {
        EnosError::invalid_argument(
            "reason",
            "reason must be one of 0 UNSPECIFIED, 1 KEY_COMPROMISE, 3 AFFILIATION_CHANGED, 4 SUPERSEDED, \
             5 CESSATION_OF_OPERATION, 6 CERTIFICATE_HOLD, 9 PRIVILEGE_WITHDRAWN",
        )
    };
    let Some(source) = field(Some(query), body, "reason") else {
        return Ok(RevocationReason::Unspecified);
    };
    let name = match &source {
        Source::Body(Value::String(s)) => Some(s.as_str()),
        Source::Query(s) => Some(*s),
        _ => None,
    };
    if let Some(reason) = name.and_then(RevocationReason::from_name) {
        return Ok(reason);
    }
    match integer_of(&source) {
        None => Ok(RevocationReason::Unspecified),
        Some(Integer::Value(v)) => i64::try_from(v)
            .ok()
            .and_then(RevocationReason::from_code)
            .ok_or_else(bad),
        Some(Integer::NotInteger) => Err(bad()),
    }
}

/// Typed optional body fields for the product and device APIs; absent and
/// null are `None`, a wrong type is `Invalid Argument {field}:...`.
impl Body {
    fn typed<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, EnosError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|_| EnosError::invalid_argument(name, format!("{name} must be {what}"))),
        }
    }

    pub fn string(&self, name: &str) -> Result<Option<String>, EnosError> {
        self.typed(name, "a string")
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, EnosError> {
        self.typed(name, "true or false")
    }

    /// A product's validity setting in days (the range is the domain's rule).
    pub fn days(&self, name: &str) -> Result<Option<u32>, EnosError> {
        let days: Option<i64> = self.typed(name, "an integer")?;
        days.map(|d| ValidDays::setting(name, d)).transpose()
    }

    /// A `StringI18n` object; a plain string is taken as its default value.
    pub fn i18n(&self, name: &str) -> Result<Option<I18n>, EnosError> {
        match self.0.get(name) {
            Some(Value::String(s)) => Ok(Some(I18n::plain(s.clone()))),
            _ => self.typed(
                name,
                "a StringI18n object {\"defaultValue\": ..., \"i18nValue\": {...}}",
            ),
        }
    }

    pub fn string_map(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, EnosError> {
        self.typed(name, "an object of strings")
    }

    pub fn object(&self, name: &str) -> Result<Option<Map<String, Value>>, EnosError> {
        self.typed(name, "an object")
    }

    pub fn one_of<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        allowed: &str,
    ) -> Result<Option<T>, EnosError> {
        self.typed(name, &format!("one of {allowed}"))
    }
}

/// A field the call cannot do without.
pub fn required<T>(value: Option<T>, name: &str) -> Result<T, EnosError> {
    value.ok_or_else(|| EnosError::invalid_argument(name, format!("{name} is missing")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Body {
        Body::parse(json.as_bytes()).unwrap()
    }

    #[test]
    fn serial_rules() {
        let q = Query::parse(Some("certSn=7"));
        assert_eq!(
            serial(None, &body(r#"{"certSn": 12}"#)).unwrap(),
            Serial::new(12)
        );
        assert_eq!(
            serial(None, &body(r#"{"certSn": "12"}"#)).unwrap(),
            Serial::new(12)
        );
        assert_eq!(serial(Some(&q), &body("{}")).unwrap(), Serial::new(7));
        assert_eq!(
            serial(Some(&q), &body(r#"{"certSn": 9}"#)).unwrap(),
            Serial::new(9)
        );
        assert_eq!(
            serial(None, &body("{}")).unwrap_err().key,
            ErrorKey::CertSnMissing
        );
        assert_eq!(
            serial(None, &body(r#"{"certSn": null}"#)).unwrap_err().key,
            ErrorKey::CertSnRequired
        );
        assert_eq!(
            serial(None, &body(r#"{"certSn": -1}"#)).unwrap_err().key,
            ErrorKey::CertSnNegative
        );
        assert_eq!(
            serial(None, &body(r#"{"certSn": 1.5}"#)).unwrap_err().key,
            ErrorKey::InvalidArgument
        );
        assert_eq!(
            serial(None, &body(r#"{"certSn": [1]}"#)).unwrap_err().key,
            ErrorKey::InvalidArgument
        );
        assert_eq!(
            serial(None, &body(r#"{"certSn": 99999999999999999999999}"#))
                .unwrap_err()
                .key,
            ErrorKey::InvalidArgument
        );
    }

    #[test]
    fn reason_forms() {
        let q = Query::default();
        assert_eq!(
            reason(&q, &body(r#"{"reason": 1}"#)).unwrap(),
            RevocationReason::KeyCompromise
        );
        assert_eq!(
            reason(&q, &body(r#"{"reason": "4"}"#)).unwrap(),
            RevocationReason::Superseded
        );
        assert_eq!(
            reason(&q, &body(r#"{"reason": "PRIVILEGE_WITHDRAWN"}"#)).unwrap(),
            RevocationReason::PrivilegeWithdrawn
        );
        assert_eq!(
            reason(&q, &body("{}")).unwrap(),
            RevocationReason::Unspecified
        );
        assert!(reason(&q, &body(r#"{"reason": 2}"#)).is_err());
        assert!(reason(&q, &body(r#"{"reason": "nope"}"#)).is_err());
    }

    #[test]
    fn malformed_bodies() {
        assert!(Body::parse(b"{").is_err());
        assert!(Body::parse(b"[1]").is_err());
        assert!(Body::parse(b"  ").is_ok());
    }
}

#[cfg(test)]
#[path = "params_fuzz.rs"]
mod fuzz;
