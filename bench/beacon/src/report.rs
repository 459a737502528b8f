//! The Markdown report written to bench/results/beacon.md.

use std::fmt::Write;

use crate::fanout::FanoutResult;
use crate::idle::IdleResult;

/// Everything one `run` measured.
#[derive(Default)]
pub struct Report {
    pub fanout: Vec<FanoutResult>,
    pub idle: Vec<IdleResult>,
    pub nats_version: String,
    /// /proc/loadavg when the run started (other work on the host skews every figure).
    pub loadavg_start: String,
}

/// First three fields of /proc/loadavg.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn machine() -> (usize, String) {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    (nproc, date)
}

impl Report {
    /// Render the report.
    pub fn markdown(&self) -> String {
        let (nproc, date) = machine();
        let mut s = String::new();
        let _ = writeln!(s, "# beacon benchmark\n");
        let _ = writeln!(s, "Measured {date} on a machine with nproc = {nproc}; load generator `wowlab-bench-beacon` in a separate process on the same host (loopback), protobuf protocol, 100-byte payloads, release builds. Command: `bench/beacon/run`. Load average at start: {} (1/5/15 min; anything above 0 is other work competing for the 2 cores).\n", self.loadavg_start);
        let _ = writeln!(
            s,
            "## Fan-out: 1 publisher → N subscribers of one channel\n"
        );
        let _ = writeln!(s, "The publisher keeps at most `window` messages in flight (counted by deliveries to all subscribers): window 64 is the throughput pass (the rate is sustained end to end, latency includes queueing behind up to 63 earlier messages), window 1 the latency pass (each sample is one fan-out on an otherwise idle channel). Latency is publish → deliver, from timestamps inside the payload, over every delivery. *CPU per delivery* is user + system time from /proc over the measured part of the pass, divided by the deliveries in it: the server process(es) and the load generator (publisher and every subscriber) separately. On 2 shared cores the two add up to the throughput: whatever one side spends per delivery, the other cannot.\n");
        let _ = writeln!(s, "| server | subscribers | window | round | published | delivered / expected | delivered msgs/s | p50 latency | p99 latency | max | msgs per WS frame | server CPU per delivery | load generator CPU per delivery | load at start |");
        let _ = writeln!(
            s,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for r in &self.fanout {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} / {} | {:.0} | {} | {} | {} | {:.1} | {} | {} | {} |",
                r.system,
                r.subscribers,
                r.window,
                r.round,
                r.published,
                r.delivered,
                r.expected,
                r.delivered_per_s,
                us(r.p50_us),
                us(r.p99_us),
                us(r.max_us),
                r.msgs_per_frame,
                cpu(r.server_cpu_us),
                cpu(r.loadgen_cpu_us),
                r.load
            );
        }
        let ratios = self.ratios();
        if !ratios.is_empty() {
            let _ = writeln!(
                s,
                "\nThroughput ratio beacon / nats-server ({}), the median over the rounds (each round's ratio in brackets; beacon and nats-server alternate ABBA…, each pass on a fresh process): {}.",
                self.nats_version,
                ratios.join(", ")
            );
        }
        let _ = writeln!(
            s,
            "\nTarget: ≥ 1,000,000 delivered msgs/s on the hot channel.\n"
        );
        self.pairs(&mut s);
        let _ = writeln!(s, "## Idle authenticated connections (beacon RSS)\n");
        let _ = writeln!(
            s,
            "| connections | RSS before | RSS after | RSS per connection | anonymous RSS before | anonymous RSS after | **anonymous RSS per connection** |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
        for r in &self.idle {
            let _ = writeln!(
                s,
                "| {} | {} KiB | {} KiB | {:.1} KB | {} KiB | {} KiB | **{:.1} KB** |",
                r.connections,
                r.rss_before_kib,
                r.rss_after_kib,
                r.bytes_per_connection as f64 / 1000.0,
                r.anon_before_kib,
                r.anon_after_kib,
                r.anon_bytes_per_connection as f64 / 1000.0
            );
        }
        // Each count is a fresh process, so the difference between two counts leaves out what
        // any beacon holds once it serves connections at all (runtime, allocator arenas).
        if let [small, .., large] = &self.idle[..] {
            if large.connections > small.connections {
                let per = |a: u64, b: u64| {
                    b.saturating_sub(a) as f64 * 1024.0
                        / (large.connections - small.connections) as f64
                        / 1000.0
                };
                let _ = writeln!(
                    s,
                    "\nFrom {} to {} connections: {:.1} KB RSS, {:.1} KB anonymous RSS per added connection.",
                    small.connections,
                    large.connections,
                    per(small.rss_after_kib, large.rss_after_kib),
                    per(small.anon_after_kib, large.anon_after_kib)
                );
            }
        }
        let _ = writeln!(s, "\nTarget: ≤ 8 KB per idle connection. RSS is VmRSS of the beacon process from /proc, anonymous RSS its RssAnon part: heap and stacks, without the pages of the executable that serving the first connections faults in (shared, file-backed, and not repeated for later connections), so it is the memory a connection costs. User-space memory only; kernel socket buffers are not included.");
        s
    }
}

impl Report {
    /// Per subscriber count: the median of the rounds' throughput ratios, and each round's.
    fn ratios(&self) -> Vec<String> {
        let mut counts: Vec<usize> = self
            .fanout
            .iter()
            .filter(|r| r.system == "beacon" && r.window > 1)
            .map(|r| r.subscribers)
            .collect();
        counts.dedup();
        counts
            .into_iter()
            .filter_map(|subs| {
                let rate = |system: &str, round: usize| {
                    self.fanout
                        .iter()
                        .find(|r| {
                            r.system == system
                                && r.subscribers == subs
                                && r.window > 1
                                && r.round == round
                        })
                        .map(|r| r.delivered_per_s)
                };
                let mut rounds: Vec<f64> = (1..)
                    .map_while(|k| Some((rate("beacon", k)?, rate("nats-server", k)?)))
                    .filter(|&(_, n)| n > 0.0)
                    .map(|(b, n)| b / n)
                    .collect();
                let each = rounds
                    .iter()
                    .map(|x| format!("{x:.2}×"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let median = median(&mut rounds)?;
                Some(format!("{subs} subscribers: **{median:.2}×** ({each})"))
            })
            .collect()
    }

    /// The two-instance section: each pair against its single instance under the same load.
    fn pairs(&self, s: &mut String) {
        let find = |system: &str, subs: usize, window: u64| {
            self.fanout
                .iter()
                .find(|r| r.system == system && r.subscribers == subs && r.window == window)
        };
        let mut rows = Vec::new();
        for (pair, single) in [
            (crate::fanout::BEACON_PAIR, "beacon"),
            (crate::fanout::NATS_PAIR, "nats-server"),
        ] {
            for p in self.fanout.iter().filter(|r| r.system == pair) {
                let Some(one) = find(single, p.subscribers, p.window) else {
                    continue;
                };
                rows.push(format!(
                    "| {} | {} | {} | {:.0} | {:.0} | {:+} µs | {:+} µs |",
                    pair,
                    p.subscribers,
                    p.window,
                    p.delivered_per_s,
                    one.delivered_per_s,
                    p.p50_us as i64 - one.p50_us as i64,
                    p.p99_us as i64 - one.p99_us as i64,
                ));
            }
        }
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(
            s,
            "## Two instances: publisher on one, subscribers on the other\n"
        );
        let _ = writeln!(s, "Beacon A and B share one nats-server (broker) and one redis-server (presence, history); the publisher is connected to A, every subscriber to B. The peer is a two-node nats-server cluster under the same load (publisher on node 1, subscribers on node 2, WebSocket). \"Added\" latency is the pair's minus its single instance's (first round) at the same subscriber count and window. A negative figure means the pair was faster: with two processes the publisher's work (on A) and the fan-out (on B) use both cores, and the host's other load (see the load average above) varies from case to case.\n");
        let _ = writeln!(s, "| pair | subscribers | window | delivered msgs/s | single instance msgs/s | added p50 | added p99 |");
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
        for r in rows {
            let _ = writeln!(s, "{r}");
        }
        let _ = writeln!(s);
    }
}

/// The middle value (the mean of the middle two for an even count); None when empty.
fn median(v: &mut [f64]) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

fn us(v: u32) -> String {
    if v >= 10_000 {
        format!("{:.1} ms", v as f64 / 1000.0)
    } else {
        format!("{v} µs")
    }
}

/// CPU µs per delivery, or "–" when not measured.
fn cpu(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.2} µs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(system: &str, window: u64, round: usize, rate: f64) -> FanoutResult {
        FanoutResult {
            system: system.into(),
            subscribers: 100,
            window,
            round,
            published: 0,
            expected: 0,
            delivered: 0,
            seconds: 1.0,
            delivered_per_s: rate,
            p50_us: 0,
            p99_us: 0,
            max_us: 0,
            msgs_per_frame: 1.0,
            server_cpu_us: None,
            loadgen_cpu_us: None,
            load: String::new(),
        }
    }

    #[test]
    fn the_ratio_is_the_median_of_the_rounds_throughput_passes() {
        let report = Report {
            fanout: vec![
                row("beacon", 64, 1, 3.0),
                row("beacon", 1, 1, 9.0),
                row("nats-server", 64, 1, 2.0),
                row("nats-server", 1, 1, 1.0),
                row("nats-server", 64, 2, 2.0),
                row("beacon", 64, 2, 2.0),
                row("beacon", 64, 3, 5.0),
                row("nats-server", 64, 3, 2.0),
            ],
            ..Report::default()
        };
        assert_eq!(
            report.ratios(),
            vec!["100 subscribers: **1.50×** (1.50×, 1.00×, 2.50×)".to_string()]
        );
        let mut even = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&mut even), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
