//! The checksum kept beside every row of the state file (schema 3): a digest of the values
//! the row was written with, checked when the file is read back, so that bytes flipped on
//! disk (inside a certificate, a device's JSON, a revocation) stop the start instead of
//! being served. SQLite's `quick_check` finds damage to the file's structure; this finds
//! damage to what the rows hold, which no structural check can.
//!
//! The first 16 bytes of a SHA-256 (aws-lc, already the CA's library; with the CPU's SHA
//! instructions it hashes well over a GB/s) over the values, each framed by a type tag and
//! its length, so that no two rows of different values give the same input.

use aws_lc_rs::digest::SHA256;
use rusqlite::types::ValueRef;

/// Bytes of the digest kept per row: plenty to catch damage, which is not an attacker.
pub const LEN: usize = 16;

/// A row's digest, built value by value in column order: the framed values are gathered
/// and hashed at once (one hash call a row, not three a value).
pub struct RowDigest(Vec<u8>);

impl RowDigest {
    pub fn new() -> RowDigest {
        RowDigest(Vec::with_capacity(1024))
    }

    fn framed(mut self, tag: u8, bytes: &[u8]) -> RowDigest {
        self.0.push(tag);
        self.0
            .extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    pub fn int(self, value: i64) -> RowDigest {
        self.framed(b'i', &value.to_le_bytes())
    }

    pub fn text(self, value: &str) -> RowDigest {
        self.framed(b't', value.as_bytes())
    }

    pub fn blob(self, value: &[u8]) -> RowDigest {
        self.framed(b'b', value)
    }

    /// A column as SQLite holds it (the certificate column is DER or, from version 1, text).
    pub fn value(self, value: ValueRef<'_>) -> RowDigest {
        match value {
            ValueRef::Integer(i) => self.int(i),
            ValueRef::Text(t) => self.framed(b't', t),
            ValueRef::Blob(b) => self.blob(b),
            ValueRef::Real(r) => self.framed(b'r', &r.to_le_bytes()),
            ValueRef::Null => self.framed(b'n', &[]),
        }
    }

    /// Whether `stored` is this row's digest.
    pub fn matches(self, stored: Option<&[u8]>) -> bool {
        stored == Some(&self.finish()[..])
    }

    pub fn finish(self) -> [u8; LEN] {
        let digest = aws_lc_rs::digest::digest(&SHA256, &self.0);
        let mut out = [0u8; LEN];
        out.copy_from_slice(&digest.as_ref()[..LEN]);
        out
    }
}

/// A row of the JSON tables (orgs, products, devices): its key and body.
pub fn keyed_body(key: &str, body: &str) -> RowDigest {
    RowDigest::new().text(key).text(body)
}

/// A certificate row's columns, as written and as read back; `bound` is left out (a
/// device delete flips it in place).
pub struct CertColumns<'a> {
    pub serial: i64,
    pub asset_id: &'a str,
    pub authority: &'a str,
    pub cert: ValueRef<'a>,
    pub issuer: &'a str,
    pub subject: &'a str,
    pub common_name: &'a str,
    pub public_key: &'a [u8],
    pub sign_date_ms: i64,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
}

impl CertColumns<'_> {
    pub fn framed(&self) -> RowDigest {
        RowDigest::new()
            .int(self.serial)
            .text(self.asset_id)
            .text(self.authority)
            .value(self.cert)
            .text(self.issuer)
            .text(self.subject)
            .text(self.common_name)
            .blob(self.public_key)
            .int(self.sign_date_ms)
            .int(self.not_before_ms)
            .int(self.not_after_ms)
    }
}

/// A revocation row (its position in the CRL order is left out).
pub fn revocation(serial: i64, at_ms: i64, reason: i64, revoker: &str) -> RowDigest {
    RowDigest::new()
        .int(serial)
        .int(at_ms)
        .int(reason)
        .text(revoker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_framed_so_that_moving_a_byte_between_them_changes_the_digest() {
        let table = [
            (
                keyed_body("ab", "c").finish(),
                keyed_body("a", "bc").finish(),
            ),
            (
                RowDigest::new().int(1).finish(),
                RowDigest::new().text("\u{1}").finish(),
            ),
            (
                RowDigest::new().blob(b"x").finish(),
                RowDigest::new().text("x").finish(),
            ),
        ];
        for (i, (one, other)) in table.iter().enumerate() {
            assert_ne!(one, other, "row {i}");
        }
        assert!(keyed_body("a", "b").matches(Some(&keyed_body("a", "b").finish())));
        assert!(!keyed_body("a", "b").matches(None));
        assert_eq!(
            RowDigest::new().value(ValueRef::Text(b"x")).finish(),
            RowDigest::new().text("x").finish()
        );
    }
}
