//! Signed calls already let through in strict mode, so an exact replay inside the
//! timestamp window is refused (issue 10). A replay must repeat token, timestamp and
//! signature; the signature is a SHA-256 over the token, the request and the timestamp,
//! so it names the call and is the one key kept, with its timestamp.

use std::collections::BTreeSet;

use parking_lot::Mutex;

/// The most signed calls remembered. An entry is forgotten once its timestamp leaves
/// the window (a replay is then refused as stale anyway); the bound only matters above
/// about 110 signed calls a second held for 15 minutes, and costs about 10 MB when full.
pub(crate) const REMEMBERED: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct Replays {
    /// (apim-timestamp in ms, lowercase hex signature), oldest timestamp first.
    seen: Mutex<BTreeSet<(i64, String)>>,
}

impl Replays {
    /// Records a verified call; false when the same call was recorded before.
    pub(crate) fn first_use(
        &self,
        timestamp_ms: i64,
        signature_hex: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> bool {
        let mut seen = self.seen.lock();
        // Entries outside the window either way (the mock clock moves both ways).
        let oldest = now_ms.saturating_sub(window_ms);
        let newest = now_ms.saturating_add(window_ms);
        while seen.first().is_some_and(|(t, _)| *t < oldest) {
            seen.pop_first();
        }
        while seen.last().is_some_and(|(t, _)| *t > newest) {
            seen.pop_last();
        }
        if !seen.insert((timestamp_ms, signature_hex.to_ascii_lowercase())) {
            return false;
        }
        if seen.len() > REMEMBERED {
            seen.pop_first();
        }
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.lock().len()
    }

    pub(crate) fn clear(&self) {
        self.seen.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    const WINDOW: i64 = 15 * 60_000;

    #[test]
    fn a_call_is_let_through_once_per_window() {
        let r = Replays::default();
        assert!(r.first_use(NOW, "AB", NOW, WINDOW));
        assert!(!r.first_use(NOW, "ab", NOW + 1_000, WINDOW));
        assert!(r.first_use(NOW + 1, "ab", NOW + 1_000, WINDOW));
        assert!(r.first_use(NOW, "cd", NOW, WINDOW));
    }

    #[test]
    fn entries_expire_with_the_window_on_the_mock_clock() {
        let r = Replays::default();
        for i in 0..1_000 {
            assert!(r.first_use(NOW + i, &format!("{i:x}"), NOW, WINDOW));
        }
        assert_eq!(r.len(), 1_000);
        // Past the window of every timestamp: all forgotten on the next call.
        assert!(r.first_use(NOW + 2 * WINDOW, "new", NOW + 2 * WINDOW, WINDOW));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn memory_is_bounded() {
        let r = Replays::default();
        for i in 0..(REMEMBERED as i64 + 10) {
            r.first_use(NOW, &i.to_string(), NOW, WINDOW);
        }
        assert_eq!(r.len(), REMEMBERED);
    }
}
