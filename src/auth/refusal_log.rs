//! A limit on the log lines of refused calls: a client (or attacker) sending garbage
//! at full speed would otherwise write one INFO line per request (19.6 MB in one
//! probe). At most [`LINES_PER_SECOND`] lines a second; the first line of the next
//! second says how many were left out.

use std::time::Instant;

use parking_lot::Mutex;

pub const LINES_PER_SECOND: u32 = 10;

#[derive(Debug)]
pub struct RefusalLog {
    started: Instant,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    second: u64,
    lines: u32,
    suppressed: u64,
}

impl Default for RefusalLog {
    fn default() -> Self {
        RefusalLog {
            started: Instant::now(),
            window: Mutex::default(),
        }
    }
}

impl RefusalLog {
    /// `Some(k)`: write the line, noting `k` left out before it; `None`: leave it out.
    pub fn admit(&self) -> Option<u64> {
        self.admit_at(self.started.elapsed().as_secs())
    }

    fn admit_at(&self, second: u64) -> Option<u64> {
        let mut w = self.window.lock();
        if w.second != second {
            w.second = second;
            w.lines = 0;
        }
        if w.lines >= LINES_PER_SECOND {
            w.suppressed += 1;
            return None;
        }
        w.lines += 1;
        Some(std::mem::take(&mut w.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_n_lines_a_second_then_the_count_of_the_rest() {
        let log = RefusalLog::default();
        let first: Vec<_> = (0..25).map(|_| log.admit_at(0)).collect();
        assert_eq!(first.iter().filter(|a| a.is_some()).count(), 10);
        assert!(first[..10].iter().all(|a| *a == Some(0)));
        assert!(first[10..].iter().all(Option::is_none));
        // The next second: lines again, the first one carrying the 15 left out.
        assert_eq!(log.admit_at(1), Some(15));
        assert_eq!(log.admit_at(1), Some(0));
        assert_eq!(log.admit_at(5), Some(0));
    }
}
