//! Distinguished names: the Java-style text EnOS lists, and rcgen names for issuing.

use std::borrow::Cow;

use rcgen::{DistinguishedName, DnType, DnValue};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// Short names as Java's `X500Principal.toString()` writes them, by the OID's DER
/// content bytes: matching the bytes spares turning every OID into text, which was
/// about a tenth of the mock's own work in an apply.
fn short_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x05] => "SERIALNUMBER",
        // 0.9.2342.19200300.100.1.25 and .1
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        // 1.2.840.113549.1.9.1
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "EMAILADDRESS",
        _ => return None,
    })
}

/// The attribute's short name (or `OID.x.y.z`) and its text value.
pub(crate) fn attribute_text<'a>(
    attr: &'a AttributeTypeAndValue<'_>,
) -> (Cow<'static, str>, Option<&'a str>) {
    let oid = attr.attr_type();
    let name = match short_name(oid.as_bytes()) {
        Some(short) => Cow::Borrowed(short),
        None => Cow::Owned(format!("OID.{}", oid.to_id_string())),
    };
    (name, attr.as_str().ok())
}

/// Appends `value` to `out` with the backslash escapes of RFC 2253 that Java writes.
fn escape_into(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let edge_space = c == ' ' && (i == 0 || i == last);
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || edge_space
            || (i == 0 && c == '#')
        {
            out.push('\\');
        }
        out.push(c);
    }
}

/// One attribute as Java writes it: `name=value`, the value escaped.
fn push_attribute(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push('=');
    escape_into(out, value);
}

/// RDNs in reverse order joined by `", "`, as EnOS (a Java service) shows them.
/// Written into one string: this runs on every apply, and a string per attribute
/// was a fifth of the mock's own allocations in an apply.
pub(crate) fn java_style(name: &X509Name<'_>) -> String {
    let mut out = String::with_capacity(128);
    let rdns: Vec<_> = name.iter().collect();
    for (i, rdn) in rdns.into_iter().rev().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push_str(" + ");
            }
            let (n, v) = attribute_text(attr);
            push_attribute(&mut out, &n, v.unwrap_or_default());
        }
    }
    out
}

/// The same text for a name the mock builds itself: single-valued RDNs as
/// `(short name, value)`, in certificate order.
pub(crate) fn java_style_of(rdns: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(128);
    for (i, (n, v)) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_attribute(&mut out, n, v);
    }
    out
}

/// The same name for rcgen, keeping each value's string type so the issued
/// certificate carries the request's subject unchanged. Multi-valued RDNs and
/// repeated attribute types are refused: rcgen could not reproduce them.
/// Why a subject cannot be carried into an issued certificate unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("multi-valued or empty RDNs are not supported")]
    MultiValued,
    #[error("attribute type OID is too large")]
    OidTooLarge,
    #[error("subject attribute {0} appears more than once")]
    Repeated(String),
    #[error("attribute value is not valid text")]
    NotText,
    #[error("bad {0}")]
    BadString(&'static str),
    #[error("attribute value type {0} is not supported")]
    UnsupportedType(String),
}

pub(crate) fn to_rcgen(name: &X509Name<'_>) -> Result<DistinguishedName, SubjectError> {
    let mut dn = DistinguishedName::new();
    let mut oid: Vec<u64> = Vec::with_capacity(16);
    for rdn in name.iter() {
        let mut attrs = rdn.iter();
        let (Some(attr), None) = (attrs.next(), attrs.next()) else {
            return Err(SubjectError::MultiValued);
        };
        oid.clear();
        oid.extend(attr.attr_type().iter().ok_or(SubjectError::OidTooLarge)?);
        let ty = DnType::from_oid(&oid);
        if dn.get(&ty).is_some() {
            let (n, _) = attribute_text(attr);
            return Err(SubjectError::Repeated(n.to_string()));
        }
        let data = attr.attr_value().data;
        let text = || std::str::from_utf8(data).map_err(|_| SubjectError::NotText);
        let value = match attr.attr_value().header.tag() {
            Tag::PrintableString => DnValue::PrintableString(
                text()?
                    .try_into()
                    .map_err(|_| SubjectError::BadString("PrintableString"))?,
            ),
            Tag::Utf8String => DnValue::Utf8String(text()?.to_string()),
            Tag::Ia5String => DnValue::Ia5String(
                text()?
                    .try_into()
                    .map_err(|_| SubjectError::BadString("IA5String"))?,
            ),
            Tag::T61String => DnValue::TeletexString(
                text()?
                    .try_into()
                    .map_err(|_| SubjectError::BadString("TeletexString"))?,
            ),
            Tag::BmpString => DnValue::BmpString(
                rcgen::string::BmpString::from_utf16be(data.to_vec())
                    .map_err(|_| SubjectError::BadString("BMPString"))?,
            ),
            Tag::UniversalString => DnValue::UniversalString(
                rcgen::string::UniversalString::from_utf32be(data.to_vec())
                    .map_err(|_| SubjectError::BadString("UniversalString"))?,
            ),
            other => return Err(SubjectError::UnsupportedType(other.to_string())),
        };
        dn.push(ty, value);
    }
    Ok(dn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_names_read_like_parsed_ones() {
        assert_eq!(
            java_style_of(&[("C", "CN"), ("O", "EnOS"), ("CN", "a,b")]),
            "CN=a\\,b, O=EnOS, C=CN"
        );
    }

    #[test]
    fn parsed_names_are_reversed_with_multi_valued_rdns_joined_by_plus() {
        use x509_parser::prelude::FromDer;
        // C=CN, then one RDN holding CN="a,b" and OU="x" (certificate order).
        let der = [
            0x30, 0x25, // Name
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'C', b'N', 0x31,
            0x16, // the multi-valued RDN
            0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'a', b',', b'b', //
            0x30, 0x08, 0x06, 0x03, 0x55, 0x04, 0x0b, 0x0c, 0x01, b'x',
        ];
        let (rest, name) = X509Name::from_der(&der).unwrap();
        assert!(rest.is_empty());
        assert_eq!(java_style(&name), "CN=a\\,b + OU=x, C=CN");
    }

    #[test]
    fn short_names_match_their_oids() {
        use x509_parser::der_parser::oid;
        for (oid, name) in [
            (oid!(2.5.4 .3), "CN"),
            (oid!(2.5.4 .6), "C"),
            (oid!(2.5.4 .7), "L"),
            (oid!(2.5.4 .8), "ST"),
            (oid!(2.5.4 .10), "O"),
            (oid!(2.5.4 .11), "OU"),
            (oid!(2.5.4 .9), "STREET"),
            (oid!(2.5.4 .5), "SERIALNUMBER"),
            (oid!(0.9.2342 .19200300 .100 .1 .25), "DC"),
            (oid!(0.9.2342 .19200300 .100 .1 .1), "UID"),
            (oid!(1.2.840 .113549 .1 .9 .1), "EMAILADDRESS"),
        ] {
            assert_eq!(short_name(oid.as_bytes()), Some(name), "{oid}");
        }
        assert_eq!(short_name(oid!(2.5.4 .12).as_bytes()), None);
    }

    #[test]
    fn escapes_special_characters() {
        let escape = |value: &str| {
            let mut out = String::new();
            escape_into(&mut out, value);
            out
        };
        assert_eq!(escape("a,b"), "a\\,b");
        assert_eq!(escape(" x "), "\\ x\\ ");
        assert_eq!(escape("#1"), "\\#1");
        assert_eq!(escape("plain"), "plain");
    }
}
