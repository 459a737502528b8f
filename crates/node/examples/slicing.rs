//! Cost of the node's cancellable sub-range slicing against one plain `run_chunk`, and how
//! fast a cancellation stops a running chunk. Prints one JSON line per profile.
//!
//! `cargo run --release -p wowlab-node --example slicing -- PROFILE ITERATIONS`

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use wowlab_node::runner::{run_sliced, Progress, RunCtx};

/// User + system CPU time of this process (from /proc; 10 ms resolution).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    let ticks = f.iter().sum::<u64>();
    Duration::from_millis(ticks * 10)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: slicing PROFILE ITERATIONS");
    let n: u64 = args
        .next()
        .and_then(|v| v.parse().ok())
        .expect("usage: slicing PROFILE ITERATIONS");
    let src = std::fs::read_to_string(&path).expect("read profile");
    let profile = wowlab_sim::compile_str(&src).expect("compile profile");
    let seed = 1;
    let ctx = || RunCtx {
        cancel: CancellationToken::new(),
        progress: Progress::default(),
    };
    // Warm-up.
    let _ = wowlab_sim::run_chunk(&profile, seed, 0..50).unwrap();

    let (mut plain_cpu, mut sliced_cpu) = (Duration::ZERO, Duration::ZERO);
    let mut identical = true;
    // Alternate the two so load changes hit both alike.
    for round in 0..3u64 {
        let range = round * n..(round + 1) * n;
        let c0 = cpu_time();
        let a = wowlab_sim::run_chunk(&profile, seed, range.clone()).unwrap();
        let c1 = cpu_time();
        let b = run_sliced(&profile, seed, range, &ctx()).expect("sliced run");
        let c2 = cpu_time();
        plain_cpu += c1 - c0;
        sliced_cpu += c2 - c1;
        identical &= a == b;
    }

    // Cancellation latency: cancel an endless chunk after 300 ms, time until it returns.
    let mut worst = Duration::ZERO;
    for _ in 0..3 {
        let c = ctx();
        let cancel = c.cancel.clone();
        let p = &profile;
        let took = std::thread::scope(|s| {
            let h = s.spawn(move || run_sliced(p, seed, 0..u64::MAX / 2, &c));
            std::thread::sleep(Duration::from_millis(300));
            let t = Instant::now();
            cancel.cancel();
            let r = h.join().expect("join");
            assert!(r.is_err(), "a cancelled chunk must not return a result");
            t.elapsed()
        });
        worst = worst.max(took);
    }
    println!(
        "{{\"profile\":\"{}\",\"iterations\":{},\"plain_cpu_ms\":{},\"sliced_cpu_ms\":{},\"efficiency\":{:.4},\"identical\":{},\"cancel_worst_ms\":{:.1}}}",
        path,
        3 * n,
        plain_cpu.as_millis(),
        sliced_cpu.as_millis(),
        plain_cpu.as_secs_f64() / sliced_cpu.as_secs_f64().max(1e-9),
        identical,
        worst.as_secs_f64() * 1000.0
    );
}
