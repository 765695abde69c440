//! The one clock. Every time-dependent decision reads it, and the control API moves it.
//!
//! The mock clock is the real clock plus an offset, so it keeps running after it
//! is set or advanced, as time does for the client under test.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
    /// Bumped on every move, so caches keyed on time (the CRLs) know to refresh.
    generation: AtomicU64,
}

fn real_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Mock time, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        real_now_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn now(&self) -> OffsetDateTime {
        ms_to_datetime(self.now_ms())
    }

    pub fn offset_seconds(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed) / 1000
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    pub fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_ms(&self, target_ms: i64) {
        self.offset_ms
            .store(target_ms.saturating_sub(real_now_ms()), Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }
}

/// Epoch milliseconds to a UTC date-time, clamped to what `time` can represent.
pub fn ms_to_datetime(ms: i64) -> OffsetDateTime {
    let nanos = (ms as i128) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if ms < 0 {
        OffsetDateTime::UNIX_EPOCH
    } else {
        time::macros::datetime!(9999-12-31 23:59:59 UTC)
    })
}

pub fn datetime_to_ms(dt: OffsetDateTime) -> i64 {
    (dt.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Serialises milliseconds as [`rfc3339`] (`#[serde(serialize_with = ...)]`).
pub fn serialize_rfc3339<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*ms))
}

/// RFC 3339 rendering used by every control-plane answer.
pub fn rfc3339(ms: i64) -> String {
    ms_to_datetime(ms)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn parse_rfc3339(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(datetime_to_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_advance_move_now() {
        let c = Clock::new();
        c.set_ms(1_000_000_000_000);
        assert!((c.now_ms() - 1_000_000_000_000).abs() < 5_000);
        c.advance_ms(86_400_000);
        assert!((c.now_ms() - 1_000_086_400_000).abs() < 5_000);
        c.reset();
        assert_eq!(c.offset_seconds(), 0);
        assert_eq!(c.generation(), 3);
    }

    #[test]
    fn rfc3339_round_trips() {
        let ms = 1_700_000_000_123;
        assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
    }
}
