//! A certificate's serial number: one type from the store to the wire. EnOS writes it as
//! `certSN`/`certSn` (a decimal string in answers, an integer in requests); the code calls it
//! `serial` everywhere. The X.509 serial of an issued certificate is the same number.

use std::fmt;
use std::num::ParseIntError;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The serial of a certificate the mock issued. Serialises as EnOS writes `certSN`: a
/// decimal string. The default, 0, is below every serial the mock issues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Serial(u64);

impl Serial {
    pub const fn new(n: u64) -> Serial {
        Serial(n)
    }

    /// The number (for the SQLite column, the X.509 serial and counters).
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The serial `n` after this one.
    pub const fn plus(self, n: u64) -> Serial {
        Serial(self.0 + n)
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Serial {
    type Err = ParseIntError;

    /// Decimal, as `certSN` is written.
    fn from_str(s: &str) -> Result<Serial, ParseIntError> {
        s.parse().map(Serial)
    }
}

impl Serialize for Serial {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Serial, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The serial of a certificate a device presented: a [`Serial`] when it fits one, else
/// the certificate's own number in decimal (a certificate the mock cannot have issued; the
/// journal still shows it, and it is bound to no device; empty when the certificate could
/// not be read at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedSerial {
    Fits(Serial),
    Other(String),
}

impl PresentedSerial {
    /// From the DER content octets of an X.509 serial (big-endian, sign octet included)
    /// and its decimal text, used only when it does not fit a [`Serial`].
    pub fn from_der(octets: &[u8], decimal: impl FnOnce() -> String) -> PresentedSerial {
        let significant = match octets.iter().position(|b| *b != 0) {
            Some(first) => &octets[first..],
            None => &[],
        };
        if significant.len() <= 8 {
            let n = significant
                .iter()
                .fold(0u64, |n, b| (n << 8) | u64::from(*b));
            PresentedSerial::Fits(Serial(n))
        } else {
            PresentedSerial::Other(decimal())
        }
    }

    /// The serial as a [`Serial`], when it fits one.
    pub fn serial(&self) -> Option<Serial> {
        match self {
            PresentedSerial::Fits(s) => Some(*s),
            PresentedSerial::Other(_) => None,
        }
    }
}

impl fmt::Display for PresentedSerial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PresentedSerial::Fits(s) => s.fmt(f),
            PresentedSerial::Other(text) => f.write_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_a_decimal_string_on_the_wire() {
        let s = Serial::new(1000);
        assert_eq!(s.to_string(), "1000");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""1000""#);
        assert_eq!(serde_json::from_str::<Serial>(r#""1000""#).unwrap(), s);
        assert_eq!("1000".parse::<Serial>().unwrap(), s);
        assert!("-1".parse::<Serial>().is_err());
        assert!(serde_json::from_str::<Serial>("1000").is_err());
    }

    #[test]
    fn presented_serials_table() {
        let cases: [(&[u8], PresentedSerial); 5] = [
            (&[0x03, 0xE8], PresentedSerial::Fits(Serial::new(1000))),
            (&[0x00, 0x80], PresentedSerial::Fits(Serial::new(128))),
            (&[], PresentedSerial::Fits(Serial::new(0))),
            (
                &[0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
                PresentedSerial::Fits(Serial::new(u64::MAX)),
            ),
            (
                &[0x01, 0, 0, 0, 0, 0, 0, 0, 0],
                PresentedSerial::Other("18446744073709551616".into()),
            ),
        ];
        for (octets, want) in cases {
            let got = PresentedSerial::from_der(octets, || "18446744073709551616".into());
            assert_eq!(got, want, "{octets:02X?}");
        }
    }
}
