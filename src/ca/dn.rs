//! Distinguished names: the Java-style text EnOS lists, and rcgen names for issuing.

use rcgen::{DistinguishedName, DnType, DnValue};
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

const EMAIL_OID: &str = "1.2.840.113549.1.9.1";

/// Short names as Java's `X500Principal.toString()` writes them.
fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "2.5.4.5" => "SERIALNUMBER",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        EMAIL_OID => "EMAILADDRESS",
        _ => return None,
    })
}

/// The attribute's short name (or `OID.x.y.z`) and its text value.
pub(crate) fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> (String, Option<String>) {
    let oid = attr.attr_type().to_id_string();
    let name = short_name(&oid)
        .map(str::to_string)
        .unwrap_or_else(|| format!("OID.{oid}"));
    (name, attr.as_str().ok().map(str::to_string))
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
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
    out
}

/// RDNs in reverse order joined by `", "`, as EnOS (a Java service) shows them.
pub(crate) fn java_style(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let (n, v) = attribute_text(attr);
                    format!("{n}={}", escape(&v.unwrap_or_default()))
                })
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect();
    join_reversed(rdns)
}

/// The same text for a name the mock builds itself: single-valued RDNs as
/// `(short name, value)`, in certificate order.
pub(crate) fn java_style_of(rdns: &[(&str, &str)]) -> String {
    join_reversed(
        rdns.iter()
            .map(|(n, v)| format!("{n}={}", escape(v)))
            .collect(),
    )
}

fn join_reversed(rdns: Vec<String>) -> String {
    rdns.into_iter().rev().collect::<Vec<_>>().join(", ")
}

/// The same name for rcgen, keeping each value's string type so the issued
/// certificate carries the request's subject unchanged. Multi-valued RDNs and
/// repeated attribute types are refused: rcgen could not reproduce them.
pub(crate) fn to_rcgen(name: &X509Name<'_>) -> Result<DistinguishedName, String> {
    let mut dn = DistinguishedName::new();
    for rdn in name.iter() {
        let attrs: Vec<_> = rdn.iter().collect();
        let [attr] = attrs.as_slice() else {
            return Err("multi-valued or empty RDNs are not supported".into());
        };
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or("attribute type OID is too large")?
            .collect();
        let ty = DnType::from_oid(&oid);
        if dn.get(&ty).is_some() {
            let (n, _) = attribute_text(attr);
            return Err(format!("subject attribute {n} appears more than once"));
        }
        let data = attr.attr_value().data;
        let text = || {
            std::str::from_utf8(data).map_err(|_| "attribute value is not valid text".to_string())
        };
        let value = match attr.attr_value().header.tag() {
            Tag::PrintableString => {
                DnValue::PrintableString(text()?.try_into().map_err(|_| "bad PrintableString")?)
            }
            Tag::Utf8String => DnValue::Utf8String(text()?.to_string()),
            Tag::Ia5String => DnValue::Ia5String(text()?.try_into().map_err(|_| "bad IA5String")?),
            Tag::T61String => {
                DnValue::TeletexString(text()?.try_into().map_err(|_| "bad TeletexString")?)
            }
            Tag::BmpString => DnValue::BmpString(
                rcgen::string::BmpString::from_utf16be(data.to_vec())
                    .map_err(|_| "bad BMPString")?,
            ),
            Tag::UniversalString => DnValue::UniversalString(
                rcgen::string::UniversalString::from_utf32be(data.to_vec())
                    .map_err(|_| "bad UniversalString")?,
            ),
            other => return Err(format!("attribute value type {other} is not supported")),
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
    fn escapes_special_characters() {
        assert_eq!(escape("a,b"), "a\\,b");
        assert_eq!(escape(" x "), "\\ x\\ ");
        assert_eq!(escape("#1"), "\\#1");
        assert_eq!(escape("plain"), "plain");
    }
}
