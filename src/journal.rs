//! The request journal: a bounded ring of the calls the mock answered
//! (EnOS, token and CA calls; never control calls). Memory stays bounded.

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
}

/// Which entries `GET /__admin/requests` returns.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub code: Option<i64>,
    /// The newest N after filtering.
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

    pub fn record(&self, entry: Entry) {
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

    /// Matching entries, oldest first.
    pub fn query(&self, filter: &Filter) -> Vec<Entry> {
        let entries = self.entries.lock();
        let mut matching: Vec<Entry> = entries
            .iter()
            .filter(|e| {
                filter
                    .action
                    .as_ref()
                    .is_none_or(|a| e.action.as_ref() == Some(a))
            })
            .filter(|e| filter.code.is_none_or(|c| e.code == Some(c)))
            .cloned()
            .collect();
        if let Some(limit) = filter.limit {
            let skip = matching.len().saturating_sub(limit);
            matching.drain(..skip);
        }
        matching
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
}
