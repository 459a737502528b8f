//! The behaviour every [`ResultLog`] must show, as one suite generic over a factory: the
//! in-process log runs it in its unit tests, the JetStream log against a live `nats-server -js`.

use std::future::Future;
use std::time::Duration;

use super::{LogEntry, LogSubscription, ResultLog};
use crate::domain::{ChunkIndex, Fence, JobId, NodeId};

/// Longest wait for an entry that must arrive (a redelivery comes after the ack wait).
const PATIENCE: Duration = Duration::from_secs(15);

fn result(job: JobId, chunk: u32, fence: u64) -> LogEntry {
    LogEntry::Result {
        job,
        chunk: ChunkIndex(chunk),
        fence: Fence(fence),
        bytes: format!("r{chunk}:{fence}").into_bytes(),
        node: Some(NodeId::new()),
    }
}

async fn next(sub: &mut Box<dyn LogSubscription>) -> super::Delivery {
    tokio::time::timeout(PATIENCE, sub.next())
        .await
        .expect("an entry within the patience")
        .expect("delivery")
}

/// Runs every check, each against a fresh log from `factory`.
pub async fn run_all<L, F, Fut>(factory: F)
where
    L: ResultLog,
    F: Fn() -> Fut,
    Fut: Future<Output = L>,
{
    entries_round_trip_in_order(&factory().await).await;
    a_result_appended_twice_with_one_id_is_delivered_once(&factory().await).await;
    unacknowledged_entries_come_back_to_the_next_subscription(&factory().await).await;
    retry_later_delivers_the_entry_again(&factory().await).await;
}

async fn entries_round_trip_in_order(log: &impl ResultLog) {
    let job = JobId::new();
    let entries = vec![
        result(job, 3, 7),
        LogEntry::Kick(job),
        LogEntry::Result {
            job,
            chunk: ChunkIndex(0),
            fence: Fence(1),
            bytes: Vec::new(),
            node: None,
        },
        LogEntry::Ended(job),
    ];
    for e in &entries {
        log.append(e.clone()).await.unwrap();
    }
    let mut sub = log.subscribe().await.unwrap();
    for want in &entries {
        let d = next(&mut sub).await;
        assert_eq!(&d.entry, want);
        d.ack().await.unwrap();
    }
    assert!(sub.try_next().await.unwrap().is_none());
}

async fn a_result_appended_twice_with_one_id_is_delivered_once(log: &impl ResultLog) {
    let job = JobId::new();
    log.append(result(job, 1, 5)).await.unwrap();
    // A retried append (same job:chunk:fence) is absorbed; another fence is another entry.
    log.append(result(job, 1, 5)).await.unwrap();
    log.append(result(job, 1, 6)).await.unwrap();
    log.append(LogEntry::Kick(job)).await.unwrap();
    let mut sub = log.subscribe().await.unwrap();
    let mut got = Vec::new();
    loop {
        let d = next(&mut sub).await;
        got.push(d.entry.message_id());
        let kick = matches!(d.entry, LogEntry::Kick(_));
        d.ack().await.unwrap();
        if kick {
            break;
        }
    }
    assert_eq!(
        got,
        vec![Some(format!("{job}:1:5")), Some(format!("{job}:1:6")), None]
    );
}

async fn unacknowledged_entries_come_back_to_the_next_subscription(log: &impl ResultLog) {
    let job = JobId::new();
    for c in 0..3 {
        log.append(result(job, c, 1)).await.unwrap();
    }
    let mut sub = log.subscribe().await.unwrap();
    let first = next(&mut sub).await;
    assert_eq!(first.entry, result_like(&first.entry, job, 0));
    first.ack().await.unwrap();
    // Taken, never acknowledged: the consumer died with it.
    let lost = next(&mut sub).await;
    drop(lost);
    drop(sub);
    let mut sub = log.subscribe().await.unwrap();
    let mut chunks = Vec::new();
    for _ in 0..2 {
        let d = next(&mut sub).await;
        if let LogEntry::Result { chunk, .. } = &d.entry {
            chunks.push(chunk.0);
        }
        d.ack().await.unwrap();
    }
    chunks.sort();
    assert_eq!(chunks, vec![1, 2]);
}

/// `e` if it is chunk `chunk` of `job` (node ids are random, so compare the rest).
fn result_like(e: &LogEntry, job: JobId, chunk: u32) -> LogEntry {
    match e {
        LogEntry::Result {
            job: j, chunk: c, ..
        } if *j == job && c.0 == chunk => e.clone(),
        other => panic!("expected chunk {chunk} of {job}, got {other:?}"),
    }
}

async fn retry_later_delivers_the_entry_again(log: &impl ResultLog) {
    let job = JobId::new();
    log.append(result(job, 9, 2)).await.unwrap();
    let mut sub = log.subscribe().await.unwrap();
    let d = next(&mut sub).await;
    let entry = d.entry.clone();
    d.retry_later().await.unwrap();
    let again = next(&mut sub).await;
    assert_eq!(again.entry, entry);
    again.ack().await.unwrap();
}
