//! The request journal: a bounded ring of the calls the mock answered
//! (EnOS, token and CA calls, device connections and messages; never control calls).
//! Memory stays bounded: at most `capacity` entries, each text field a [`Text`] cut to
//! its [`Field`]'s bound when it is made, and a read returns at most
//! [`DEFAULT_READ_LIMIT`] entries unless it asks for more (see docs/limits.md).

use std::collections::VecDeque;
use std::fmt;

use parking_lot::Mutex;
use serde::Serialize;

use crate::domain::model::Authority;

/// One call (or device event) of the journal: what [`crate::MockServer::requests`] returns.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// Mock-clock time, shown as RFC 3339 (formatted only when read).
    #[serde(rename = "time", serialize_with = "crate::clock::serialize_rfc3339")]
    pub time_ms: i64,
    pub method: Text,
    pub path: Text,
    pub query: Text,
    pub action: Option<Text>,
    pub status: u16,
    /// The EnOS `code` (or token-service `status`) when the answer had one.
    pub code: Option<i64>,
    pub latency_ms: f64,
    /// Set on device connections and messages, absent on HTTP calls.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<JournalMqttFields>,
}

/// What an MQTT entry adds: `"transport": "mqtt"` and, per action, the device, the
/// certificate and the outcome (`mqtt.connect`) or the message (`mqtt.publish`).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalMqttFields {
    pub transport: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_key: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_key: Option<Text>,
    /// Decimal, when the device presented a certificate.
    #[serde(rename = "certSN", skip_serializing_if = "Option::is_none")]
    pub serial: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<Authority>,
    /// `accepted` or `refused`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// `up` (device to mock) or `down`, on `mqtt.publish`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<Text>,
    /// The message as text ([`Text::lossy`]), on `mqtt.publish`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
}

/// What a piece of recorded text is; each kind has its longest stored length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// An HTTP method (32 bytes).
    Method,
    /// A URL path (512 bytes).
    Path,
    /// A raw query string (1,024 bytes).
    Query,
    /// An action name, EnOS or MQTT (64 bytes).
    Action,
    /// A productKey, deviceKey or assetId, as a client sent it (64 bytes).
    Key,
    /// A certificate serial number in decimal (64 bytes).
    Serial,
    /// Why something was refused or ended (256 bytes).
    Reason,
    /// An MQTT topic (256 bytes).
    Topic,
    /// A message payload, as text (512 bytes).
    Payload,
    /// A request header's value quoted in an answer or a log line (128 bytes).
    Header,
}

impl Field {
    /// The most bytes of text kept; a longer text is cut here and marked.
    pub const fn max(self) -> usize {
        match self {
            Field::Method => 32,
            Field::Path => 512,
            Field::Query => 1024,
            Field::Action | Field::Key | Field::Serial => 64,
            Field::Header => 128,
            Field::Reason | Field::Topic => 256,
            Field::Payload => 512,
        }
    }
}

/// Text as the journal and the log keep it: at most its [`Field`]'s bound in bytes
/// (cut on a character boundary and marked `…[truncated N bytes]`, N the bytes left
/// out). The only way text enters a [`JournalEntry`], so no caller can store a field whole;
/// log lines about anonymous input print these same values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text(String);

/// The longest marker [`Text`] appends (`…` is 3 bytes, N at most 20 digits).
pub const MARKER_MAX: usize = "…[truncated  bytes]".len() + 20;

impl Text {
    /// `text` kept for `field`: copied whole when short enough, else its first
    /// `field.max()` bytes and the marker. Only the kept part is copied.
    pub fn new(field: Field, text: &str) -> Text {
        let max = field.max();
        if text.len() <= max {
            return Text(text.to_string());
        }
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        Text(Self::marked(&text[..cut], text.len() - cut))
    }

    /// As [`Text::new`], keeping the `String`'s allocation when it is short enough. A
    /// cut text is a new, small allocation: `String::truncate` keeps the capacity, so
    /// each entry of 60 KB queries held 60 KB (60 MB of RSS for a full journal).
    pub fn from_string(field: Field, text: String) -> Text {
        if text.len() <= field.max() {
            Text(text)
        } else {
            Text::new(field, &text)
        }
    }

    /// Bytes as text for `field`: invalid UTF-8 shows as U+FFFD, and only what is kept
    /// is converted; N in the marker counts the input bytes left out.
    pub fn lossy(field: Field, bytes: &[u8]) -> Text {
        let max = field.max();
        let mut kept = String::new();
        let mut consumed = 0;
        'chunks: for chunk in bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                if kept.len() + c.len_utf8() > max {
                    break 'chunks;
                }
                kept.push(c);
                consumed += c.len_utf8();
            }
            if !chunk.invalid().is_empty() {
                if kept.len() + '\u{fffd}'.len_utf8() > max {
                    break;
                }
                kept.push('\u{fffd}');
                consumed += chunk.invalid().len();
            }
        }
        if consumed == bytes.len() {
            Text(kept)
        } else {
            Text(Self::marked(&kept, bytes.len() - consumed))
        }
    }

    fn marked(kept: &str, dropped: usize) -> String {
        use std::fmt::Write;
        let mut stored = String::with_capacity(kept.len() + MARKER_MAX);
        stored.push_str(kept);
        let _ = write!(stored, "…[truncated {dropped} bytes]");
        stored
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Entries a read returns when it gives no `limit`: the newest 100, so that many
/// concurrent reads of a full journal stay cheap.
pub const DEFAULT_READ_LIMIT: usize = 100;

#[cfg(test)]
/// The most one entry serialises to, whatever it was made from (docs/limits.md: ≈1.8 KB).
pub const MAX_ENTRY_JSON: usize = 1_900;

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
    entries: Mutex<VecDeque<JournalEntry>>,
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

    /// Stores `entry` (its text fields are bounded [`Text`]), dropping the oldest when full.
    pub fn record(&self, entry: JournalEntry) {
        if self.capacity == 0 {
            return;
        }
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
    pub fn query(&self, filter: &Filter) -> Vec<JournalEntry> {
        let limit = filter.limit.unwrap_or(DEFAULT_READ_LIMIT);
        let entries = self.entries.lock();
        let mut newest: Vec<JournalEntry> = entries
            .iter()
            .rev()
            .filter(|e| {
                filter
                    .action
                    .as_ref()
                    .is_none_or(|a| e.action.as_ref().map(Text::as_str) == Some(a.as_str()))
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

    fn entry(action: &str, code: i64) -> JournalEntry {
        JournalEntry {
            time_ms: 0,
            method: Text::new(Field::Method, "POST"),
            path: Text::new(Field::Path, "/p"),
            query: Text::default(),
            action: Some(Text::new(Field::Action, action)),
            status: 200,
            code: Some(code),
            latency_ms: 0.0,
            mqtt: None,
        }
    }

    /// Every text field at its bound, and each cut from 100,000 bytes.
    fn largest_http() -> JournalEntry {
        let long = "x".repeat(100_000);
        JournalEntry {
            time_ms: i64::MAX / 4,
            method: Text::new(Field::Method, &long),
            path: Text::new(Field::Path, &long),
            query: Text::new(Field::Query, &long),
            action: Some(Text::new(Field::Action, &long)),
            status: 599,
            code: Some(i64::MIN),
            latency_ms: 123_456.789,
            mqtt: None,
        }
    }

    /// An MQTT entry has no path or query.
    fn largest_mqtt() -> JournalEntry {
        let long = "x".repeat(100_000);
        let text = |field| Some(Text::new(field, &long));
        JournalEntry {
            path: Text::default(),
            query: Text::default(),
            mqtt: Some(JournalMqttFields {
                transport: "mqtt",
                product_key: text(Field::Key),
                device_key: text(Field::Key),
                serial: text(Field::Serial),
                authority: Some(Authority::Rsa),
                outcome: Some("refused"),
                reason: text(Field::Reason),
                direction: Some("down"),
                topic: text(Field::Topic),
                payload: text(Field::Payload),
                qos: Some(1),
                bytes: Some(usize::MAX),
            }),
            ..largest_http()
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
        assert_eq!(
            all[0].action.as_ref().map(Text::as_str),
            Some("list"),
            "oldest dropped"
        );
        let applies = j.query(&Filter {
            action: Some("apply".into()),
            ..Filter::default()
        });
        assert_eq!(applies.len(), 1);
        let newest = j.query(&Filter {
            limit: Some(1),
            ..Filter::default()
        });
        assert_eq!(newest[0].action.as_ref().map(Text::as_str), Some("renew"));
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
    fn long_text_is_cut_and_marked() {
        let path = format!("/connect-service/{}", "p".repeat(70_000));
        let cut = Text::new(Field::Path, &path);
        assert!(cut.as_str().starts_with("/connect-service/ppp"));
        assert_eq!(
            &cut.as_str()[Field::Path.max()..],
            format!("…[truncated {} bytes]", path.len() - Field::Path.max())
        );
        assert_eq!(
            Text::new(Field::Method, &"M".repeat(1000)).as_str(),
            format!("{}…[truncated 968 bytes]", "M".repeat(32))
        );
        // Short text is kept whole; a cut inside a multi-byte character stays valid text.
        assert_eq!(Text::new(Field::Method, "GET").as_str(), "GET");
        let accented = format!("{}é", "a".repeat(31));
        assert_eq!(
            Text::new(Field::Method, &format!("{accented}z")).as_str(),
            format!("{}…[truncated 3 bytes]", "a".repeat(31))
        );
        // Bytes: cut before they are converted, invalid UTF-8 replaced.
        assert_eq!(Text::lossy(Field::Method, b"a\xffb").as_str(), "a\u{fffd}b");
        let invalid = Text::lossy(Field::Method, &[0xff; 100]);
        assert_eq!(
            invalid.as_str(),
            format!("{}…[truncated 90 bytes]", "\u{fffd}".repeat(10))
        );
        assert_eq!(
            Text::lossy(Field::Method, &[b'q'; 100_000]).as_str(),
            format!("{}…[truncated 99968 bytes]", "q".repeat(32))
        );
        // The cut text does not keep the long text's allocation.
        let cut = Text::from_string(Field::Query, "q".repeat(65_536));
        assert!(
            cut.0.capacity() <= Field::Query.max() + MARKER_MAX,
            "{}",
            cut.0.capacity()
        );
        let short = String::from("kept");
        let pointer = short.as_ptr();
        assert_eq!(Text::from_string(Field::Query, short).0.as_ptr(), pointer);
        // Display is the stored text itself (what log lines print).
        assert_eq!(format!("{}", Text::new(Field::Key, "dev&pk")), "dev&pk");
    }

    #[test]
    fn an_entry_serialises_to_at_most_1_900_bytes_whatever_it_was_made_from() {
        for entry in [largest_http(), largest_mqtt()] {
            let json = serde_json::to_string(&entry).unwrap();
            assert!(json.len() <= MAX_ENTRY_JSON, "{} bytes: {json}", json.len());
        }
        // The bound is not loose: the largest HTTP entry comes within 10% of it.
        let http = serde_json::to_string(&largest_http()).unwrap().len();
        assert!(http > MAX_ENTRY_JSON * 9 / 10, "{http}");
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
        // 1,000 entries of the longest fields serialise to 1.8 MB at most.
        for i in 0..1000 {
            j.record(if i % 2 == 0 {
                largest_http()
            } else {
                largest_mqtt()
            });
        }
        let full = serde_json::to_vec(&j.query(&Filter {
            limit: Some(1000),
            ..Filter::default()
        }))
        .unwrap();
        assert!(
            full.len() <= 1000 * (MAX_ENTRY_JSON + 1),
            "{} bytes",
            full.len()
        );
        let default = serde_json::to_vec(&j.query(&Filter::default())).unwrap();
        assert!(
            default.len() <= 100 * (MAX_ENTRY_JSON + 1),
            "{} bytes",
            default.len()
        );
    }
}
