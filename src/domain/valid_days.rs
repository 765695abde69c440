//! A product's validity days (B14): `defaultValidDay` and `maxValidDay`, each 1–3650,
//! the default no more than the max. This type owns the range and the defaults; the
//! fixtures, the product actions and the parameter reader all ask it.

use super::errors::EnosError;

/// A product's validity days, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidDays {
    pub default: u32,
    pub max: u32,
}

/// Why a product's validity days are refused; `field` names the one at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidDaysError {
    #[error("{field} {value} is outside 1..={}", ValidDays::LIMIT)]
    OutOfRange { field: &'static str, value: u32 },
    #[error("defaultValidDay {default} exceeds maxValidDay {max}")]
    DefaultAboveMax { default: u32, max: u32 },
}

impl ValidDaysError {
    /// The request field the error is about.
    pub(crate) fn field(&self) -> &'static str {
        match self {
            ValidDaysError::OutOfRange { field, .. } => field,
            ValidDaysError::DefaultAboveMax { .. } => "defaultValidDay",
        }
    }
}

impl ValidDays {
    /// The longest either setting may be.
    pub const LIMIT: u32 = 3650;
    /// `defaultValidDay` when absent (capped by the max).
    pub const DEFAULT: u32 = 730;
    /// `maxValidDay` when absent.
    pub const DEFAULT_MAX: u32 = 1095;

    fn in_range(days: u32) -> bool {
        (1..=Self::LIMIT).contains(&days)
    }

    /// The pair a product ends up with: max absent → 1095; default absent → min(730, max).
    pub fn of(default: Option<u32>, max: Option<u32>) -> Result<ValidDays, ValidDaysError> {
        let max = max.unwrap_or(Self::DEFAULT_MAX);
        let default = default.unwrap_or(Self::DEFAULT.min(max));
        for (field, value) in [("defaultValidDay", default), ("maxValidDay", max)] {
            if !Self::in_range(value) {
                return Err(ValidDaysError::OutOfRange { field, value });
            }
        }
        if default > max {
            return Err(ValidDaysError::DefaultAboveMax { default, max });
        }
        Ok(ValidDays { default, max })
    }

    /// One setting as a request sends it (`defaultValidDay` or `maxValidDay`), refused
    /// with the request's 99400 when out of range.
    pub fn setting(field: &str, days: i64) -> Result<u32, EnosError> {
        match u32::try_from(days) {
            Ok(days) if Self::in_range(days) => Ok(days),
            _ => Err(EnosError::invalid_argument(
                field,
                format!("{field} must be between 1 and {}", Self::LIMIT),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_ranges_follow_b14() {
        let days = |default, max| ValidDays::of(default, max).map(|d| (d.default, d.max));
        assert_eq!(days(None, None), Ok((730, 1095)));
        assert_eq!(days(None, Some(365)), Ok((365, 365)));
        for (default, max, field, message) in [
            (
                Some(400),
                Some(365),
                "defaultValidDay",
                "defaultValidDay 400 exceeds maxValidDay 365",
            ),
            (
                Some(0),
                None,
                "defaultValidDay",
                "defaultValidDay 0 is outside 1..=3650",
            ),
            (
                None,
                Some(3651),
                "maxValidDay",
                "maxValidDay 3651 is outside 1..=3650",
            ),
        ] {
            let e = ValidDays::of(default, max).unwrap_err();
            assert_eq!((e.field(), e.to_string().as_str()), (field, message));
        }
        assert_eq!(ValidDays::setting("maxValidDay", 3650), Ok(3650));
        for days in [0, 3651, -1, i64::MAX] {
            let e = ValidDays::setting("maxValidDay", days).unwrap_err();
            let message = "Invalid Argument maxValidDay:maxValidDay must be between 1 and 3650";
            assert_eq!(e.msg, message, "{days}");
        }
    }
}
