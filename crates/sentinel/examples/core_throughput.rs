//! Quick measurement of the control-plane core (not a benchmark suite; the grid benchmark lives
//! in `bench/grid`): memory-coordinator lease+complete cycles per second, and SQLite chunk-result
//! writes per second with group commit versus one transaction per row.
//!
//! `cargo run --release -p wowlab-sentinel --example core_throughput`

use std::sync::Arc;
use std::time::{Duration, Instant};

use wowlab_sentinel::coordinator::{Coordinator, JobSpec, MemoryCoordinator};
use wowlab_sentinel::domain::{ChunkIndex, JobId, NodeId, UnixMillis};
use wowlab_sentinel::store::{ChunkResult, NewJob, SqliteOptions, SqliteStore, Store};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    coordinator_cycles().await;
    for batch in [1usize, 512] {
        group_commit(batch).await;
    }
}

async fn coordinator_cycles() {
    let c = MemoryCoordinator::new();
    let jobs: Vec<JobId> = (0..8).map(|_| JobId::new()).collect();
    for (i, j) in jobs.iter().enumerate() {
        c.register_job(JobSpec::new(*j, 200_000, format!("user{}", i % 3)))
            .await
            .unwrap();
    }
    let nodes: Vec<NodeId> = (0..32).map(|_| NodeId::new()).collect();
    let ttl = Duration::from_secs(30);
    let now = UnixMillis::now();
    let start = Instant::now();
    let mut cycles = 0u64;
    'outer: loop {
        for n in &nodes {
            let leases = c.lease(*n, 8, ttl, now).await.unwrap();
            if leases.is_empty() {
                break 'outer;
            }
            for l in leases {
                c.complete(*n, l.lease_ref(), now).await.unwrap();
                cycles += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "memory coordinator: {cycles} lease+complete cycles in {secs:.3} s = {:.0}/s ({:.2} µs/cycle), 8 jobs x 200k chunks, 32 nodes",
        cycles as f64 / secs,
        secs * 1e6 / cycles as f64
    );
}

async fn group_commit(max_batch: usize) {
    let dir = std::env::temp_dir().join(format!("wowlab-gc-{}", JobId::new()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut opts = SqliteOptions::file(dir.join("db.sqlite"));
    opts.group_commit_max_batch = max_batch;
    let store = Arc::new(SqliteStore::open(opts).await.unwrap());
    let now = UnixMillis::now();
    let owner = store.create_user("bench@x", "h", now).await.unwrap().id;
    store.put_config("cfg", "p", now).await.unwrap();
    let rows: u32 = if max_batch == 1 { 5_000 } else { 50_000 };
    let job = JobId::new();
    store
        .insert_job(
            NewJob {
                id: job,
                owner,
                config_hash: "cfg".into(),
                iterations: u64::from(rows),
                seed: 1,
                chunk_size: 1,
                chunk_count: rows,
                public: false,
                chunk_wall_limit_ms: 0,
            },
            now,
        )
        .await
        .unwrap();
    // 64 concurrent writers, like 64 nodes posting results at once.
    let writers = 64u32;
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut i = w;
                while i < rows {
                    store
                        .put_chunk_result(
                            ChunkResult {
                                job,
                                chunk: ChunkIndex(i),
                                node: Some(NodeId::new()),
                                result: vec![7u8; 256],
                            },
                            now,
                        )
                        .await
                        .unwrap();
                    i += writers;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let s = store.group_commit_stats();
    println!(
        "sqlite results (WAL, synchronous=NORMAL, 256 B rows, 64 writers, max batch {max_batch}): {rows} rows in {secs:.3} s = {:.0} rows/s, {} transactions (mean batch {:.1})",
        f64::from(rows) / secs,
        s.batches(),
        s.items() as f64 / s.batches() as f64
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
