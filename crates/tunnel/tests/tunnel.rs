//! Tunnel conformance: the same exchanges over the in-process transport and a real
//! nats-server — bodies byte-identical both ways, bounded buffering under a slow reader on
//! either side, and every timeout/abort/failure path with its error code.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use common::{unique, Pair};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use wowlab_tunnel::subject::HostSubjects;
use wowlab_tunnel::transport::Headers;
use wowlab_tunnel::wire::{self, Frame, Kind};
use wowlab_tunnel::{
    Body, CancellationToken, Client, ClientOptions, ErrorCode, FetchOptions, Responder,
    ResponderOptions, TunnelError,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 13) as u8 ^ salt)
        .collect()
}

fn get_req(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

/// The tunnel error inside a body read error.
fn body_code(e: axum_core::Error) -> ErrorCode {
    let e: Box<dyn std::error::Error + Send + Sync> = e.into_inner();
    TunnelError::from_body_error(&*e)
        .unwrap_or_else(|| panic!("not a tunnel error: {e}"))
        .code()
}

/// Reads frames until the body fails; returns the code.
async fn read_until_error(body: Body) -> ErrorCode {
    let mut body = body;
    loop {
        match body.frame().await {
            Some(Ok(_)) => {}
            Some(Err(e)) => return body_code(e),
            None => panic!("body ended without an error"),
        }
    }
}

/// Waits (bounded) until `cond` holds; the bound only keeps a broken build from hanging.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

/// Sets its flag when dropped (a handler or body being cancelled).
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn serve(p: &Pair, host: &str, router: Router) -> Responder {
    Responder::serve(p.server.clone(), host, router, ResponderOptions::default())
        .await
        .unwrap()
}

async fn round_trip_keeps_status_headers_and_query(p: Pair) {
    let host = unique("rt");
    let router = Router::new().route(
        "/hello",
        get(|req: Request<axum::body::Body>| async move {
            let q = req.uri().query().unwrap_or_default().to_owned();
            let seen = req.headers().get_all("x-in").iter().count();
            Response::builder()
                .status(StatusCode::CREATED)
                .header("x-out", "1")
                .header("x-out", "2")
                .body(axum::body::Body::from(format!("{q};{seen}")))
                .unwrap()
        }),
    );
    let _r = serve(&p, &host, router).await;
    let client = Client::new(p.client.clone());
    let req = Request::get("/hello?a=1&b=two")
        .header("x-in", "a")
        .header("x-in", "b")
        .body(Body::empty())
        .unwrap();
    let resp = client.fetch(&host, req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let outs: Vec<_> = resp.headers().get_all("x-out").iter().collect();
    assert_eq!(outs, ["1", "2"]);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "a=1&b=two;2");

    // HEAD and 404 go through the same way.
    let resp = client
        .fetch(&host, Request::head("/hello").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .is_empty());
    let resp = client.fetch(&host, get_req("/nope")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

async fn large_bodies_arrive_byte_identical_both_ways(p: Pair) {
    let host = unique("big");
    // Echo: the response body is the request body, streamed straight through.
    let router = Router::new().route(
        "/echo",
        post(|req: Request<axum::body::Body>| async move { Response::new(req.into_body()) }),
    );
    let _r = serve(&p, &host, router).await;
    let client = Client::new(p.client.clone());
    let data = Bytes::from(pattern(32 * MIB, 0x5a));
    let chunks: Vec<Result<Bytes, Infallible>> = (0..32)
        .map(|i| Ok(data.slice(i * MIB..(i + 1) * MIB)))
        .collect();
    let req = Request::post("/echo")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let resp = client.fetch(&host, req).await.unwrap();
    let got = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "echoed body differs");
}

async fn slow_reader_bounds_response_buffering(p: Pair) {
    let host = unique("slowread");
    let window = 256 * KIB as u64;
    let router = Router::new().route(
        "/flood",
        get(|| async {
            // As fast as the tunnel lets it: 8 MiB in 64 KiB chunks.
            let s = futures_util::stream::iter(
                (0..128).map(|_| Ok::<_, Infallible>(Bytes::from(vec![1u8; 64 * KIB]))),
            );
            axum::body::Body::from_stream(s)
        }),
    );
    let r = serve(&p, &host, router).await;
    let client = Client::with_options(
        p.client.clone(),
        ClientOptions {
            window_bytes: window,
            ..ClientOptions::default()
        },
    );
    let mut body = client
        .fetch(&host, get_req("/flood"))
        .await
        .unwrap()
        .into_body();
    let mut total = 0;
    while let Some(f) = body.frame().await {
        total += f.unwrap().into_data().unwrap().len();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(total, 8 * MIB);
    let (peak_buf, peak_sent) = (
        client.stats().peak_buffered_bytes(),
        r.stats().flow().peak_in_flight_bytes(),
    );
    assert!(
        peak_buf > 0 && peak_buf <= window,
        "client buffered peak {peak_buf}"
    );
    assert!(
        peak_sent > 0 && peak_sent <= window,
        "responder in flight peak {peak_sent}"
    );
}

async fn slow_handler_bounds_request_buffering(p: Pair) {
    let host = unique("slowhandler");
    let window = 256 * KIB as u64;
    let router = Router::new().route(
        "/sink",
        post(|req: Request<axum::body::Body>| async move {
            let mut body = req.into_body();
            let mut total = 0usize;
            while let Some(f) = body.frame().await {
                total += f.unwrap().into_data().map(|d| d.len()).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            total.to_string()
        }),
    );
    let r = Responder::serve(
        p.server.clone(),
        &host,
        router,
        ResponderOptions {
            window_bytes: window,
            ..ResponderOptions::default()
        },
    )
    .await
    .unwrap();
    let client = Client::new(p.client.clone());
    let chunks = (0..128).map(|_| Ok::<_, Infallible>(Bytes::from(vec![2u8; 64 * KIB])));
    let req = Request::post("/sink")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    let resp = client.fetch(&host, req).await.unwrap();
    let got = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(got, (8 * MIB).to_string());
    let (peak_buf, peak_sent) = (
        r.stats().flow().peak_buffered_bytes(),
        client.stats().peak_in_flight_bytes(),
    );
    assert!(
        peak_buf > 0 && peak_buf <= window,
        "responder buffered peak {peak_buf}"
    );
    assert!(
        peak_sent > 0 && peak_sent <= window,
        "client in flight peak {peak_sent}"
    );
}

async fn nobody_serving_is_no_first_frame(p: Pair) {
    let client = Client::new(p.client.clone());
    let opts = FetchOptions {
        first_frame_timeout: Duration::from_millis(300),
        ..FetchOptions::default()
    };
    let err = client
        .fetch_with(&unique("ghost"), get_req("/status"), opts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NoFirstFrame);
    assert_eq!(err.code().as_str(), "tunnel_no_first_frame");
}

/// One chunk, then silence forever; the flag says when the body was dropped.
fn stall_after_one(flag: Arc<AtomicBool>) -> axum::body::Body {
    let guard = DropFlag(flag);
    let s = futures_util::stream::unfold((guard, 0), |(g, n)| async move {
        if n == 0 {
            Some((Ok::<_, Infallible>(Bytes::from_static(b"first")), (g, 1)))
        } else {
            std::future::pending().await
        }
    });
    axum::body::Body::from_stream(s)
}

/// An endless fast body; the flag says when it was dropped.
fn endless(flag: Arc<AtomicBool>) -> axum::body::Body {
    let guard = DropFlag(flag);
    let s = futures_util::stream::unfold(guard, |g| async move {
        Some((Ok::<_, Infallible>(Bytes::from(vec![7u8; 4 * KIB])), g))
    });
    axum::body::Body::from_stream(s)
}

/// An endless stream served for a fresh host (named after `tag`) and fetched with `opts`, its
/// first frame read: the responder, the client, the response body, and the flag set once the
/// responder dropped its body.
async fn endless_exchange(
    p: &Pair,
    tag: &str,
    opts: FetchOptions,
) -> (Responder, Client, Body, Arc<AtomicBool>) {
    let host = unique(tag);
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let router = Router::new().route(
        "/stream",
        get(move || {
            let d = d.clone();
            async move { endless(d) }
        }),
    );
    let r = serve(p, &host, router).await;
    let client = Client::new(p.client.clone());
    let mut body = client
        .fetch_with(&host, get_req("/stream"), opts)
        .await
        .unwrap()
        .into_body();
    body.frame().await.unwrap().unwrap();
    (r, client, body, dropped)
}

async fn silent_responder_is_idle_timeout_and_responder_learns(p: Pair) {
    let host = unique("idle");
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let router = Router::new().route(
        "/tail",
        get(move || {
            let d = d.clone();
            async move { stall_after_one(d) }
        }),
    );
    let r = serve(&p, &host, router).await;
    let client = Client::new(p.client.clone());
    let opts = FetchOptions {
        idle_timeout: Some(Duration::from_millis(500)),
        ..FetchOptions::default()
    };
    // Normally the head and the first chunk arrive, then the silence ends the body; on a
    // starved machine the silence may already end the wait for the head. Same code either way.
    let code = match client.fetch_with(&host, get_req("/tail"), opts).await {
        Ok(resp) => read_until_error(resp.into_body()).await,
        Err(e) => e.code(),
    };
    assert_eq!(code, ErrorCode::IdleTimeout);
    eventually("responder saw the abort", || r.stats().peer_aborts() == 1).await;
    eventually("response body dropped", || dropped.load(Ordering::SeqCst)).await;
}

async fn keepalive_pings_keep_a_quiet_stream_open(p: Pair) {
    let host = unique("quiet");
    let router = Router::new().route(
        "/quiet",
        get(|| async {
            let s = futures_util::stream::unfold(0, |n| async move {
                match n {
                    0 => Some((Ok::<_, Infallible>(Bytes::from_static(b"a")), 1)),
                    1 => {
                        // Quiet for longer than the client's idle timeout.
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        Some((Ok(Bytes::from_static(b"b")), 2))
                    }
                    _ => None,
                }
            });
            axum::body::Body::from_stream(s)
        }),
    );
    let _r = Responder::serve(
        p.server.clone(),
        &host,
        router,
        ResponderOptions {
            keepalive: Duration::from_millis(100),
            ..ResponderOptions::default()
        },
    )
    .await
    .unwrap();
    let opts = FetchOptions {
        idle_timeout: Some(Duration::from_secs(2)),
        ..FetchOptions::default()
    };
    let resp = Client::new(p.client.clone())
        .fetch_with(&host, get_req("/quiet"), opts)
        .await
        .unwrap();
    assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "ab");
}

async fn deadline_is_timeout_and_cancels_the_handler(p: Pair) {
    let host = unique("deadline");
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    let router = Router::new().route(
        "/slow",
        get(move || {
            let guard = DropFlag(d.clone());
            async move {
                let _g = guard;
                std::future::pending::<()>().await;
                "never"
            }
        }),
    );
    let _r = serve(&p, &host, router).await;
    let client = Client::new(p.client.clone());
    let opts = FetchOptions {
        timeout: Some(Duration::from_millis(300)),
        ..FetchOptions::default()
    };
    let err = client
        .fetch_with(&host, get_req("/slow"), opts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Timeout);
    eventually("handler cancelled", || dropped.load(Ordering::SeqCst)).await;
}

async fn caller_abort_is_aborted_on_both_sides(p: Pair) {
    let token = CancellationToken::new();
    let opts = FetchOptions {
        abort: Some(token.clone()),
        ..FetchOptions::default()
    };
    let (r, _client, body, dropped) = endless_exchange(&p, "abort", opts).await;
    token.cancel();
    assert_eq!(read_until_error(body).await, ErrorCode::Aborted);
    eventually("responder saw the abort", || r.stats().peer_aborts() == 1).await;
    eventually("endless body dropped", || dropped.load(Ordering::SeqCst)).await;
}

async fn dropping_the_response_body_aborts_the_responder(p: Pair) {
    let (r, _client, body, dropped) =
        endless_exchange(&p, "dropbody", FetchOptions::default()).await;
    drop(body);
    eventually("responder saw the abort", || r.stats().peer_aborts() == 1).await;
    eventually("endless body dropped", || dropped.load(Ordering::SeqCst)).await;
}

async fn responder_shutdown_is_closed_for_the_client(p: Pair) {
    let (r, _client, body, dropped) =
        endless_exchange(&p, "shutdown", FetchOptions::default()).await;
    r.shutdown().await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "shutdown waits for in-flight exchanges"
    );
    assert_eq!(read_until_error(body).await, ErrorCode::Closed);
}

/// A service that always fails.
#[derive(Clone)]
struct Failing;
impl tower_service::Service<Request<Body>> for Failing {
    type Response = Response<Body>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, std::io::Error>> + Send>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request<Body>) -> Self::Future {
        Box::pin(async { Err(std::io::Error::other("disk on fire")) })
    }
}

async fn handler_error_is_handler_code(p: Pair) {
    let host = unique("failing");
    let _r = Responder::serve(
        p.server.clone(),
        &host,
        Failing,
        ResponderOptions::default(),
    )
    .await
    .unwrap();
    let err = Client::new(p.client.clone())
        .fetch(&host, get_req("/"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Handler);
    assert!(err.detail().contains("disk on fire"), "{err}");
}

async fn failing_response_body_is_response_body_code(p: Pair) {
    let host = unique("badbody");
    let router = Router::new().route(
        "/",
        get(|| async {
            let s = futures_util::stream::iter([
                Ok(Bytes::from_static(b"part")),
                Err(std::io::Error::other("read failed")),
            ]);
            axum::body::Body::from_stream(s)
        }),
    );
    let _r = serve(&p, &host, router).await;
    let body = Client::new(p.client.clone())
        .fetch(&host, get_req("/"))
        .await
        .unwrap()
        .into_body();
    assert_eq!(read_until_error(body).await, ErrorCode::ResponseBody);
}

async fn failing_request_body_is_request_body_code(p: Pair) {
    let host = unique("badreq");
    let router = Router::new().route(
        "/sink",
        post(|req: Request<axum::body::Body>| async move {
            match req.into_body().collect().await {
                Ok(b) => b.to_bytes().len().to_string(),
                Err(_) => "body failed".to_owned(),
            }
        }),
    );
    let r = serve(&p, &host, router).await;
    let s = futures_util::stream::iter([
        Ok(Bytes::from_static(b"part")),
        Err(std::io::Error::other("upload broke")),
    ]);
    let req = Request::post("/sink").body(Body::from_stream(s)).unwrap();
    let err = Client::new(p.client.clone())
        .fetch(&host, req)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::RequestBody);
    eventually("responder saw the failed upload", || {
        r.stats().peer_aborts() == 1
    })
    .await;
}

async fn repeated_start_is_acknowledged_idempotently(p: Pair) {
    let host = unique("dup");
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let router = Router::new().route(
        "/once",
        get(move || {
            c.fetch_add(1, Ordering::SeqCst);
            async { "ok" }
        }),
    );
    let r = serve(&p, &host, router).await;
    let subjects = HostSubjects::new(&host).unwrap();
    let id = "dup1";
    let mut down = p.client.subscribe(&subjects.down(id)).await.unwrap();
    p.client.flush().await.unwrap();
    let mut start = wire::headers(Kind::Start, id);
    start.insert(wire::H_METHOD.into(), "GET".into());
    start.insert(wire::H_PATH.into(), "/once".into());
    start.insert(wire::H_BODY.into(), "0".into());
    start.insert(wire::H_WINDOW.into(), "1048576".into());
    let payload = wire::encode_http_headers(&http::HeaderMap::new());
    for _ in 0..3 {
        p.client
            .publish(&subjects.start(), start.clone(), payload.clone())
            .await
            .unwrap();
    }
    let (mut acks, mut ends, mut responders) = (0, 0, std::collections::HashSet::new());
    while acks < 3 || ends < 1 {
        let m = tokio::time::timeout(Duration::from_secs(10), down.next())
            .await
            .expect("frames within 10 s")
            .unwrap();
        let f = Frame::decode(m).unwrap();
        responders.insert(f.responder().unwrap().to_owned());
        match f.kind {
            Kind::Ack => acks += 1,
            Kind::End => ends += 1,
            _ => {}
        }
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one handler call for three starts"
    );
    assert_eq!(r.stats().handled(), 1);
    assert_eq!(r.stats().acks(), 3);
    assert_eq!(responders.len(), 1);
}

/// A scripted fake responder: answers the first start on `host` with `frames(id)`.
async fn fake_responder(p: &Pair, host: &str, frames: fn(&str) -> Vec<(Headers, Bytes)>) {
    let subjects = HostSubjects::new(host).unwrap();
    let mut starts = p.server.subscribe(&subjects.start()).await.unwrap();
    p.server.flush().await.unwrap();
    let server = p.server.clone();
    tokio::spawn(async move {
        if let Some(m) = starts.next().await {
            let f = Frame::decode(m).unwrap();
            for (h, payload) in frames(&f.id) {
                server
                    .publish(&subjects.down(&f.id), h, payload)
                    .await
                    .unwrap();
            }
        }
    });
}

fn frame(kind: Kind, id: &str, extra: &[(&str, &str)]) -> Headers {
    let mut h = wire::headers(kind, id);
    h.insert(wire::H_RESPONDER.into(), "fake".into());
    for (k, v) in extra {
        h.insert((*k).into(), (*v).into());
    }
    h
}

fn ack_and_head(id: &str) -> Vec<(Headers, Bytes)> {
    vec![
        (
            frame(Kind::Ack, id, &[(wire::H_WINDOW, "1024")]),
            Bytes::new(),
        ),
        (
            frame(Kind::Head, id, &[(wire::H_STATUS, "200")]),
            wire::encode_http_headers(&http::HeaderMap::new()),
        ),
    ]
}

async fn skipped_frame_is_out_of_order(p: Pair) {
    let host = unique("gap");
    fake_responder(&p, &host, |id| {
        let mut v = ack_and_head(id);
        v.push((
            frame(Kind::Data, id, &[(wire::H_SEQ, "0")]),
            Bytes::from_static(b"a"),
        ));
        v.push((
            frame(Kind::Data, id, &[(wire::H_SEQ, "2")]),
            Bytes::from_static(b"c"),
        ));
        v
    })
    .await;
    let body = Client::new(p.client.clone())
        .fetch(&host, get_req("/"))
        .await
        .unwrap()
        .into_body();
    assert_eq!(read_until_error(body).await, ErrorCode::OutOfOrder);
}

async fn overrunning_the_window_is_window_exceeded(p: Pair) {
    let host = unique("overrun");
    fake_responder(&p, &host, |id| {
        let mut v = ack_and_head(id);
        v.push((
            frame(Kind::Data, id, &[(wire::H_SEQ, "0")]),
            Bytes::from(vec![0u8; 8 * KIB]),
        ));
        v
    })
    .await;
    let client = Client::with_options(
        p.client.clone(),
        ClientOptions {
            window_bytes: 4 * KIB as u64,
            ..ClientOptions::default()
        },
    );
    let body = client.fetch(&host, get_req("/")).await.unwrap().into_body();
    assert_eq!(read_until_error(body).await, ErrorCode::WindowExceeded);
}

async fn bad_head_is_protocol_error(p: Pair) {
    let host = unique("badhead");
    fake_responder(&p, &host, |id| {
        vec![(
            frame(Kind::Head, id, &[(wire::H_STATUS, "99")]),
            wire::encode_http_headers(&http::HeaderMap::new()),
        )]
    })
    .await;
    let err = Client::new(p.client.clone())
        .fetch(&host, get_req("/"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Protocol);
}

async fn late_responder_gets_the_republished_start(p: Pair) {
    let host = unique("late");
    let client = Client::with_options(
        p.client.clone(),
        ClientOptions {
            republish_interval: Duration::from_millis(100),
            ..ClientOptions::default()
        },
    );
    let h = host.clone();
    let fetch = tokio::spawn(async move { client.fetch(&h, get_req("/late")).await });
    // The first start is published before anyone listens and is lost.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let router = Router::new().route("/late", get(|| async { "here" }));
    let _r = serve(&p, &host, router).await;
    let resp = fetch.await.unwrap().unwrap();
    assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "here");
}

async fn invalid_host_is_invalid_request(p: Pair) {
    let err = Client::new(p.client.clone())
        .fetch("", get_req("/"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
    let err = Responder::serve(
        p.server.clone(),
        &"h".repeat(300),
        Router::new(),
        ResponderOptions::default(),
    )
    .await
    .err()
    .unwrap();
    assert_eq!(err.code(), ErrorCode::InvalidRequest);
}

conformance!(
    round_trip_keeps_status_headers_and_query,
    large_bodies_arrive_byte_identical_both_ways,
    slow_reader_bounds_response_buffering,
    slow_handler_bounds_request_buffering,
    nobody_serving_is_no_first_frame,
    silent_responder_is_idle_timeout_and_responder_learns,
    keepalive_pings_keep_a_quiet_stream_open,
    deadline_is_timeout_and_cancels_the_handler,
    caller_abort_is_aborted_on_both_sides,
    dropping_the_response_body_aborts_the_responder,
    responder_shutdown_is_closed_for_the_client,
    handler_error_is_handler_code,
    failing_response_body_is_response_body_code,
    failing_request_body_is_request_body_code,
    repeated_start_is_acknowledged_idempotently,
    skipped_frame_is_out_of_order,
    overrunning_the_window_is_window_exceeded,
    bad_head_is_protocol_error,
    late_responder_gets_the_republished_start,
    invalid_host_is_invalid_request,
);
