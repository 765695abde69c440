//! Latency samples and failure counts, summarised for the report.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// p50/p90/p99/max of a set of durations, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl Latency {
    /// Nearest-rank percentiles of samples in microseconds.
    pub fn of(mut micros: Vec<u32>) -> Latency {
        micros.sort_unstable();
        let at = |q: f64| -> Option<f64> {
            if micros.is_empty() {
                return None;
            }
            let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            Some(f64::from(micros[rank - 1]) / 1000.0)
        };
        Latency {
            count: micros.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: micros.last().map(|m| f64::from(*m) / 1000.0),
        }
    }

    /// "p50 0.31 ms, p99 27.00 ms", or "no samples": the progress lines print values.
    pub fn p50_p99(&self) -> String {
        match (self.p50_ms, self.p99_ms) {
            (Some(p50), Some(p99)) => format!("p50 {p50:.2} ms, p99 {p99:.2} ms"),
            _ => "no samples".to_owned(),
        }
    }
}

pub fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

/// Why connections failed, by step and reason, with the first message of each.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Failures {
    pub total: usize,
    /// "step: reason" → count
    pub by_reason: BTreeMap<String, usize>,
    /// "step: reason" → the first full error seen
    pub examples: BTreeMap<String, String>,
}

impl Failures {
    pub fn add(&mut self, key: String, detail: String) {
        self.total += 1;
        *self.by_reason.entry(key.clone()).or_default() += 1;
        self.examples.entry(key).or_insert(detail);
    }

    /// The most frequent reason: what the run ran into.
    pub fn main_reason(&self) -> Option<(&str, usize)> {
        self.by_reason
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, n)| (k.as_str(), *n))
    }
}
