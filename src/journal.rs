//! The request journal: a bounded ring of the calls the mock answered
//! (EnOS, token and CA calls; never control calls). Memory stays bounded:
//! at most `capacity` entries, each with its text fields cut to a few hundred
//! bytes, and a read returns at most [`DEFAULT_READ_LIMIT`] entries unless it
//! asks for more (see docs/limits.md).

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde::{Serialize, Serializer};

fn as_rfc3339<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::clock::rfc3339(*ms))
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Mock-clock time, shown as RFC 3339 (formatted only when read).
    #[serde(rename = "time", serialize_with = "as_rfc3339")]
    pub time_ms: i64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub action: Option<String>,
    pub status: u16,
    /// The EnOS `code` (or token-service `status`) when the answer had one.
    pub code: Option<i64>,
    pub latency_ms: f64,
    /// Set on device connections and messages, absent on HTTP calls.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttFields>,
}

/// What an MQTT entry adds: `"transport": "mqtt"` and, per action, the device, the
/// certificate and the outcome (`mqtt.connect`) or the message (`mqtt.publish`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MqttFields {
    pub transport: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_key: Option<String>,
    /// Decimal, when the device presented a certificate.
    #[serde(rename = "certSN", skip_serializing_if = "Option::is_none")]
    pub cert_sn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<&'static str>,
    /// `accepted` or `refused`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `up` (device to mock) or `down`, on `mqtt.publish`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The message as text (a binary one as `hex:`), bounded like the other fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
}

/// Longest stored method, path and query, in bytes: a 64 KB query costs the journal
/// no more than a short one (issue 10: 1,200 such calls made one read 60 MB).
pub const MAX_METHOD: usize = 32;
pub const MAX_PATH: usize = 512;
pub const MAX_QUERY: usize = 1024;
/// Longest stored MQTT payload, in bytes.
pub const MAX_PAYLOAD: usize = 1024;

/// Entries a read returns when it gives no `limit`: the newest 100, so that many
/// concurrent reads of a full journal stay cheap.
pub const DEFAULT_READ_LIMIT: usize = 100;

/// `text` cut to at most `max` bytes (on a character boundary) and marked
/// `…[truncated N bytes]`, N the bytes left out; unchanged when short enough.
/// A cut text is a new, small allocation: `String::truncate` keeps the capacity, so
/// each entry of 60 KB queries held 60 KB (60 MB of RSS for a full journal).
pub fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let dropped = text.len() - cut;
    let marker = format!("…[truncated {dropped} bytes]");
    let mut stored = String::with_capacity(cut + marker.len());
    stored.push_str(&text[..cut]);
    stored.push_str(&marker);
    stored
}

/// Which entries `GET /__admin/requests` returns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub code: Option<i64>,
    /// The newest N after filtering; [`DEFAULT_READ_LIMIT`] when not given.
    pub limit: Option<usize>,
}

#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    entries: Mutex<VecDeque<Entry>>,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal {
            capacity,
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stores `entry` with its text fields bounded, dropping the oldest when full.
    pub fn record(&self, mut entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        entry.method = bounded(entry.method, MAX_METHOD);
        entry.path = bounded(entry.path, MAX_PATH);
        entry.query = bounded(entry.query, MAX_QUERY);
        let mut entries = self.entries.lock();
        if entries.len() == self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.entries.lock().clear();
    }

    /// The newest `limit` matching entries, oldest first. Only those are copied.
    pub fn query(&self, filter: &Filter) -> Vec<Entry> {
        let limit = filter.limit.unwrap_or(DEFAULT_READ_LIMIT);
        let entries = self.entries.lock();
        let mut newest: Vec<Entry> = entries
            .iter()
            .rev()
            .filter(|e| {
                filter
                    .action
                    .as_ref()
                    .is_none_or(|a| e.action.as_ref() == Some(a))
            })
            .filter(|e| filter.code.is_none_or(|c| e.code == Some(c)))
            .take(limit)
            .cloned()
            .collect();
        drop(entries);
        newest.reverse();
        newest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, code: i64) -> Entry {
        Entry {
            time_ms: 0,
            method: "POST".into(),
            path: "/p".into(),
            query: String::new(),
            action: Some(action.into()),
            status: 200,
            code: Some(code),
            latency_ms: 0.0,
            mqtt: None,
        }
    }

    #[test]
    fn bounded_and_filtered() {
        let j = Journal::new(3);
        for (i, a) in ["apply", "list", "apply", "renew"].iter().enumerate() {
            j.record(entry(a, i as i64));
        }
        assert_eq!(j.len(), 3);
        let all = j.query(&Filter::default());
        assert_eq!(all[0].action.as_deref(), Some("list"), "oldest dropped");
        let applies = j.query(&Filter {
            action: Some("apply".into()),
            ..Filter::default()
        });
        assert_eq!(applies.len(), 1);
        let newest = j.query(&Filter {
            limit: Some(1),
            ..Filter::default()
        });
        assert_eq!(newest[0].action.as_deref(), Some("renew"));
        assert_eq!(
            j.query(&Filter {
                code: Some(1),
                ..Filter::default()
            })
            .len(),
            1
        );
        j.clear();
        assert!(j.is_empty());
        let off = Journal::new(0);
        off.record(entry("apply", 0));
        assert!(off.is_empty());
    }

    #[test]
    fn long_fields_are_stored_cut_and_marked() {
        let j = Journal::new(2);
        let mut long = entry("apply", 0);
        long.method = "M".repeat(1000);
        long.path = format!("/connect-service/{}", "p".repeat(70_000));
        long.query = format!("orgId=é{}", "q".repeat(65_536));
        let (path_len, query_len) = (long.path.len(), long.query.len());
        j.record(long);
        let stored = &j.query(&Filter::default())[0];
        assert_eq!(
            stored.method,
            format!("{}…[truncated 968 bytes]", "M".repeat(32))
        );
        assert!(stored.path.starts_with("/connect-service/ppp"));
        assert!(stored
            .path
            .ends_with(&format!("…[truncated {} bytes]", path_len - MAX_PATH)));
        assert!(stored
            .query
            .ends_with(&format!("…[truncated {} bytes]", query_len - MAX_QUERY)));
        for field in [&stored.method, &stored.path, &stored.query] {
            assert!(field.len() <= MAX_QUERY + 32, "{} bytes", field.len());
        }
        // Short fields, and a cut inside a multi-byte character, stay valid text.
        assert_eq!(bounded("abc".into(), 3), "abc");
        assert_eq!(bounded("aé".into(), 2), "a…[truncated 2 bytes]");
        // The cut text does not keep the long text's allocation.
        let cut = bounded("q".repeat(65_536), MAX_QUERY);
        assert!(
            cut.capacity() < MAX_QUERY + 64,
            "capacity {}",
            cut.capacity()
        );
    }

    #[test]
    fn reads_return_the_newest_hundred_unless_asked() {
        let j = Journal::new(1000);
        for i in 0..1000 {
            j.record(entry("list", i));
        }
        let read = j.query(&Filter::default());
        assert_eq!(read.len(), DEFAULT_READ_LIMIT);
        assert_eq!(
            read.first().unwrap().code,
            Some(900),
            "newest, oldest first"
        );
        assert_eq!(read.last().unwrap().code, Some(999));
        let all = j.query(&Filter {
            limit: Some(1000),
            ..Filter::default()
        });
        assert_eq!(all.len(), 1000);
        // 1,000 entries of the longest fields serialise to a few MB at most.
        let mut big = entry("list", 0);
        big.method = "M".repeat(5000);
        big.path = "p".repeat(100_000);
        big.query = "q".repeat(100_000);
        for _ in 0..1000 {
            j.record(big.clone());
        }
        let full = serde_json::to_vec(&j.query(&Filter {
            limit: Some(1000),
            ..Filter::default()
        }))
        .unwrap();
        assert!(full.len() < 2_000_000, "{} bytes", full.len());
        let default = serde_json::to_vec(&j.query(&Filter::default())).unwrap();
        assert!(default.len() < 200_000, "{} bytes", default.len());
    }
}
