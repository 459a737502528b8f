//! Conformance suites every engine implementation must pass. A Redis/NATS implementation
//! calls these from its own tests with a factory that returns a fresh, isolated instance.
//! They panic (assert) on a violation, so they are only meant for tests.

use super::{
    Broker, BrokerEventHandler, ClientInfo, EngineError, HistoryOptions, PresenceManager,
    PresenceStats, Publication, PublishOptions, StreamPosition,
};
use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// Something the broker delivered to the collecting handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// A publication with its position.
    Publication(String, Publication, StreamPosition),
    /// A join.
    Join(String, ClientInfo),
    /// A leave.
    Leave(String, ClientInfo),
    /// A control message.
    Control(Bytes),
}

/// A handler that records deliveries in order.
#[derive(Default)]
pub struct Collector {
    /// Everything delivered so far.
    pub events: Mutex<Vec<Delivered>>,
}

impl Collector {
    fn take(&self) -> Vec<Delivered> {
        std::mem::take(&mut *self.events.lock())
    }
}

impl BrokerEventHandler for Collector {
    fn handle_publication(
        &self,
        channel: &str,
        publication: Publication,
        position: StreamPosition,
    ) {
        self.events.lock().push(Delivered::Publication(
            channel.into(),
            publication,
            position,
        ));
    }
    fn handle_join(&self, channel: &str, info: ClientInfo) {
        self.events
            .lock()
            .push(Delivered::Join(channel.into(), info));
    }
    fn handle_leave(&self, channel: &str, info: ClientInfo) {
        self.events
            .lock()
            .push(Delivered::Leave(channel.into(), info));
    }
    fn handle_control(&self, data: Bytes) {
        self.events.lock().push(Delivered::Control(data));
    }
}

fn publication(data: &str) -> Publication {
    Publication {
        data: Bytes::from(data.to_string()),
        ..Default::default()
    }
}

fn history_opts(size: usize) -> PublishOptions {
    PublishOptions {
        history_size: size,
        history_ttl: Duration::from_secs(60),
        history_meta_ttl: Duration::from_secs(3600),
    }
}

fn hist(since: Option<StreamPosition>, limit: Option<usize>, reverse: bool) -> HistoryOptions {
    HistoryOptions {
        since,
        limit,
        reverse,
        meta_ttl: Duration::from_secs(3600),
    }
}

fn offsets(p: &[Publication]) -> Vec<u64> {
    p.iter().map(|p| p.offset).collect()
}

/// Key of control messages in [`by_channel`].
const CONTROL: &str = "(control)";

/// Deliveries grouped by channel, each group in delivery order. Brokers order the deliveries
/// of one channel (its stream order); across channels and control messages they need not:
/// Centrifugo's NATS broker, like ours, reads each channel's subject on its own.
fn by_channel(ev: Vec<Delivered>) -> std::collections::BTreeMap<String, Vec<Delivered>> {
    let mut out: std::collections::BTreeMap<String, Vec<Delivered>> = Default::default();
    for e in ev {
        let key = match &e {
            Delivered::Publication(ch, _, _) | Delivered::Join(ch, _) | Delivered::Leave(ch, _) => {
                ch.clone()
            }
            Delivered::Control(_) => CONTROL.to_string(),
        };
        out.entry(key).or_default().push(e);
    }
    out
}

/// Waits briefly for asynchronous brokers (network round-trips) to deliver `n` events.
async fn wait_for(c: &Collector, n: usize) -> Vec<Delivered> {
    for _ in 0..200 {
        if c.events.lock().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.take()
}

/// Two nodes `a` and `b` (not yet running) of one distributed broker: once `b.subscribe` returns,
/// what `a` publishes reaches `b` (a client told "subscribed" must not miss the next
/// publication). Without history, so no gap repair could hide a miss; many channels, since
/// a broker that returns before its server took the subscription misses only some.
pub async fn delivered_right_after_subscribe<B: Broker>(a: &B, b: &B) {
    let cb = Arc::new(Collector::default());
    a.run(Arc::new(Collector::default())).await.expect("run a");
    b.run(cb.clone()).await.expect("run b");
    const CHANNELS: usize = 300;
    for i in 0..CHANNELS {
        let ch = format!("fresh{i}");
        b.subscribe(std::slice::from_ref(&ch))
            .await
            .expect("subscribe");
        a.publish(&ch, publication(&i.to_string()), &PublishOptions::default())
            .await
            .expect("publish");
    }
    let got: std::collections::HashSet<String> = wait_for(&cb, CHANNELS)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Delivered::Publication(ch, _, _) => Some(ch),
            _ => None,
        })
        .collect();
    let missed: Vec<usize> = (0..CHANNELS)
        .filter(|i| !got.contains(&format!("fresh{i}")))
        .collect();
    assert!(
        missed.is_empty(),
        "missed right after subscribe: {missed:?}"
    );
}

/// The broker suite: delivery, node-level subscriptions, join/leave/control, history streams.
pub async fn broker_suite<B: Broker, F: Fn() -> B>(factory: F) {
    // Not running yet: typed error, not a panic.
    let idle = factory();
    assert_eq!(
        idle.publish("x", publication("1"), &PublishOptions::default())
            .await,
        Err(EngineError::NotRunning)
    );

    let broker = factory();
    let c = Arc::new(Collector::default());
    broker.run(c.clone()).await.expect("run");

    // Not subscribed: nothing delivered, but history still records.
    let pos = broker
        .publish("a", publication("{}"), &history_opts(10))
        .await
        .unwrap();
    assert_eq!(pos.offset, 1);
    assert_eq!(pos.epoch.len(), 8);
    assert!(wait_for(&c, 1).await.is_empty());

    broker
        .subscribe(&["a".to_string(), "b".to_string()])
        .await
        .unwrap();
    let p2 = broker
        .publish("a", publication("\"x\""), &history_opts(10))
        .await
        .unwrap();
    assert_eq!(
        p2,
        StreamPosition {
            offset: 2,
            epoch: pos.epoch.clone()
        }
    );
    let no_hist = broker
        .publish("b", publication("1"), &PublishOptions::default())
        .await
        .unwrap();
    assert_eq!(no_hist.offset, 0);
    let ev = by_channel(wait_for(&c, 2).await);
    assert_eq!(ev.len(), 2, "{ev:?}");
    match &ev["a"][..] {
        [Delivered::Publication(_, p, sp)] => {
            assert_eq!(p.offset, 2);
            assert_eq!(&p.data[..], b"\"x\"");
            assert_eq!(sp, &p2);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(&ev["b"][..], [Delivered::Publication(_, p, _)] if p.offset == 0));

    // Join, leave, control.
    let info = ClientInfo {
        user: "u".into(),
        client: "c".into(),
        conn_info: Some(Bytes::from_static(b"{}")),
        chan_info: None,
    };
    broker.publish_join("a", info.clone()).await.unwrap();
    broker.publish_leave("a", info.clone()).await.unwrap();
    broker
        .publish_control(Bytes::from_static(b"ctl"), None)
        .await
        .unwrap();
    let ev = by_channel(wait_for(&c, 3).await);
    assert_eq!(
        ev,
        std::collections::BTreeMap::from([
            (
                "a".to_string(),
                vec![
                    Delivered::Join("a".into(), info.clone()),
                    Delivered::Leave("a".into(), info.clone()),
                ]
            ),
            (
                CONTROL.to_string(),
                vec![Delivered::Control(Bytes::from_static(b"ctl"))]
            ),
        ])
    );

    // Unsubscribe stops delivery.
    broker.unsubscribe(&["b".to_string()]).await.unwrap();
    broker
        .publish("b", publication("1"), &PublishOptions::default())
        .await
        .unwrap();
    broker.publish_join("b", info.clone()).await.unwrap();
    assert!(wait_for(&c, 1).await.is_empty());

    // Ordered offsets under a burst.
    for i in 0..50 {
        broker
            .publish("a", publication(&i.to_string()), &history_opts(10))
            .await
            .unwrap();
    }
    let ev = wait_for(&c, 50).await;
    let got: Vec<u64> = ev
        .iter()
        .filter_map(|e| match e {
            Delivered::Publication(_, p, _) => Some(p.offset),
            _ => None,
        })
        .collect();
    assert_eq!(got, (3..53).collect::<Vec<u64>>());

    // History: size cap keeps the newest 10.
    let h = broker.history("a", &hist(None, None, false)).await.unwrap();
    assert_eq!(offsets(&h.publications), (43..53).collect::<Vec<u64>>());
    assert_eq!(h.position.offset, 52);
    // limit, reverse, since.
    let h = broker
        .history("a", &hist(None, Some(3), false))
        .await
        .unwrap();
    assert_eq!(offsets(&h.publications), vec![43, 44, 45]);
    let h = broker
        .history("a", &hist(None, Some(3), true))
        .await
        .unwrap();
    assert_eq!(offsets(&h.publications), vec![52, 51, 50]);
    let since = StreamPosition {
        offset: 48,
        epoch: pos.epoch.clone(),
    };
    let h = broker
        .history("a", &hist(Some(since.clone()), None, false))
        .await
        .unwrap();
    assert_eq!(offsets(&h.publications), vec![49, 50, 51, 52]);
    let h = broker
        .history("a", &hist(Some(since.clone()), Some(2), true))
        .await
        .unwrap();
    assert_eq!(offsets(&h.publications), vec![47, 46]);
    let h = broker
        .history("a", &hist(None, Some(0), false))
        .await
        .unwrap();
    assert!(h.publications.is_empty());
    assert_eq!(
        h.position,
        StreamPosition {
            offset: 52,
            epoch: pos.epoch.clone()
        }
    );
    // Wrong epoch.
    let bad = StreamPosition {
        offset: 1,
        epoch: "otherepo".into(),
    };
    assert_eq!(
        broker.history("a", &hist(Some(bad), None, false)).await,
        Err(EngineError::UnrecoverablePosition)
    );
    // Payload round-trips byte for byte.
    let h = broker
        .history("a", &hist(None, Some(1), true))
        .await
        .unwrap();
    assert_eq!(&h.publications[0].data[..], b"49");

    // Remove keeps the position.
    broker.remove_history("a").await.unwrap();
    let h = broker.history("a", &hist(None, None, false)).await.unwrap();
    assert!(h.publications.is_empty());
    assert_eq!(h.position.offset, 52);
    assert_eq!(
        broker
            .stream_top("a", Duration::from_secs(60))
            .await
            .unwrap()
            .offset,
        52
    );
    let next = broker
        .publish("a", publication("1"), &history_opts(10))
        .await
        .unwrap();
    assert_eq!(next.offset, 53);
    assert_eq!(next.epoch, pos.epoch);

    // A fresh channel starts at 0 with a stable epoch.
    let t1 = broker
        .stream_top("fresh", Duration::from_secs(60))
        .await
        .unwrap();
    let t2 = broker
        .stream_top("fresh", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(t1.offset, 0);
    assert_eq!(t1, t2);

    // History TTL drops data but keeps the position.
    let short = PublishOptions {
        history_size: 10,
        history_ttl: Duration::from_millis(50),
        history_meta_ttl: Duration::from_secs(3600),
    };
    broker
        .publish("ttl", publication("1"), &short)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let h = broker
        .history("ttl", &hist(None, None, false))
        .await
        .unwrap();
    assert!(h.publications.is_empty());
    assert_eq!(h.position.offset, 1);
}

/// The presence suite: add/refresh/remove, stats with distinct users, TTL expiry.
/// `factory(ttl)` returns a manager whose entries expire after `ttl`.
pub async fn presence_suite<P: PresenceManager, F: Fn(Duration) -> P>(factory: F) {
    let pm = factory(Duration::from_secs(60));
    assert!(pm.presence("ch").await.unwrap().is_empty());
    assert_eq!(
        pm.presence_stats("ch").await.unwrap(),
        PresenceStats::default()
    );
    let info = |u: &str, c: &str| ClientInfo {
        user: u.into(),
        client: c.into(),
        conn_info: Some(Bytes::from_static(b"{\"a\":1}")),
        chan_info: None,
    };
    pm.add_presence("ch", "c1", info("u1", "c1")).await.unwrap();
    pm.add_presence("ch", "c2", info("u1", "c2")).await.unwrap();
    pm.add_presence("ch", "c3", info("u2", "c3")).await.unwrap();
    pm.add_presence("other", "c9", info("u9", "c9"))
        .await
        .unwrap();
    // Re-adding refreshes, does not duplicate.
    pm.add_presence("ch", "c1", info("u1", "c1")).await.unwrap();
    let p = pm.presence("ch").await.unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(p["c1"], info("u1", "c1"));
    assert_eq!(
        pm.presence_stats("ch").await.unwrap(),
        PresenceStats {
            num_clients: 3,
            num_users: 2
        }
    );
    pm.remove_presence("ch", "c2", "u1").await.unwrap();
    pm.remove_presence("ch", "missing", "x").await.unwrap();
    assert_eq!(
        pm.presence_stats("ch").await.unwrap(),
        PresenceStats {
            num_clients: 2,
            num_users: 2
        }
    );
    assert_eq!(pm.presence("other").await.unwrap().len(), 1);

    let short = factory(Duration::from_millis(100));
    short
        .add_presence("ch", "c1", info("u1", "c1"))
        .await
        .unwrap();
    short
        .add_presence("ch", "c2", info("u2", "c2"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    short
        .add_presence("ch", "c2", info("u2", "c2"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(70)).await;
    let p = short.presence("ch").await.unwrap();
    assert_eq!(
        p.keys().cloned().collect::<Vec<_>>(),
        vec!["c2".to_string()],
        "refreshed entry survives, other expires"
    );
    assert_eq!(short.presence_stats("ch").await.unwrap().num_clients, 1);
}
