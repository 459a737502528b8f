//! Signed HTTP client of the sentinel's node API.
//!
//! Each attempt is signed afresh (new timestamp and nonce: the sentinel refuses a nonce it has
//! seen, so a retry must never resend the same headers). Connect errors, timeouts and 5xx are
//! retried with full-jitter backoff; 4xx never are, since the answer would not change.
//!
//! The sentinel URL may be a comma-separated list of sentinels sharing one grid: calls go to
//! one of them, and a transient failure moves this and later calls on to the next one, so a
//! dead sentinel costs the node one retry rather than its work.

mod error;

pub use error::ClientError;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Serialize;
use wowlab_api::node::{
    ApiErrorBody, CompleteRequest, CompleteResponse, ConfigRequest, ConfigResponse, FailRequest,
    FailResponse, HeartbeatRequest, HeartbeatResponse, LeasesRequest, LeasesResponse,
    RegisterRequest, RegisterResponse, TokenResponse, TunnelCredentialsResponse,
    PATH_CHUNK_COMPLETE, PATH_CHUNK_FAIL, PATH_CONFIG, PATH_HEARTBEAT, PATH_LEASES, PATH_REGISTER,
    PATH_TOKEN, PATH_TUNNEL_CREDENTIALS, PATH_UNLINK,
};
use wowlab_api::signing::NodeKey;

use crate::backoff::Backoff;

/// Retry policy of one call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts (≥ 1).
    pub attempts: u32,
    /// First backoff ceiling.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_millis(200),
            max: Duration::from_secs(10),
        }
    }
}

/// Client of the node API; cheap to clone.
#[derive(Clone)]
pub struct SentinelClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The configured URL (list) as given, trailing slashes removed.
    base: String,
    /// Each sentinel's base URL and the host its signatures name.
    endpoints: Vec<(String, String)>,
    /// Index of the sentinel calls go to.
    current: AtomicUsize,
    key: NodeKey,
    retry: RetryPolicy,
}

/// Parses one sentinel base URL into (base, host).
fn endpoint(raw: &str) -> Result<(String, String), ClientError> {
    let base = raw.trim().trim_end_matches('/').to_owned();
    let url = reqwest::Url::parse(&base)
        .map_err(|e| ClientError::Config(format!("sentinel URL {base:?}: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| ClientError::Config(format!("sentinel URL {base:?} has no host")))?
        .to_owned();
    Ok((base, host))
}

impl std::fmt::Debug for SentinelClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SentinelClient")
            .field("base", &self.inner.base)
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

impl SentinelClient {
    /// A client for `base_url` (scheme + host [+ port], no trailing path; or several of them,
    /// comma-separated) signing with `key`.
    pub fn new(
        base_url: &str,
        key: NodeKey,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, ClientError> {
        let endpoints = base_url
            .split(',')
            .map(endpoint)
            .collect::<Result<Vec<_>, _>>()?;
        let base = endpoints
            .iter()
            .map(|(b, _)| b.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("wowlab-node/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base,
                endpoints,
                current: AtomicUsize::new(0),
                key,
                retry: RetryPolicy {
                    attempts: retry.attempts.max(1),
                    ..retry
                },
            }),
        })
    }

    /// The node's public key (base64).
    pub fn public_key(&self) -> String {
        self.inner.key.public_base64()
    }

    /// The sentinel base URL (list) as configured.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The sentinel calls go to now.
    pub fn current_url(&self) -> &str {
        &self.inner.endpoints
            [self.inner.current.load(Ordering::Relaxed) % self.inner.endpoints.len()]
        .0
    }

    /// Moves on from sentinel `from` to the next one (unless another call already did).
    fn fail_over(&self, from: usize) {
        let n = self.inner.endpoints.len();
        if n > 1
            && self
                .inner
                .current
                .compare_exchange(from, (from + 1) % n, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::info!(to = %self.inner.endpoints[(from + 1) % n].0, "switching sentinel");
        }
    }

    /// `POST` `body` to `path`, signed, with retries on transient errors.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        body: &Req,
    ) -> Result<Resp, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Encode(e.to_string()))?;
        self.call_raw(path, bytes).await
    }

    /// `POST` with an empty body (calls that carry nothing: token, unlink).
    pub async fn call_empty<Resp: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Resp, ClientError> {
        self.call_raw(path, Vec::new()).await
    }

    async fn call_raw<Resp: DeserializeOwned>(
        &self,
        path: &str,
        bytes: Vec<u8>,
    ) -> Result<Resp, ClientError> {
        let mut backoff = Backoff::new(self.inner.retry.base, self.inner.retry.max);
        let mut attempt = 1;
        loop {
            let at = self.inner.current.load(Ordering::Relaxed) % self.inner.endpoints.len();
            match self.attempt(at, path, &bytes).await {
                Ok(resp) => {
                    // An empty success body (204) reads as `null`.
                    let raw: &[u8] = if resp.is_empty() { b"null" } else { &resp };
                    return serde_json::from_slice(raw).map_err(|e| ClientError::Decode {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    });
                }
                Err(e) if e.is_transient() && attempt < self.inner.retry.attempts => {
                    self.fail_over(at);
                    let delay = backoff.next_delay();
                    metrics::counter!("wowlab_node_sentinel_retries_total").increment(1);
                    tracing::debug!(path, attempt, ?delay, error = %e, "retrying sentinel call");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => {
                    if e.is_transient() {
                        self.fail_over(at);
                    }
                    return Err(e);
                }
            }
        }
    }

    async fn attempt(&self, at: usize, path: &str, body: &[u8]) -> Result<Vec<u8>, ClientError> {
        let (base, host) = &self.inner.endpoints[at];
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let signed = self
            .inner
            .key
            .sign(now_ms, "POST", host, path, body)
            .map_err(|e| ClientError::Sign(e.to_string()))?;
        let mut req = self
            .inner
            .http
            .post(format!("{base}{path}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec());
        for (name, value) in signed.pairs() {
            req = req.header(name, value);
        }
        let resp = req.send().await.map_err(|e| ClientError::Transport {
            path: path.to_owned(),
            reason: error::describe(&e),
        })?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| ClientError::Transport {
            path: path.to_owned(),
            reason: error::describe(&e),
        })?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let body = parse_error_body(&bytes);
        Err(ClientError::Api {
            path: path.to_owned(),
            status: status.as_u16(),
            code: body.code,
            message: body.message,
        })
    }

    /// [`PATH_REGISTER`].
    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse, ClientError> {
        self.call(PATH_REGISTER, req).await
    }

    /// [`PATH_TOKEN`].
    pub async fn token(&self) -> Result<TokenResponse, ClientError> {
        // Empty body: the sentinel reads it as "no fields" whatever its body type.
        self.call_empty(PATH_TOKEN).await
    }

    /// [`PATH_TUNNEL_CREDENTIALS`].
    pub async fn tunnel_credentials(&self) -> Result<TunnelCredentialsResponse, ClientError> {
        self.call_empty(PATH_TUNNEL_CREDENTIALS).await
    }

    /// [`PATH_HEARTBEAT`].
    pub async fn heartbeat(
        &self,
        req: &HeartbeatRequest,
    ) -> Result<HeartbeatResponse, ClientError> {
        self.call(PATH_HEARTBEAT, req).await
    }

    /// [`PATH_LEASES`]: new leases for `free_slots` plus a resync of the held ones.
    pub async fn leases(&self, free_slots: u32) -> Result<LeasesResponse, ClientError> {
        self.call(PATH_LEASES, &LeasesRequest { free_slots }).await
    }

    /// [`PATH_CHUNK_COMPLETE`].
    pub async fn complete(&self, req: &CompleteRequest) -> Result<CompleteResponse, ClientError> {
        self.call(PATH_CHUNK_COMPLETE, req).await
    }

    /// [`PATH_CHUNK_FAIL`].
    pub async fn fail(&self, req: &FailRequest) -> Result<FailResponse, ClientError> {
        self.call(PATH_CHUNK_FAIL, req).await
    }

    /// [`PATH_CONFIG`].
    pub async fn config(&self, config_hash: &str) -> Result<ConfigResponse, ClientError> {
        self.call(
            PATH_CONFIG,
            &ConfigRequest {
                config_hash: config_hash.to_owned(),
            },
        )
        .await
    }

    /// [`PATH_UNLINK`].
    pub async fn unlink(&self) -> Result<(), ClientError> {
        let _: serde::de::IgnoredAny = self.call_empty(PATH_UNLINK).await?;
        Ok(())
    }
}

/// Reads an error body in the contract's flat shape or the `{"error": {...}}` envelope.
fn parse_error_body(bytes: &[u8]) -> ApiErrorBody {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: ApiErrorBody,
    }
    if let Ok(b) = serde_json::from_slice::<ApiErrorBody>(bytes) {
        return b;
    }
    if let Ok(e) = serde_json::from_slice::<Envelope>(bytes) {
        return e.error;
    }
    ApiErrorBody {
        code: String::new(),
        message: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
        field: None,
    }
}
