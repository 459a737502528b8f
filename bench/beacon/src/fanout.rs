//! Fan-out measurement: one publisher, N subscribers of one channel, 100-byte payloads carrying
//! a sequence number and the send time. The publisher keeps at most `window` messages in flight
//! (counted by deliveries), so throughput is the sustained end-to-end rate, not a queue filling.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use wowlab_protocol::codec::{self, Protocol};

use crate::{beacon_ws, nats_ws};

/// Report name of two beacons on NATS + Redis (publisher on A, subscribers on B).
pub const BEACON_PAIR: &str = "beacon A→B (NATS+Redis)";
/// Report name of a two-node nats-server cluster (publisher on one, subscribers on the other).
pub const NATS_PAIR: &str = "nats-server cluster 1→2";

/// Payload size of every publication.
pub const PAYLOAD: usize = 100;

/// Which server and where. With `pub_url` the publisher connects to another instance than
/// the subscribers (two beacons sharing NATS + Redis, or a two-node NATS cluster).
pub enum System {
    /// Beacon, protobuf protocol.
    Beacon {
        url: String,
        pub_url: Option<String>,
        secret: String,
        channel: String,
    },
    /// nats-server over its WebSocket listener.
    Nats {
        url: String,
        pub_url: Option<String>,
        subject: String,
    },
}

impl System {
    /// From CLI words.
    pub fn parse(name: &str, url: &str, secret: &str) -> Result<Self> {
        Ok(match name {
            "beacon" => System::Beacon {
                url: url.into(),
                pub_url: None,
                secret: secret.into(),
                channel: "bench:hot".into(),
            },
            "nats" => System::Nats {
                url: url.into(),
                pub_url: None,
                subject: "bench.hot".into(),
            },
            other => bail!("unknown system {other} (beacon|nats)"),
        })
    }

    /// The server's name in the report.
    pub fn name(&self) -> &'static str {
        match self {
            System::Beacon { pub_url: None, .. } => "beacon",
            System::Beacon { .. } => BEACON_PAIR,
            System::Nats { pub_url: None, .. } => "nats-server",
            System::Nats { .. } => NATS_PAIR,
        }
    }
}

/// Bounds of one run.
pub struct Params {
    pub subs: usize,
    pub max_msgs: u64,
    pub warmup: u64,
    pub window: u64,
    pub duration: Duration,
}

impl Params {
    /// Throughput pass: `subs` subscribers, up to `seconds` of publishing, 64 messages in flight.
    pub fn new(subs: usize, seconds: u64) -> Self {
        // At most 4M measured deliveries: bounded in count as well as in time.
        let max_msgs = (4_000_000 / subs.max(1) as u64).max(1000);
        Self {
            subs,
            max_msgs,
            warmup: 200,
            window: 64,
            duration: Duration::from_secs(seconds),
        }
    }

    /// Latency pass: one message in flight, so each sample is one fan-out without queueing
    /// behind earlier messages.
    pub fn latency(subs: usize, seconds: u64) -> Self {
        Self {
            window: 1,
            max_msgs: 20_000,
            warmup: 50,
            ..Self::new(subs, seconds)
        }
    }
}

/// What one run measured.
#[derive(Debug, Serialize)]
pub struct FanoutResult {
    pub system: String,
    pub subscribers: usize,
    pub window: u64,
    /// Which of the full run's interleaved rounds this pass belongs to (1-based; 1 for a
    /// single measurement).
    pub round: usize,
    pub published: u64,
    pub expected: u64,
    pub delivered: u64,
    pub seconds: f64,
    pub delivered_per_s: f64,
    pub p50_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    /// Deliveries per WebSocket frame received by subscribers (whole run, warm-up included).
    pub msgs_per_frame: f64,
    /// CPU the server process(es) used per measured delivery, in µs (None: pids unknown).
    pub server_cpu_us: Option<f64>,
    /// CPU this load generator used per measured delivery, in µs.
    pub loadgen_cpu_us: Option<f64>,
    /// /proc/loadavg (1/5/15 min) when this case started: other work on the shared host.
    pub load: String,
}

/// CPU ticks of the servers and of this process, read at the start and end of the measurement.
struct CpuSample {
    servers: Option<u64>,
    me: Option<u64>,
}

impl CpuSample {
    fn take(pids: &[u32]) -> Self {
        let servers = (!pids.is_empty())
            .then(|| {
                pids.iter()
                    .map(|p| crate::procs::cpu_ticks(&p.to_string()).ok())
                    .sum::<Option<u64>>()
            })
            .flatten();
        CpuSample {
            servers,
            me: crate::procs::cpu_ticks("self").ok(),
        }
    }

    /// µs per delivery of (servers, load generator) between `self` and `end`.
    fn per_delivery(&self, end: &CpuSample, deliveries: u64) -> (Option<f64>, Option<f64>) {
        let us_per_tick = 1e6 / crate::procs::ticks_per_second() as f64;
        let per = |a: Option<u64>, b: Option<u64>| {
            let (a, b) = (a?, b?);
            (deliveries > 0).then(|| b.saturating_sub(a) as f64 * us_per_tick / deliveries as f64)
        };
        (per(self.servers, end.servers), per(self.me, end.me))
    }
}

/// State shared by the publisher and the subscriber tasks.
struct Shared {
    start: Instant,
    warmup: u64,
    delivered: AtomicU64,
    /// WebSocket frames that carried at least one delivery (shows server-side batching).
    frames: AtomicU64,
    /// Nanoseconds since `start` of the latest measured delivery.
    last_ns: AtomicU64,
    notify: Notify,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Account one received payload; latency samples only after warm-up.
    fn on_payload(&self, data: &[u8], samples: &mut Vec<u32>) {
        if data.len() < 16 {
            return;
        }
        let seq = u64::from_le_bytes(data[0..8].try_into().unwrap_or_default());
        let sent = u64::from_le_bytes(data[8..16].try_into().unwrap_or_default());
        if seq >= self.warmup {
            let now = self.now_ns();
            samples.push(((now.saturating_sub(sent)) / 1000).min(u32::MAX as u64) as u32);
            self.last_ns.fetch_max(now, Ordering::Relaxed);
        }
    }

    fn delivered(&self, n: u64) {
        if n > 0 {
            self.delivered.fetch_add(n, Ordering::Relaxed);
            self.frames.fetch_add(1, Ordering::Relaxed);
            self.notify.notify_one();
        }
    }
}

fn payload(seq: u64, sent_ns: u64) -> Bytes {
    let mut b = vec![b'x'; PAYLOAD];
    b[0..8].copy_from_slice(&seq.to_le_bytes());
    b[8..16].copy_from_slice(&sent_ns.to_le_bytes());
    Bytes::from(b)
}

/// Run one fan-out measurement; `server_pids` are the processes whose CPU is charged to the
/// server side (empty: not measured).
pub async fn run(system: &System, p: &Params, server_pids: &[u32]) -> Result<FanoutResult> {
    let load = crate::report::loadavg();
    let shared = Arc::new(Shared {
        start: Instant::now(),
        warmup: p.warmup,
        delivered: AtomicU64::new(0),
        frames: AtomicU64::new(0),
        last_ns: AtomicU64::new(0),
        notify: Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);

    // Subscribers, opened with bounded concurrency.
    let mut handles: Vec<JoinHandle<Result<Vec<u32>>>> = Vec::with_capacity(p.subs);
    let mut opening = futures_util::stream::iter(0..p.subs)
        .map(|i| open_subscriber(system, i))
        .buffer_unordered(64);
    while let Some(conn) = opening.next().await {
        let conn = conn?;
        handles.push(tokio::spawn(subscriber_loop(
            conn,
            shared.clone(),
            stop_rx.clone(),
        )));
    }
    drop(opening);

    let mut publisher = Publisher::open(system).await?;
    let subs = p.subs as u64;
    let mut seq = 0u64;
    let mut measure_start_ns = 0u64;
    let mut cpu_start = None;
    let publish_deadline = Instant::now() + p.duration + Duration::from_secs(2);
    while seq < p.warmup + p.max_msgs && Instant::now() < publish_deadline {
        // Flow control: at most `window` messages not yet delivered to every subscriber.
        loop {
            let delivered = shared.delivered.load(Ordering::Relaxed);
            if seq * subs < delivered + p.window * subs {
                break;
            }
            tokio::select! {
                _ = shared.notify.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => publisher.drain().await?,
            }
            if Instant::now() > publish_deadline + Duration::from_secs(5) {
                bail!(
                    "{}: deliveries stalled at {delivered} of {}",
                    system.name(),
                    seq * subs
                );
            }
        }
        if seq == p.warmup {
            // Warm-up done: wait for its deliveries, then start the clock.
            let want = p.warmup * subs;
            let t = Instant::now();
            while shared.delivered.load(Ordering::Relaxed) < want {
                if t.elapsed() > Duration::from_secs(20) {
                    bail!("{}: warm-up deliveries stalled", system.name());
                }
                let _ =
                    tokio::time::timeout(Duration::from_millis(50), shared.notify.notified()).await;
            }
            measure_start_ns = shared.now_ns();
            cpu_start = Some(CpuSample::take(server_pids));
        }
        let now = shared.now_ns();
        publisher.publish(payload(seq, now)).await?;
        seq += 1;
        if seq > p.warmup && now - measure_start_ns > p.duration.as_nanos() as u64 {
            break;
        }
    }
    let published = seq;
    let expected = published * subs;
    let t = Instant::now();
    while shared.delivered.load(Ordering::Relaxed) < expected
        && t.elapsed() < Duration::from_secs(10)
    {
        let _ = tokio::time::timeout(Duration::from_millis(50), shared.notify.notified()).await;
    }
    let cpu_end = CpuSample::take(server_pids);
    let _ = stop_tx.send(true);
    let mut samples = Vec::new();
    for h in handles {
        samples.extend(h.await.context("subscriber task panicked")??);
    }
    publisher.close().await;

    let delivered = shared.delivered.load(Ordering::Relaxed);
    let measured = delivered.saturating_sub(p.warmup * subs);
    let seconds = (shared
        .last_ns
        .load(Ordering::Relaxed)
        .saturating_sub(measure_start_ns)) as f64
        / 1e9;
    let (server_cpu_us, loadgen_cpu_us) = cpu_start
        .map(|s| s.per_delivery(&cpu_end, measured))
        .unwrap_or((None, None));
    samples.sort_unstable();
    let pct = |q: f64| -> u32 {
        if samples.is_empty() {
            0
        } else {
            samples[((samples.len() - 1) as f64 * q).round() as usize]
        }
    };
    Ok(FanoutResult {
        system: system.name().into(),
        subscribers: p.subs,
        window: p.window,
        round: 1,
        published: published.saturating_sub(p.warmup),
        expected: expected.saturating_sub(p.warmup * subs),
        delivered: measured,
        seconds,
        delivered_per_s: if seconds > 0.0 {
            measured as f64 / seconds
        } else {
            0.0
        },
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        max_us: samples.last().copied().unwrap_or(0),
        msgs_per_frame: delivered as f64 / shared.frames.load(Ordering::Relaxed).max(1) as f64,
        server_cpu_us,
        loadgen_cpu_us,
        load,
    })
}

/// An open subscriber connection.
enum SubConn {
    Beacon(beacon_ws::Ws),
    Nats(beacon_ws::Ws, nats_ws::Parser),
}

async fn open_subscriber(system: &System, i: usize) -> Result<SubConn> {
    match system {
        System::Beacon {
            url,
            secret,
            channel,
            ..
        } => {
            let token = beacon_ws::token(secret, &format!("sub{i}"))?;
            Ok(SubConn::Beacon(
                beacon_ws::open(url, &token, Some(channel)).await?,
            ))
        }
        System::Nats { url, subject, .. } => {
            let (ws, parser) = nats_ws::open(url, Some(subject)).await?;
            Ok(SubConn::Nats(ws, parser))
        }
    }
}

async fn subscriber_loop(
    conn: SubConn,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Result<Vec<u32>> {
    let mut samples = Vec::with_capacity(64 * 1024);
    match conn {
        SubConn::Beacon(mut ws) => loop {
            let msg = tokio::select! {
                _ = stop.changed() => break,
                m = ws.next() => m,
            };
            match msg {
                Some(Ok(Message::Binary(b))) => {
                    let (mut n, mut pinged) = (0, false);
                    crate::lean::for_each_reply(b, |r| {
                        match r.push {
                            Some(push) => {
                                if let Some(publication) = push.publication {
                                    shared.on_payload(&publication.data, &mut samples);
                                    n += 1;
                                }
                            }
                            None if r.id == 0 && r.error.is_none() => pinged = true,
                            None => {}
                        }
                        Ok(())
                    })?;
                    if pinged {
                        ws.send(beacon_ws::pong()?).await?
                    }
                    shared.delivered(n);
                }
                Some(Ok(Message::Close(f))) => bail!("beacon closed a subscriber: {f:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => bail!("subscriber connection ended"),
            }
        },
        SubConn::Nats(mut ws, mut parser) => loop {
            let msg = tokio::select! {
                _ = stop.changed() => break,
                m = ws.next() => m,
            };
            match msg {
                Some(Ok(Message::Binary(b))) => parser.push(&b),
                Some(Ok(Message::Text(t))) => parser.push(t.as_bytes()),
                Some(Ok(Message::Close(f))) => bail!("nats closed a subscriber: {f:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => bail!("subscriber connection ended"),
            }
            let (mut n, mut pinged) = (0, false);
            while let Some(m) = parser.next()? {
                match m {
                    nats_ws::ServerMsg::Msg(data) => {
                        shared.on_payload(data, &mut samples);
                        n += 1;
                    }
                    nats_ws::ServerMsg::Ping => pinged = true,
                    nats_ws::ServerMsg::Other => {}
                }
            }
            if pinged {
                ws.send(nats_ws::frame(b"PONG\r\n".to_vec())).await?
            }
            shared.delivered(n);
        },
    }
    Ok(samples)
}

/// The publishing connection.
enum Publisher {
    Beacon {
        ws: beacon_ws::Ws,
        channel: String,
        next_id: u32,
    },
    Nats {
        ws: beacon_ws::Ws,
        parser: nats_ws::Parser,
        subject: String,
    },
}

impl Publisher {
    async fn open(system: &System) -> Result<Self> {
        Ok(match system {
            System::Beacon {
                url,
                pub_url,
                secret,
                channel,
            } => {
                let token = beacon_ws::token(secret, "publisher")?;
                let ws = beacon_ws::open(pub_url.as_ref().unwrap_or(url), &token, None).await?;
                Publisher::Beacon {
                    ws,
                    channel: channel.clone(),
                    next_id: 10,
                }
            }
            System::Nats {
                url,
                pub_url,
                subject,
            } => {
                let (ws, parser) = nats_ws::open(pub_url.as_ref().unwrap_or(url), None).await?;
                Publisher::Nats {
                    ws,
                    parser,
                    subject: subject.clone(),
                }
            }
        })
    }

    async fn publish(&mut self, data: Bytes) -> Result<()> {
        match self {
            Publisher::Beacon {
                ws,
                channel,
                next_id,
            } => {
                *next_id = next_id.wrapping_add(1).max(10);
                ws.send(beacon_ws::frame(&[beacon_ws::publish_cmd(
                    *next_id, channel, data,
                )])?)
                .await?;
            }
            Publisher::Nats { ws, subject, .. } => {
                let mut out = Vec::with_capacity(data.len() + 32);
                out.extend_from_slice(format!("PUB {subject} {}\r\n", data.len()).as_bytes());
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\r\n");
                ws.send(nats_ws::frame(out)).await?;
            }
        }
        self.drain().await
    }

    /// Handle whatever the server sent without blocking: publish errors fail the run, pings
    /// get their pong.
    async fn drain(&mut self) -> Result<()> {
        match self {
            Publisher::Beacon { ws, .. } => {
                while let Some(Some(msg)) = ws.next().now_or_never() {
                    if let Message::Binary(b) = msg? {
                        for r in codec::decode_replies(Protocol::Protobuf, &b)? {
                            if let Some(e) = r.error {
                                bail!("beacon rejected a publish: {} {}", e.code, e.message);
                            }
                            if beacon_ws::is_ping(&r) && r.publish.is_none() {
                                ws.send(beacon_ws::pong()?).await?;
                            }
                        }
                    }
                }
            }
            Publisher::Nats { ws, parser, .. } => {
                while let Some(Some(msg)) = ws.next().now_or_never() {
                    match msg? {
                        Message::Binary(b) => parser.push(&b),
                        Message::Text(t) => parser.push(t.as_bytes()),
                        _ => continue,
                    }
                    while let Some(m) = parser.next()? {
                        if let nats_ws::ServerMsg::Ping = m {
                            ws.send(nats_ws::frame(b"PONG\r\n".to_vec())).await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn close(self) {
        match self {
            Publisher::Beacon { mut ws, .. } | Publisher::Nats { mut ws, .. } => {
                let _ = ws.close(None).await;
            }
        }
    }
}
