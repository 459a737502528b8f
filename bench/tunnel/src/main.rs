//! Tunnel benchmark. Serves one axum router three ways — directly on a loopback TCP port
//! (hyper client, one keep-alive connection), through the tunnel over a real nats-server
//! (client and responder on separate connections), and through the in-process tunnel — and
//! measures sequential request latency (p50/p99 of a small `GET /status`) and streaming
//! throughput of a large `GET /stream` body. Prints a markdown table with ratios to direct.
//!
//!   wowlab-bench-tunnel <nats-url> [requests] [stream-mib]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use wowlab_tunnel::{
    Body, Client, ClientOptions, MemoryTransport, NatsTransport, Responder, ResponderOptions,
    Transport,
};

const CHUNK: usize = 64 * 1024;

/// Response frame size (`TUNNEL_FRAME_KIB`, default the tunnel's 64 KiB).
fn frame_bytes() -> usize {
    env_kib("TUNNEL_FRAME_KIB").unwrap_or(ClientOptions::default().frame_bytes)
}

/// Client receive window (`TUNNEL_WINDOW_KIB`, default the tunnel's 1 MiB).
fn window_bytes() -> u64 {
    env_kib("TUNNEL_WINDOW_KIB").map_or(ClientOptions::default().window_bytes, |b| b as u64)
}

fn env_kib(var: &str) -> Option<usize> {
    std::env::var(var)
        .ok()?
        .parse::<usize>()
        .ok()
        .map(|k| k * 1024)
}

fn router() -> Router {
    Router::new()
        .route(
            "/status",
            get(|| async { r#"{"online":true,"active_chunks":3,"sims_per_sec":123456.7}"# }),
        )
        .route(
            "/stream",
            get(|uri: axum::http::Uri| async move {
                let bytes: usize = uri
                    .query()
                    .and_then(|q| q.strip_prefix("bytes="))
                    .and_then(|b| b.parse().ok())
                    .unwrap_or(0);
                let chunk = Bytes::from(vec![0x5a; CHUNK]);
                let n = bytes.div_ceil(CHUNK);
                let s = futures_util::stream::iter(
                    (0..n).map(move |_| Ok::<_, Infallible>(chunk.clone())),
                );
                axum::body::Body::from_stream(s)
            }),
        )
}

struct Figures {
    p50_us: f64,
    p99_us: f64,
    mib_s: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// Runs `one` `n` times for latency and `stream` once for throughput.
async fn measure<F, Fut, S, SFut>(
    n: usize,
    mib: usize,
    mut one: F,
    mut stream: S,
) -> anyhow::Result<Figures>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
    S: FnMut(usize) -> SFut,
    SFut: std::future::Future<Output = anyhow::Result<usize>>,
{
    for _ in 0..n / 10 {
        one().await?; // warm-up
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        one().await?;
        times.push(t.elapsed());
    }
    times.sort();
    let bytes = mib * 1024 * 1024;
    stream(bytes / 8).await?; // warm-up
    let t = Instant::now();
    let got = stream(bytes).await?;
    let secs = t.elapsed().as_secs_f64();
    if got < bytes {
        bail!("stream returned {got} of {bytes} bytes");
    }
    Ok(Figures {
        p50_us: percentile(&times, 0.5),
        p99_us: percentile(&times, 0.99),
        mib_s: got as f64 / (1024.0 * 1024.0) / secs,
    })
}

async fn direct(n: usize, mib: usize) -> anyhow::Result<Figures> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, router()).await });
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let sender = Arc::new(tokio::sync::Mutex::new(sender));
    let get = move |path: String| {
        let sender = sender.clone();
        async move {
            let req = hyper::Request::get(path)
                .header("host", "bench")
                .body(http_body_util::Empty::<Bytes>::new())?;
            let mut sender = sender.lock().await;
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            drop(sender);
            let mut body = resp.into_body();
            let mut n = 0;
            while let Some(f) = body.frame().await {
                n += f?.into_data().map(|d| d.len()).unwrap_or(0);
            }
            anyhow::Ok(n)
        }
    };
    let g2 = get.clone();
    measure(
        n,
        mib,
        move || {
            let g = get.clone();
            async move { g("/status".into()).await.map(|_| ()) }
        },
        move |bytes| g2(format!("/stream?bytes={bytes}")),
    )
    .await
}

async fn tunnel(
    client_t: Arc<dyn Transport>,
    server_t: Arc<dyn Transport>,
    n: usize,
    mib: usize,
) -> anyhow::Result<Figures> {
    let responder = Responder::serve(
        server_t,
        "bench-node",
        router(),
        ResponderOptions {
            frame_bytes: frame_bytes(),
            ..ResponderOptions::default()
        },
    )
    .await?;
    let client = Client::with_options(
        client_t,
        ClientOptions {
            window_bytes: window_bytes(),
            frame_bytes: frame_bytes(),
            ..ClientOptions::default()
        },
    );
    let get = move |path: String| {
        let client = client.clone();
        async move {
            let req = axum::http::Request::get(path).body(Body::empty())?;
            let resp = client.fetch("bench-node", req).await?;
            let mut body = resp.into_body();
            let mut n = 0;
            while let Some(f) = body.frame().await {
                n += f?.into_data().map(|d| d.len()).unwrap_or(0);
            }
            anyhow::Ok(n)
        }
    };
    let g2 = get.clone();
    let figures = measure(
        n,
        mib,
        move || {
            let g = get.clone();
            async move { g("/status".into()).await.map(|_| ()) }
        },
        move |bytes| g2(format!("/stream?bytes={bytes}")),
    )
    .await;
    responder.shutdown().await;
    figures
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .context("usage: wowlab-bench-tunnel <nats-url> [requests] [stream-mib]")?
        .clone();
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(2000);
    let mib: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(256);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let d = direct(n, mib).await.context("direct")?;
        let nats_client: Arc<dyn Transport> = Arc::new(NatsTransport::connect(&url).await?);
        let nats_server: Arc<dyn Transport> = Arc::new(NatsTransport::connect(&url).await?);
        let t = tunnel(nats_client, nats_server, n, mib).await.context("tunnel over NATS")?;
        let mem: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
        let m = tunnel(mem.clone(), mem, n, mib).await.context("in-process tunnel")?;
        println!("| path | p50 latency (µs) | p99 latency (µs) | throughput (MiB/s) | p50 × direct | p99 × direct | throughput × direct |");
        println!("|---|---|---|---|---|---|---|");
        for (name, f) in [("direct loopback HTTP/1.1 (hyper)", &d), ("tunnel over nats-server", &t), ("tunnel in-process", &m)] {
            println!(
                "| {name} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} |",
                f.p50_us, f.p99_us, f.mib_s,
                f.p50_us / d.p50_us, f.p99_us / d.p99_us, f.mib_s / d.mib_s
            );
        }
        anyhow::Ok(())
    })
}
