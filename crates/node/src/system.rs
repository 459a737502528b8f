//! Host facts and metrics: host name, load average and memory from `/proc`, a sims/s meter.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wowlab_api::node::SystemMetrics;

/// The host name (`/proc/sys/kernel/hostname`, then `$HOSTNAME`), or `localhost`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// One-minute load average, 0 where unavailable.
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// `(used, total)` memory in bytes from `/proc/meminfo` (used = total − available).
pub fn memory() -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else {
        return (0, 0);
    };
    parse_meminfo(&text)
}

fn parse_meminfo(text: &str) -> (u64, u64) {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    let total = field("MemTotal:").unwrap_or(0);
    let avail = field("MemAvailable:").unwrap_or(total);
    (total.saturating_sub(avail), total)
}

/// Iterations per second over a sliding window, from a monotonic counter.
#[derive(Debug)]
pub struct RateMeter {
    window: Duration,
    samples: Mutex<VecDeque<(Instant, u64)>>,
}

impl RateMeter {
    /// A meter averaging over `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            samples: Mutex::new(VecDeque::new()),
        }
    }

    /// Records the counter's current `total` and returns the rate over the window.
    pub fn rate(&self, total: u64) -> f64 {
        let now = Instant::now();
        let mut s = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        s.push_back((now, total));
        // Keep one sample older than the window as the baseline.
        while s.len() > 2 && now.duration_since(s[1].0) > self.window {
            s.pop_front();
        }
        while s.len() > 256 {
            s.pop_front();
        }
        let (t0, n0) = s[0];
        let dt = now.duration_since(t0).as_secs_f64();
        if dt < 0.05 {
            return 0.0;
        }
        total.saturating_sub(n0) as f64 / dt
    }
}

/// Metrics for a heartbeat.
pub fn metrics(sims_per_sec: f64) -> SystemMetrics {
    let (mem_used_bytes, mem_total_bytes) = memory();
    SystemMetrics {
        load1: load1(),
        mem_used_bytes,
        mem_total_bytes,
        sims_per_sec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_parses() {
        let (used, total) =
            parse_meminfo("MemTotal:       1000 kB\nMemFree: 10 kB\nMemAvailable:    400 kB\n");
        assert_eq!(total, 1000 * 1024);
        assert_eq!(used, 600 * 1024);
    }

    #[test]
    fn rate_over_window() {
        let m = RateMeter::new(Duration::from_secs(10));
        assert_eq!(m.rate(0), 0.0);
        std::thread::sleep(Duration::from_millis(100));
        let r = m.rate(100);
        assert!(r > 0.0 && r <= 1000.0 + 1.0, "{r}");
    }

    #[test]
    fn host_facts_are_present() {
        assert!(!hostname().is_empty());
        assert!(load1() >= 0.0);
    }
}
