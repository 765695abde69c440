//! The digests of gateway authentication (A9): the token service's `encryption` and the
//! `apim-signature` of a business call. Pure functions over bytes; no HTTP, no state.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{digest, SHA256};

/// Lowercase hex SHA-256, the form every EnOS client sends.
pub fn sha256_hex(data: &[u8]) -> String {
    crate::hex::lower(digest(&SHA256, data).as_ref())
}

/// The token service's `encryption` (A9.1): SHA-256 of `appKey + timestamp + appSecret`,
/// with the timestamp exactly as the client wrote it.
pub fn encryption(app_key: &str, timestamp: &str, app_secret: &str) -> String {
    sha256_hex(format!("{app_key}{timestamp}{app_secret}").as_bytes())
}

/// What `apim-signature` signs (A9.2): token, then every query parameter sorted by name
/// as name followed by its URL-decoded value, then the raw body, the timestamp and the
/// secret, with no separators.
pub fn string_to_sign(
    access_token: &str,
    raw_query: &str,
    body: &[u8],
    timestamp: &str,
    app_secret: &str,
) -> Vec<u8> {
    let mut params: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    // Sorting by value too keeps a repeated name deterministic.
    params.sort();
    let mut out = access_token.as_bytes().to_vec();
    for (name, value) in &params {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(body);
    out.extend_from_slice(timestamp.as_bytes());
    out.extend_from_slice(app_secret.as_bytes());
    out
}

/// The signature a client holding `app_secret` would send for this request.
pub fn sign(
    access_token: &str,
    raw_query: &str,
    body: &[u8],
    timestamp: &str,
    app_secret: &str,
) -> String {
    sha256_hex(&string_to_sign(
        access_token,
        raw_query,
        body,
        timestamp,
        app_secret,
    ))
}

/// Compares secrets in constant time, so response timing does not reveal how much of a
/// guess was right.
pub fn same_secret(expected: &str, given: &str) -> bool {
    verify_slices_are_equal(expected.as_bytes(), given.as_bytes()).is_ok()
}

/// Compares a received hex digest with the expected one; hex case does not matter.
pub fn digest_matches(expected_hex: &str, given: &str) -> bool {
    same_secret(expected_hex, &given.trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of docs/behaviour.md A9.2.
    #[test]
    fn contract_test_vector() {
        let s = sign(
            "tok-123",
            "action=list&orgId=o15444172373271&assetId=Uvmm5AXU",
            b"",
            "1600000000000",
            "app-secret",
        );
        assert_eq!(
            s,
            "4eab48d1670053fe26fbce93020fdbc88fb523fe80ef64a75658a01cd1ac6bc0"
        );
        assert!(digest_matches(&s, &s.to_uppercase()));
        assert!(!digest_matches(&s, &s[1..]));
    }

    #[test]
    fn query_order_does_not_matter_and_values_are_decoded() {
        let a = string_to_sign("t", "b=2&a=x%20y", b"{}", "9", "s");
        let b = string_to_sign("t", "a=x+y&b=2", b"{}", "9", "s");
        assert_eq!(a, b);
        assert_eq!(a, b"tax yb2{}9s");
    }

    #[test]
    fn the_body_is_signed_byte_for_byte() {
        let a = sign("t", "action=apply", br#"{"a": 1}"#, "9", "s");
        let b = sign("t", "action=apply", br#"{"a":1}"#, "9", "s");
        assert_ne!(a, b);
    }

    #[test]
    fn encryption_is_sha256_of_key_timestamp_secret() {
        assert_eq!(encryption("k", "1", "s"), sha256_hex(b"k1s"));
        // `printf %s abc | openssl dgst -sha256`
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
