//! Scoped credentials against a real nats-server in operator (JWT) mode, started by the test
//! with a generated trust chain (`OperatorSetup`): a node's credentials reach only its own
//! subjects (the server reports permission violations and delivers nothing), the tunnel works
//! end to end with scoped credentials on both sides, an expired JWT is cut by the server, and
//! a refreshed connection keeps serving across several lifetimes. `nats-server` must be on
//! PATH or in /usr/sbin; under `CI` a missing one fails the test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use http::Request;
use wowlab_tunnel::creds::{
    self, AccountSigner, CredentialSource, Credentials, CredsError, OperatorSetup, Permissions,
    ScopedOptions, SelfSigned,
};
use wowlab_tunnel::subject::HostSubjects;
use wowlab_tunnel::{Body, Client, FetchOptions, Responder, ResponderOptions, Transport};

fn nats_bin() -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = from_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but nats-server is not installed"
        );
        eprintln!("skipped: nats-server is not installed");
    }
    found
}

/// An operator-mode nats-server on a free loopback port, killed on drop.
struct Server {
    child: Child,
    url: String,
    signer: AccountSigner,
    _dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self._dir);
    }
}

fn start_server() -> Option<Server> {
    let bin = nats_bin()?;
    let setup = OperatorSetup::generate(creds::now_ms()).unwrap();
    let dir = std::env::temp_dir().join(format!("wowlab-opnats-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.join("nats.conf");
    std::fs::write(
        &conf,
        format!("listen: 127.0.0.1:{port}\n{}", setup.server_config),
    )
    .unwrap();
    let log = dir.join("nats.log");
    let child = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .arg("-l")
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Server {
        child,
        url: format!("nats://127.0.0.1:{port}"),
        signer: AccountSigner::new(&setup.account, &setup.signing_seed).unwrap(),
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Server is ready") {
            return Some(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("nats-server exited ({status}): {text}");
        }
        assert!(Instant::now() < deadline, "nats-server not ready: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A raw connection with one fixed JWT that records the server's error messages.
async fn raw_connect(url: &str, c: &Credentials) -> (async_nats::Client, Arc<Mutex<Vec<String>>>) {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let seen = errors.clone();
    let jwt = c.jwt.clone();
    let client = async_nats::ConnectOptions::with_auth_callback(move |_| {
        let jwt = jwt.clone();
        async move {
            let mut a = async_nats::Auth::new();
            a.jwt = Some(jwt);
            Ok(a)
        }
    })
    .event_callback(move |e| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(e.to_string());
        }
    })
    .connect(url)
    .await
    .expect("connect with minted credentials");
    (client, errors)
}

fn node_creds(signer: &AccountSigner, host: &str, lifetime: Duration) -> Credentials {
    let perms = Permissions::responder(&HostSubjects::new(host).unwrap());
    signer
        .mint(host, &perms, creds::now_ms(), lifetime)
        .unwrap()
}

/// A client (sentinel) JWT for a minute.
fn sentinel_creds(signer: &AccountSigner) -> Credentials {
    signer
        .mint(
            "sentinel",
            &Permissions::client(),
            creds::now_ms(),
            Duration::from_secs(60),
        )
        .unwrap()
}

async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn violations(errors: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    errors
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.to_lowercase().contains("permissions violation"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_credentials_reach_only_their_own_subjects() {
    let Some(server) = start_server() else { return };
    let a = HostSubjects::new("node-a").unwrap();
    let b = HostSubjects::new("node-b").unwrap();
    let (node_a, errors) = raw_connect(
        &server.url,
        &node_creds(&server.signer, "node-a", Duration::from_secs(60)),
    )
    .await;
    let (sentinel, _) = raw_connect(&server.url, &sentinel_creds(&server.signer)).await;

    // Its own subjects work: a start for node-a arrives, its down reply reaches the sentinel.
    let mut own_start = node_a.subscribe(a.start()).await.unwrap();
    let mut down = sentinel.subscribe(a.down("r1")).await.unwrap();
    // Another node's start and up subjects, and a wildcard over every host: refused.
    let mut other_start = node_a.subscribe(b.start()).await.unwrap();
    let mut other_up = node_a.subscribe(b.up("r1")).await.unwrap();
    let mut everything = node_a.subscribe("tunnel.v1.>").await.unwrap();
    node_a.flush().await.unwrap();
    sentinel.flush().await.unwrap();
    wait_for("subscribe violations", Duration::from_secs(5), || {
        violations(&errors).len() >= 3
    })
    .await;

    // Publishing as node-b (answering for it) or outside the tunnel: refused, never delivered.
    let mut b_down = sentinel.subscribe(b.down("r1")).await.unwrap();
    let mut b_start = sentinel.subscribe(b.start()).await.unwrap();
    sentinel.flush().await.unwrap();
    node_a
        .publish(b.down("r1"), Bytes::from_static(b"forged"))
        .await
        .unwrap();
    node_a
        .publish(b.start(), Bytes::from_static(b"forged"))
        .await
        .unwrap();
    node_a
        .publish("elsewhere", Bytes::from_static(b"x"))
        .await
        .unwrap();
    node_a
        .publish(a.down("r1"), Bytes::from_static(b"mine"))
        .await
        .unwrap();
    sentinel
        .publish(a.start(), Bytes::from_static(b"hello a"))
        .await
        .unwrap();
    sentinel
        .publish(b.start(), Bytes::from_static(b"hello b"))
        .await
        .unwrap();
    sentinel
        .publish(b.up("r1"), Bytes::from_static(b"up b"))
        .await
        .unwrap();
    node_a.flush().await.unwrap();
    sentinel.flush().await.unwrap();

    let got = tokio::time::timeout(Duration::from_secs(5), own_start.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.payload, "hello a");
    let got = tokio::time::timeout(Duration::from_secs(5), down.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.payload, "mine");
    // The sentinel's own start for node-b arrives; node-a's forgeries do not.
    let got = tokio::time::timeout(Duration::from_secs(5), b_start.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.payload, "hello b");
    wait_for("publish violations", Duration::from_secs(5), || {
        violations(&errors).len() >= 6
    })
    .await;
    let quiet = Duration::from_millis(500);
    assert!(
        tokio::time::timeout(quiet, b_down.next()).await.is_err(),
        "forged down frame delivered"
    );
    assert!(
        tokio::time::timeout(quiet, b_start.next()).await.is_err(),
        "forged start delivered"
    );
    for (what, sub) in [
        ("b start", &mut other_start),
        ("b up", &mut other_up),
        ("all", &mut everything),
    ] {
        if let Ok(Some(m)) = tokio::time::timeout(quiet, sub.next()).await {
            panic!("node-a received {what}: {:?}", m.subject);
        }
    }
    let v = violations(&errors);
    assert!(
        v.iter()
            .any(|e| e.contains(&b.start()) && e.to_lowercase().contains("subscription")),
        "{v:?}"
    );
    assert!(
        v.iter()
            .any(|e| e.contains(&b.down("r1")) && e.to_lowercase().contains("publish")),
        "{v:?}"
    );
    assert!(v.iter().any(|e| e.contains("elsewhere")), "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_credentials_are_cut_by_the_server() {
    let Some(server) = start_server() else { return };
    let (client, errors) = raw_connect(
        &server.url,
        &node_creds(&server.signer, "node-x", Duration::from_secs(2)),
    )
    .await;
    let mut sub = client
        .subscribe(HostSubjects::new("node-x").unwrap().start())
        .await
        .unwrap();
    client.flush().await.unwrap();
    wait_for("expiry error", Duration::from_secs(10), || {
        errors
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.to_lowercase().contains("expired"))
    })
    .await;
    // Reconnects present the same, expired JWT and are refused: nothing is delivered.
    let (sentinel, _) = raw_connect(&server.url, &sentinel_creds(&server.signer)).await;
    sentinel
        .publish(
            HostSubjects::new("node-x").unwrap().start(),
            Bytes::from_static(b"late"),
        )
        .await
        .unwrap();
    sentinel.flush().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(1), sub.next())
            .await
            .ok()
            .flatten()
            .is_none(),
        "an expired connection still received"
    );
}

/// Counts fetches; mints with the account key like the sentinel's endpoint does.
struct Counting {
    inner: SelfSigned,
    fetches: Arc<std::sync::atomic::AtomicU64>,
}

#[async_trait::async_trait]
impl CredentialSource for Counting {
    async fn fetch(&self) -> Result<Credentials, CredsError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.fetch().await
    }
}

fn status_router() -> Router {
    Router::new().route("/status", get(|| async { "alive" }))
}

async fn fetch_status(client: &Client, host: &str) -> Result<String, String> {
    let req = Request::get("/status").body(Body::empty()).unwrap();
    let opts = FetchOptions {
        first_frame_timeout: Duration::from_secs(2),
        timeout: Some(Duration::from_secs(5)),
        ..FetchOptions::default()
    };
    let resp = client
        .fetch_with(host, req, opts)
        .await
        .map_err(|e| e.to_string())?;
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_works_with_scoped_credentials_across_refreshes() {
    let Some(server) = start_server() else { return };
    let lifetime = Duration::from_secs(3);
    let host = "node-refresh";
    let subjects = HostSubjects::new(host).unwrap();
    let fetches = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let node = creds::connect(
        &server.url,
        Arc::new(Counting {
            inner: SelfSigned {
                signer: server.signer.clone(),
                name: host.into(),
                permissions: Permissions::responder(&subjects),
                lifetime,
            },
            fetches: fetches.clone(),
        }),
        ScopedOptions {
            name: "node".into(),
            inbox_prefix: Some(subjects.inbox_prefix()),
        },
    )
    .await
    .unwrap();
    let sentinel = creds::connect(
        &server.url,
        Arc::new(SelfSigned {
            signer: server.signer.clone(),
            name: "sentinel".into(),
            permissions: Permissions::client(),
            lifetime,
        }),
        ScopedOptions {
            name: "sentinel".into(),
            inbox_prefix: None,
        },
    )
    .await
    .unwrap();
    let node_transport: Arc<dyn Transport> = Arc::new(node.transport());
    // `serve` flushes through the node's own inbox: proves the inbox permission too.
    let _responder = Responder::serve(
        node_transport,
        host,
        status_router(),
        ResponderOptions::default(),
    )
    .await
    .expect("responder with scoped credentials");
    let client = Client::new(Arc::new(sentinel.transport()));
    assert_eq!(fetch_status(&client, host).await.unwrap(), "alive");

    // Probe through four lifetimes: every probe answers (a probe that meets a reconnect is
    // retried by the start republish), and both sides moved onto fresh JWTs several times.
    let first_expiry = node.expires_at_ms();
    let started = Instant::now();
    let mut probes = 0;
    while started.elapsed() < lifetime * 4 {
        let r = fetch_status(&client, host).await;
        assert_eq!(
            r.as_deref(),
            Ok("alive"),
            "probe {probes} at {:?}",
            started.elapsed()
        );
        probes += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        node.refreshes() >= 3,
        "node refreshed {} times",
        node.refreshes()
    );
    assert!(
        sentinel.refreshes() >= 3,
        "sentinel refreshed {} times",
        sentinel.refreshes()
    );
    assert!(node.expires_at_ms() > first_expiry + 2 * lifetime.as_millis() as u64);
    // One fetch per refresh, no storm.
    let f = fetches.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        f <= node.refreshes() + 1,
        "{f} fetches for {} refreshes",
        node.refreshes()
    );
    assert!(probes >= 10, "{probes} probes");
}

/// Numbered lines, one every `every`, for `n` lines.
fn counting_router(n: u64, every: Duration) -> Router {
    Router::new().route(
        "/count",
        get(move || async move {
            let lines = futures_util::stream::unfold(0u64, move |i| async move {
                if i == n {
                    return None;
                }
                tokio::time::sleep(every).await;
                Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(format!("{i}\n"))),
                    i + 1,
                ))
            });
            Body::from_stream(lines)
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_outlives_credential_refreshes_on_both_sides() {
    let Some(server) = start_server() else { return };
    let lifetime = Duration::from_secs(2);
    let host = "node-stream";
    let subjects = HostSubjects::new(host).unwrap();
    let connect = |name: &str, permissions: Permissions, inbox_prefix: Option<String>| {
        creds::connect(
            &server.url,
            Arc::new(SelfSigned {
                signer: server.signer.clone(),
                name: name.into(),
                permissions,
                lifetime,
            }),
            ScopedOptions {
                name: name.into(),
                inbox_prefix,
            },
        )
    };
    let node = connect(
        host,
        Permissions::responder(&subjects),
        Some(subjects.inbox_prefix()),
    )
    .await
    .unwrap();
    let sentinel = connect("sentinel", Permissions::client(), None)
        .await
        .unwrap();
    // Three lifetimes of lines, one every 5 ms: each side moves onto new connections about
    // four times while frames flow both ways (data down, credit up: a 2 KiB window is
    // credited every 512 bytes read).
    let lines = 3 * lifetime.as_millis() as u64 / 5;
    let _responder = Responder::serve(
        Arc::new(node.transport()),
        host,
        counting_router(lines, Duration::from_millis(5)),
        ResponderOptions::default(),
    )
    .await
    .unwrap();
    let client = Client::with_options(
        Arc::new(sentinel.transport()),
        wowlab_tunnel::ClientOptions {
            window_bytes: 2048,
            ..wowlab_tunnel::ClientOptions::default()
        },
    );
    let req = Request::get("/count").body(Body::empty()).unwrap();
    let opts = FetchOptions {
        first_frame_timeout: Duration::from_secs(5),
        idle_timeout: Some(Duration::from_secs(5)),
        ..FetchOptions::default()
    };
    let resp = client.fetch_with(host, req, opts).await.unwrap();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("the whole stream, across the refreshes")
        .to_bytes();
    let got: Vec<u64> = String::from_utf8_lossy(&body)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(
        got == (0..lines).collect::<Vec<_>>(),
        "{} lines, not 0..{lines} in order",
        got.len()
    );
    assert!(node.refreshes() >= 2, "node refreshed {}", node.refreshes());
    assert!(
        sentinel.refreshes() >= 2,
        "sentinel refreshed {}",
        sentinel.refreshes()
    );
}
