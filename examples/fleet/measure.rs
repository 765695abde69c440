//! The process side: our own open-files limit, and a broker's CPU time and RSS from `/proc`.

use serde::Serialize;

/// Raises our soft open-files limit to the hard one (every session is a socket); returns it.
pub fn raise_open_files_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if limit.current != limit.maximum && setrlimit(Resource::Nofile, raised).is_err() {
        return limit.current.unwrap_or(u64::MAX);
    }
    limit.maximum.unwrap_or(u64::MAX)
}

pub fn open_files_limit() -> u64 {
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// The processes whose CPU and memory count as the broker's (a process and its children
/// threads; several pids for a broker with worker processes).
#[derive(Debug, Clone)]
pub struct Broker {
    pids: Vec<u32>,
    tick: f64,
}

/// One reading.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// utime + stime, seconds.
    pub cpu_s: f64,
    /// VmRSS, KiB (summed over the pids).
    pub rss_kib: u64,
}

impl Broker {
    pub fn new(pids: Vec<u32>) -> Broker {
        // USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every Linux this runs on.
        Broker { pids, tick: 100.0 }
    }

    pub fn sample(&self) -> Option<Sample> {
        if self.pids.is_empty() {
            return None;
        }
        let mut cpu_ticks = 0u64;
        let mut rss_kib = 0u64;
        for pid in &self.pids {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            cpu_ticks +=
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            rss_kib += status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())?;
        }
        Some(Sample {
            cpu_s: cpu_ticks as f64 / self.tick,
            rss_kib,
        })
    }
}

/// CPU seconds between two samples, if both exist.
pub fn cpu_between(a: Option<Sample>, b: Option<Sample>) -> Option<f64> {
    Some(b?.cpu_s - a?.cpu_s)
}
