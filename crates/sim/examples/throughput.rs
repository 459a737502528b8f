//! Throughput probe used by `bench/sim/run`: runs a profile for N iterations on T threads and
//! prints one JSON line with sims/s and events/s. Not part of the library (it reads files).
//!
//! `cargo run --release -p wowlab-sim --example throughput -- PROFILE ITERATIONS THREADS [SEED]`

use std::time::Instant;

use wowlab_sim::{chunk_ranges, compile_str, run_chunk, ChunkResult};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        return Err("usage: throughput PROFILE ITERATIONS THREADS [SEED]".into());
    }
    let src = std::fs::read_to_string(&args[1])?;
    let profile = compile_str(&src)?;
    let n: u64 = args[2].parse()?;
    let threads: usize = args[3].parse()?;
    let seed: u64 = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(1);
    // Warm-up outside the timed region.
    run_chunk(&profile, seed ^ 0xFFFF, 0..50).unwrap();
    let ranges = chunk_ranges(n, 500);
    let cpu_start = process_cpu_seconds();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let start = Instant::now();
    let parts: Vec<ChunkResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut acc = ChunkResult::empty(&profile);
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(r) = ranges.get(i) else { break };
                        acc.merge(&run_chunk(&profile, seed, r.clone()).unwrap())
                            .expect("same profile");
                    }
                    acc
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds()
        .zip(cpu_start)
        .map(|(b, a)| (b - a).max(1e-3));
    let mut total = ChunkResult::empty(&profile);
    for p in &parts {
        total.merge(p)?;
    }
    let report = total.report();
    println!(
        "{{\"profile\":\"{}\",\"iterations\":{},\"threads\":{},\"seconds\":{:.4},\"sims_per_s\":{:.1},\"events_per_s\":{:.1},\"events_per_iteration\":{:.1},\"mean_dps\":{:.1},\"mean_fight_secs\":{:.2},\"cpu_seconds\":{:.3},\"sims_per_cpu_s\":{:.1}}}",
        args[1],
        n,
        threads,
        elapsed,
        n as f64 / elapsed,
        total.events as f64 / elapsed,
        report.events_per_iteration,
        report.mean_dps,
        report.mean_fight_secs,
        cpu.unwrap_or(0.0),
        cpu.map_or(0.0, |c| n as f64 / c)
    );
    Ok(())
}

/// User + system CPU time of this process (Linux `/proc/self/stat`), unaffected by other
/// processes competing for the cores.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // The kernel's USER_HZ is 100 on every mainstream Linux configuration.
    Some(ticks / 100.0)
}
