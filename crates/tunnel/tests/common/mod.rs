//! Shared by the conformance suites: the transports under test and the service URL helper.
#![allow(dead_code)]

use std::sync::Arc;

use wowlab_tunnel::{MemoryTransport, NatsTransport, RotatingTransport, Transport};

/// The two ends of a test: the client's transport and the responder's (separate NATS
/// connections; one shared registry in-process).
#[derive(Clone)]
pub struct Pair {
    pub client: Arc<dyn Transport>,
    pub server: Arc<dyn Transport>,
}

/// The NATS server from `scripts/test` (`WOWLAB_TEST_NATS_URL`). Missing under `CI` → the
/// test fails; otherwise it is skipped with the reason printed.
pub fn nats_url() -> Option<String> {
    match std::env::var("WOWLAB_TEST_NATS_URL") {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var_os("CI").is_some() => {
            panic!("WOWLAB_TEST_NATS_URL is not set: a NATS server is required under CI (scripts/test starts it)")
        }
        _ => {
            eprintln!("skipped: WOWLAB_TEST_NATS_URL is not set (run scripts/test, or point it at a nats-server)");
            None
        }
    }
}

pub fn memory() -> Pair {
    let t: Arc<dyn Transport> = Arc::new(MemoryTransport::new());
    Pair {
        client: t.clone(),
        server: t,
    }
}

pub async fn nats() -> Option<Pair> {
    let url = nats_url()?;
    let client = NatsTransport::connect(&url).await.expect("connect client");
    let server = NatsTransport::connect(&url).await.expect("connect server");
    Some(Pair {
        client: Arc::new(client),
        server: Arc::new(server),
    })
}

/// Both ends on [`RotatingTransport`]s that already moved once onto a new connection.
pub async fn rotating() -> Option<Pair> {
    let url = nats_url()?;
    let mut ends = Vec::new();
    for _ in 0..2 {
        let t = RotatingTransport::new(async_nats::connect(&url).await.expect("connect"));
        t.rotate(async_nats::connect(&url).await.expect("connect again"))
            .await
            .expect("rotate");
        ends.push(Arc::new(t) as Arc<dyn Transport>);
    }
    Some(Pair {
        server: ends.pop()?,
        client: ends.pop()?,
    })
}

/// A host name no other test uses (tests share one NATS server).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Runs each listed `async fn name(pair: Pair)` once per transport.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::memory()).await;
                }
            )*
        }
        mod nats {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(pair) = super::common::nats().await else { return };
                    super::$name(pair).await;
                }
            )*
        }
        mod rotating {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(pair) = super::common::rotating().await else { return };
                    super::$name(pair).await;
                }
            )*
        }
    };
}
