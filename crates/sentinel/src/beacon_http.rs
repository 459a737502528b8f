//! Beacon's server HTTP API as the sentinel uses it (distributed mode): `POST /api/publish` for
//! the [`Publisher`] side of the funnel and `POST /api/presence` on `nodes:online` for the
//! [`PresenceSource`] of the presence cron. Authenticated with the beacon API key (distinct from
//! the token HMAC secret).

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::NodeId;
use crate::publish::{PublishError, Publisher};
use crate::tasks::presence::PresenceSource;

/// Beacon error codes worth retrying: internal (100), not available (108), too many requests (111).
const TEMPORARY_CODES: [u32; 3] = [100, 108, 111];
/// Unknown channel: nobody is present.
const UNKNOWN_CHANNEL: u32 = 102;

/// Client of one beacon's server API.
#[derive(Clone)]
pub struct BeaconHttp {
    client: reqwest::Client,
    base: String,
    api_key: String,
}

impl std::fmt::Debug for BeaconHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeaconHttp")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ApiReply {
    #[serde(default)]
    error: Option<ApiErr>,
    #[serde(default)]
    result: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct ApiErr {
    code: u32,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct PresenceResult {
    #[serde(default)]
    presence: std::collections::HashMap<String, PresenceClient>,
}

#[derive(Deserialize)]
struct PresenceClient {
    #[serde(default)]
    user: String,
}

impl BeaconHttp {
    /// A client for the beacon at `base_url` (e.g. `http://127.0.0.1:8000`).
    pub fn new(base_url: &str, api_key: &str) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            base: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
        })
    }

    async fn call(&self, method: &str, body: Vec<u8>) -> Result<ApiReply, PublishError> {
        let resp = self
            .client
            .post(format!("{}/api/{method}", self.base))
            .header("x-api-key", &self.api_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| PublishError::Temporary(format!("beacon unreachable: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| PublishError::Temporary(format!("beacon reply cut: {e}")))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(PublishError::Temporary(format!("beacon HTTP {status}")));
        }
        let reply: ApiReply = serde_json::from_slice(&bytes).map_err(|e| {
            PublishError::Permanent(format!("beacon HTTP {status}: bad reply: {e}"))
        })?;
        Ok(reply)
    }
}

fn classify(e: ApiErr) -> PublishError {
    let msg = format!("beacon error {}: {}", e.code, e.message);
    if TEMPORARY_CODES.contains(&e.code) {
        PublishError::Temporary(msg)
    } else {
        PublishError::Permanent(msg)
    }
}

#[async_trait]
impl Publisher for BeaconHttp {
    async fn publish(&self, channel: &str, data: Bytes) -> Result<(), PublishError> {
        // `data` is already JSON: splice it in raw instead of re-encoding.
        let data = std::str::from_utf8(&data)
            .map_err(|_| PublishError::Permanent("payload is not UTF-8 JSON".into()))?;
        let channel =
            serde_json::to_string(channel).map_err(|e| PublishError::Permanent(e.to_string()))?;
        let body = format!(r#"{{"channel":{channel},"data":{data}}}"#).into_bytes();
        match self.call("publish", body).await?.error {
            None => Ok(()),
            Some(e) => Err(classify(e)),
        }
    }
}

#[async_trait]
impl PresenceSource for BeaconHttp {
    async fn online(&self) -> Result<HashSet<NodeId>, String> {
        let reply = self
            .call("presence", br#"{"channel":"nodes:online"}"#.to_vec())
            .await
            .map_err(|e| e.to_string())?;
        if let Some(e) = reply.error {
            if e.code == UNKNOWN_CHANNEL {
                return Ok(HashSet::new());
            }
            return Err(classify(e).to_string());
        }
        let Some(raw) = reply.result else {
            return Ok(HashSet::new());
        };
        let result: PresenceResult =
            serde_json::from_str(raw.get()).map_err(|e| format!("bad presence reply: {e}"))?;
        // Clients whose user is not a node id (dashboards) are ignored.
        Ok(result
            .presence
            .values()
            .filter_map(|c| c.user.parse().ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use axum::{Json, Router};
    use parking_lot::Mutex;
    use serde_json::{json, Value};

    use super::*;
    use crate::publish::{Funnel, FunnelError};

    #[derive(Default)]
    struct Fake {
        seen: Mutex<Vec<(String, Value)>>,
        replies: Mutex<Vec<(StatusCode, Value)>>,
    }

    async fn api(
        State(f): State<Arc<Fake>>,
        axum::extract::Path(method): axum::extract::Path<String>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        assert_eq!(headers.get("x-api-key").unwrap(), "k3y");
        f.seen.lock().push((method, body));
        let next = f.replies.lock().pop();
        let (s, v) = next.unwrap_or((StatusCode::OK, json!({"result": {}})));
        (s, Json(v))
    }

    async fn serve(f: Arc<Fake>) -> String {
        let app = Router::new()
            .route("/api/{method}", post(api))
            .with_state(f);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn publish_retries_temporary_and_stops_on_permanent() {
        let fake = Arc::new(Fake::default());
        let url = serve(fake.clone()).await;
        let beacon = Arc::new(BeaconHttp::new(&url, "k3y").unwrap());
        let funnel = Funnel::new(beacon.clone());
        // Replies pop from the back: 503, then error 108 (temporary), then success.
        *fake.replies.lock() = vec![
            (StatusCode::OK, json!({"result": {}})),
            (
                StatusCode::OK,
                json!({"error": {"code": 108, "message": "not available"}}),
            ),
            (StatusCode::SERVICE_UNAVAILABLE, json!({})),
        ];
        funnel
            .publish("jobs:x", &json!({"type": "progress", "n": 1}))
            .await
            .unwrap();
        let seen = fake.seen.lock().clone();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0].0, "publish");
        assert_eq!(
            seen[2].1,
            json!({"channel": "jobs:x", "data": {"type": "progress", "n": 1}})
        );

        *fake.replies.lock() = vec![(
            StatusCode::OK,
            json!({"error": {"code": 103, "message": "permission denied"}}),
        )];
        let err = funnel.publish("jobs:x", &1).await.unwrap_err();
        assert!(matches!(
            err,
            FunnelError::Failed {
                attempts: 1,
                last: PublishError::Permanent(_),
                ..
            }
        ));
    }

    #[tokio::test]
    async fn presence_reads_node_ids_of_nodes_online() {
        let fake = Arc::new(Fake::default());
        let url = serve(fake.clone()).await;
        let beacon = BeaconHttp::new(&url, "k3y").unwrap();
        let (a, b) = (NodeId::new(), NodeId::new());
        *fake.replies.lock() = vec![(
            StatusCode::OK,
            json!({"result": {"presence": {
                "c1": {"client": "c1", "user": a.to_string()},
                "c2": {"client": "c2", "user": b.to_string()},
                "c3": {"client": "c3", "user": "dashboard"}
            }}}),
        )];
        assert_eq!(beacon.online().await.unwrap(), [a, b].into());
        assert_eq!(
            fake.seen.lock()[0],
            ("presence".into(), json!({"channel": "nodes:online"}))
        );
        *fake.replies.lock() = vec![(
            StatusCode::OK,
            json!({"error": {"code": 102, "message": "unknown channel"}}),
        )];
        assert!(beacon.online().await.unwrap().is_empty());
        *fake.replies.lock() = vec![(
            StatusCode::OK,
            json!({"error": {"code": 100, "message": "internal"}}),
        )];
        assert!(beacon.online().await.is_err());
        let down = BeaconHttp::new("http://127.0.0.1:9", "k3y").unwrap();
        assert!(down.online().await.is_err());
    }
}
