//! Optional webhook for node status flips: one JSON POST per sync round that changed something
//! (`{"event": "node.status", "flips": [...]}`), 5 s timeout, failures logged and dropped —
//! a notification, never a delivery guarantee. A spot check that quarantines a node posts
//! `{"event": "node.quarantined", "node": {...}}` the same way, so its owner hears of it.

use std::time::Duration;

use serde::Serialize;

use super::presence::StatusFlip;

/// Where flips are reported.
#[derive(Clone, Debug)]
pub struct Webhook {
    client: reqwest::Client,
    url: String,
}

#[derive(Serialize)]
struct Body<'a> {
    event: &'static str,
    flips: &'a [StatusFlip],
}

impl Webhook {
    /// A webhook posting to `url`.
    pub fn new(url: &str) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            url: url.to_owned(),
        })
    }

    /// Posts the flips; returns whether the receiver accepted them (2xx).
    pub async fn notify(&self, flips: &[StatusFlip]) -> bool {
        let body = Body {
            event: "node.status",
            flips,
        };
        self.post(&body).await
    }

    /// Posts that a node was quarantined (`node`: who, whose, and the jobs under review);
    /// returns whether the receiver accepted it (2xx).
    pub async fn notify_quarantine(&self, node: &impl Serialize) -> bool {
        #[derive(Serialize)]
        struct Quarantine<'a, T> {
            event: &'static str,
            node: &'a T,
        }
        self.post(&Quarantine {
            event: "node.quarantined",
            node,
        })
        .await
    }

    async fn post(&self, body: &impl Serialize) -> bool {
        match self.client.post(&self.url).json(body).send().await {
            Ok(r) if r.status().is_success() => true,
            Ok(r) => {
                tracing::warn!(status = %r.status(), "webhook refused the notification");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhook unreachable");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::extract::State;
    use axum::routing::post;
    use axum::{Json, Router};
    use parking_lot::Mutex;
    use serde_json::Value;

    use super::*;
    use crate::domain::NodeId;
    use crate::store::NodeStatus;

    #[tokio::test]
    async fn flips_are_posted_as_json() {
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let app = Router::new()
            .route(
                "/hook",
                post(
                    |State(g): State<Arc<Mutex<Vec<Value>>>>, Json(v): Json<Value>| async move {
                        g.lock().push(v);
                    },
                ),
            )
            .with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let node = NodeId::new();
        let flips = [StatusFlip {
            kind: "status",
            node_id: node,
            status: NodeStatus::Offline,
        }];
        assert!(
            Webhook::new(&format!("http://{addr}/hook"))
                .unwrap()
                .notify(&flips)
                .await
        );
        let v = got.lock()[0].clone();
        assert_eq!(v["event"], "node.status");
        // A quarantine goes the same way, under its own event name.
        assert!(
            Webhook::new(&format!("http://{addr}/hook"))
                .unwrap()
                .notify_quarantine(&serde_json::json!({"nodeId": node}))
                .await
        );
        let q = got.lock()[1].clone();
        assert_eq!(q["event"], "node.quarantined");
        assert_eq!(q["node"]["nodeId"], node.to_string());
        assert_eq!(v["flips"][0]["nodeId"], node.to_string());
        assert_eq!(v["flips"][0]["status"], "offline");
        assert!(
            !Webhook::new(&format!("http://{addr}/missing"))
                .unwrap()
                .notify(&flips)
                .await
        );
        assert!(
            !Webhook::new("http://127.0.0.1:9/hook")
                .unwrap()
                .notify(&flips)
                .await
        );
    }
}
