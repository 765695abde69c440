//! Hex, the one way the mock writes bytes as text: lowercase and joined (digests, as EnOS
//! clients send them), or uppercase and colon-separated (fingerprints and key ids, as
//! openssl prints them).

/// `0a1b2c`.
pub fn lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `0A:1B:2C`.
pub fn colon_upper(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_forms() {
        assert_eq!(super::lower(&[0x0a, 0xff]), "0aff");
        assert_eq!(super::colon_upper(&[0x0a, 0xff]), "0A:FF");
        assert_eq!(super::colon_upper(&[]), "");
    }
}
