//! Server HTTP API: `POST /api/<method>` with Centrifugo's request/response shapes
//! (`centrifugal/centrifugo`: `internal/apiproto/api.proto`), API-key auth, both error modes,
//! and `batch`.

mod key;
pub(crate) mod ops;

pub(crate) use key::ApiKey;
pub(crate) use ops::publish_to;
pub use ops::{PublishParams, SubscribeParams};

use crate::engine::{ClientInfo, Publication, StreamPosition};
use crate::node::Node;
use axum::body::Bytes as AxumBytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wowlab_protocol::codes::error;

/// An API error: a Centrifugo error code with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// Error code (100 internal, 102 unknown channel, 104 not found, 107 bad request, ...).
    pub code: u32,
    /// Message.
    pub message: String,
}

impl ApiError {
    /// The error with the standard message for `code`.
    pub fn new(code: u32) -> Self {
        ApiError {
            code,
            message: error::message(code).to_string(),
        }
    }

    fn json(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }

    fn http_status(&self) -> StatusCode {
        match self.code {
            102 | 104 => StatusCode::NOT_FOUND,
            107 | 108 => StatusCode::BAD_REQUEST,
            112 => StatusCode::RANGE_NOT_SATISFIABLE,
            113 => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Checks `X-API-Key`, `Authorization: apikey <key>` or, when `http_api.allow_key_in_query`
/// is on, `?api_key=` (Centrifugo's order); keys are compared in constant time.
fn authorized(node: &Node, headers: &HeaderMap, q: &HashMap<String, String>) -> bool {
    let cfg = &node.config.http_api;
    if cfg.insecure {
        return true;
    }
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return node.api_key.matches(k);
    }
    if let Some(a) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let parts: Vec<&str> = a.split_whitespace().collect();
        return parts.len() == 2
            && parts[0].eq_ignore_ascii_case("apikey")
            && node.api_key.matches(parts[1]);
    }
    match q.get("api_key") {
        Some(k) if cfg.allow_key_in_query => node.api_key.matches(k),
        Some(_) => {
            tracing::debug!(
                "API key in the query string refused (http_api.allow_key_in_query is off)"
            );
            false
        }
        None => false,
    }
}

/// `POST /api/{method}`.
pub(crate) async fn handler(
    State(node): State<Arc<Node>>,
    Path(method): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: AxumBytes,
) -> Response {
    if !authorized(&node, &headers, &q) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let transport_mode = node.config.http_api.error_mode == "transport"
        || headers
            .get("x-centrifugo-error-mode")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("transport"));
    // Kept raw so `data` reaches subscribers byte for byte, as Centrifugo passes it on.
    let params: Box<RawValue> = if body.iter().all(|b| b.is_ascii_whitespace()) {
        RawValue::from_string("{}".into()).expect("valid JSON")
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return (StatusCode::BAD_REQUEST, format!("malformed JSON body: {e}"))
                    .into_response()
            }
        }
    };
    metrics::counter!("beacon_api_requests", "method" => method.clone()).increment(1);
    match call(&node, &method, &params).await {
        Ok(result) => axum::Json(json!({"result": result})).into_response(),
        Err(e) if transport_mode => (e.http_status(), axum::Json(e.json())).into_response(),
        Err(e) => axum::Json(json!({"error": e.json()})).into_response(),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(v: &RawValue) -> Result<T, ApiError> {
    serde_json::from_str(v.get()).map_err(|e| ApiError {
        code: error::BAD_REQUEST,
        message: format!("bad request: {e}"),
    })
}

/// Runs one API method with JSON params; boxed so `batch` can recurse.
fn call<'a>(
    node: &'a Node,
    method: &'a str,
    params: &'a RawValue,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, ApiError>> + Send + 'a>> {
    Box::pin(async move {
        match method {
            "publish" => {
                let r: PublishRequest = parse(params)?;
                let data = r.payload()?;
                let pos = ops::publish(node, &r.channel, data, r.params()).await?;
                Ok(position_json(&pos))
            }
            "broadcast" => {
                let r: BroadcastRequest = parse(params)?;
                let p = PublishRequest {
                    channel: String::new(),
                    data: r.data,
                    b64data: r.b64data,
                    skip_history: r.skip_history,
                    tags: r.tags,
                    delta: r.delta,
                };
                let data = p.payload()?;
                if r.channels.is_empty() {
                    return Err(ApiError::new(error::BAD_REQUEST));
                }
                let mut responses = Vec::with_capacity(r.channels.len());
                for ch in &r.channels {
                    responses.push(
                        match ops::publish(node, ch, data.clone(), p.params()).await {
                            Ok(pos) => json!({"result": position_json(&pos)}),
                            Err(e) => json!({"error": e.json()}),
                        },
                    );
                }
                Ok(json!({"responses": responses}))
            }
            "subscribe" => {
                let r: SubscribeRequest = parse(params)?;
                let info = raw_or_b64(&r.info, &r.b64info)?;
                let data = raw_or_b64(&r.data, &r.b64data)?;
                ops::subscribe(
                    node,
                    &r.channel,
                    &r.user,
                    &r.client,
                    &r.session,
                    SubscribeParams {
                        info,
                        data,
                        expire_at: (r.expire_at > 0).then_some(r.expire_at),
                        recover_since: r.recover_since.map(|p| StreamPosition {
                            offset: p.offset,
                            epoch: p.epoch,
                        }),
                    },
                )?;
                Ok(json!({}))
            }
            "unsubscribe" => {
                let r: SelectorRequest = parse(params)?;
                ops::unsubscribe(node, &r.channel, &r.user, &r.client, &r.session)?;
                Ok(json!({}))
            }
            "disconnect" => {
                let r: DisconnectRequest = parse(params)?;
                let code = r.disconnect.map(|d| {
                    let reason = if d.reason.is_empty() {
                        wowlab_protocol::codes::disconnect::reason(d.code).to_string()
                    } else {
                        d.reason
                    };
                    (d.code, reason)
                });
                ops::disconnect_clients(node, &r.user, &r.client, &r.session, &r.whitelist, code)?;
                Ok(json!({}))
            }
            "refresh" => {
                let r: RefreshRequest = parse(params)?;
                let info = raw_or_b64(&r.info, &None)?;
                ops::refresh(
                    node,
                    &r.user,
                    &r.client,
                    &r.session,
                    r.expired,
                    (r.expire_at > 0).then_some(r.expire_at),
                    info,
                )?;
                Ok(json!({}))
            }
            "presence" => {
                let r: ChannelRequest = parse(params)?;
                let p = ops::presence(node, &r.channel).await?;
                let map: Map<String, Value> =
                    p.iter().map(|(k, v)| (k.clone(), info_json(v))).collect();
                Ok(json!({"presence": map}))
            }
            "presence_stats" => {
                let r: ChannelRequest = parse(params)?;
                let s = ops::presence_stats(node, &r.channel).await?;
                Ok(json!({"num_clients": s.num_clients, "num_users": s.num_users}))
            }
            "history" => {
                let r: HistoryRequest = parse(params)?;
                let h = ops::history(
                    node,
                    &r.channel,
                    r.limit,
                    r.since.map(|p| StreamPosition {
                        offset: p.offset,
                        epoch: p.epoch,
                    }),
                    r.reverse,
                )
                .await?;
                let pubs: Vec<Value> = h.publications.iter().map(publication_json).collect();
                let mut out = position_json(&h.position);
                out["publications"] = Value::Array(pubs);
                Ok(out)
            }
            "history_remove" => {
                let r: ChannelRequest = parse(params)?;
                ops::history_remove(node, &r.channel).await?;
                Ok(json!({}))
            }
            "channels" => {
                let r: ChannelsRequest = parse(params)?;
                let map: Map<String, Value> = ops::channels(node, &r.pattern)
                    .into_iter()
                    .map(|(c, n)| (c, json!({"num_clients": n})))
                    .collect();
                Ok(json!({"channels": map}))
            }
            "info" => Ok(json!({"nodes": [{
                "uid": node.id,
                "name": "beacon",
                "version": crate::node::VERSION,
                "num_clients": node.num_clients(),
                "num_users": node.num_users(),
                "num_channels": node.hub.channels().len(),
                "num_subs": node.hub.num_subscriptions(),
                "uptime": node.started.elapsed().as_secs(),
            }]})),
            "batch" => {
                let r: BatchRequest = parse(params)?;
                let mut replies = Vec::with_capacity(r.commands.len());
                for cmd in r.commands {
                    let Ok(obj) =
                        serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(cmd.get())
                    else {
                        replies.push(json!({"error": ApiError::new(error::BAD_REQUEST).json()}));
                        continue;
                    };
                    let Some((m, p)) = obj.into_iter().next() else {
                        replies.push(json!({"error": ApiError::new(error::BAD_REQUEST).json()}));
                        continue;
                    };
                    if m == "batch" {
                        replies.push(json!({"error": ApiError::new(error::BAD_REQUEST).json()}));
                        continue;
                    }
                    replies.push(match call(node, &m, &p).await {
                        Ok(v) => json!({ m: v }),
                        Err(e) => json!({"error": e.json()}),
                    });
                }
                Ok(json!({"replies": replies}))
            }
            _ => Err(ApiError::new(error::METHOD_NOT_FOUND)),
        }
    })
}

fn position_json(p: &StreamPosition) -> Value {
    let mut m = Map::new();
    if p.offset > 0 {
        m.insert("offset".into(), json!(p.offset));
    }
    if !p.epoch.is_empty() {
        m.insert("epoch".into(), json!(p.epoch));
    }
    Value::Object(m)
}

/// Embeds bytes as raw JSON when they are JSON, else as base64 under `b64<key>`.
fn put_bytes(m: &mut Map<String, Value>, key: &str, b: &Bytes) {
    if b.is_empty() {
        return;
    }
    match serde_json::from_slice::<Value>(b) {
        Ok(v) => {
            m.insert(key.into(), v);
        }
        Err(_) => {
            m.insert(
                format!("b64{key}"),
                json!(base64::engine::general_purpose::STANDARD.encode(b)),
            );
        }
    }
}

fn info_json(i: &ClientInfo) -> Value {
    let mut m = Map::new();
    m.insert("client".into(), json!(i.client));
    m.insert("user".into(), json!(i.user));
    if let Some(b) = &i.conn_info {
        put_bytes(&mut m, "conn_info", b);
    }
    if let Some(b) = &i.chan_info {
        put_bytes(&mut m, "chan_info", b);
    }
    Value::Object(m)
}

fn publication_json(p: &Publication) -> Value {
    let mut m = Map::new();
    put_bytes(&mut m, "data", &p.data);
    if let Some(i) = &p.info {
        m.insert("info".into(), info_json(i));
    }
    if p.offset > 0 {
        m.insert("offset".into(), json!(p.offset));
    }
    if !p.tags.is_empty() {
        m.insert("tags".into(), json!(p.tags));
    }
    Value::Object(m)
}

fn raw_or_b64(
    raw: &Option<Box<RawValue>>,
    b64: &Option<String>,
) -> Result<Option<Bytes>, ApiError> {
    if let Some(b) = b64.as_ref().filter(|s| !s.is_empty()) {
        return base64::engine::general_purpose::STANDARD
            .decode(b)
            .map(|v| Some(Bytes::from(v)))
            .map_err(|_| ApiError::new(error::BAD_REQUEST));
    }
    Ok(raw
        .as_ref()
        .filter(|r| r.get() != "null")
        .map(|r| Bytes::from(r.get().to_string())))
}

#[derive(Deserialize)]
struct PublishRequest {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    b64data: Option<String>,
    #[serde(default)]
    skip_history: bool,
    #[serde(default)]
    tags: HashMap<String, String>,
    #[serde(default)]
    delta: bool,
}

impl PublishRequest {
    fn payload(&self) -> Result<Bytes, ApiError> {
        raw_or_b64(&self.data, &self.b64data)?.ok_or_else(|| ApiError::new(error::BAD_REQUEST))
    }
    fn params(&self) -> PublishParams {
        PublishParams {
            skip_history: self.skip_history,
            tags: self.tags.clone(),
            delta: self.delta,
        }
    }
}

#[derive(Deserialize)]
struct BroadcastRequest {
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    b64data: Option<String>,
    #[serde(default)]
    skip_history: bool,
    #[serde(default)]
    tags: HashMap<String, String>,
    #[serde(default)]
    delta: bool,
}

#[derive(Deserialize, Serialize, Default)]
struct Position {
    #[serde(default)]
    offset: u64,
    #[serde(default)]
    epoch: String,
}

#[derive(Deserialize)]
struct SubscribeRequest {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    client: String,
    #[serde(default)]
    session: String,
    #[serde(default)]
    expire_at: i64,
    #[serde(default)]
    info: Option<Box<RawValue>>,
    #[serde(default)]
    b64info: Option<String>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    b64data: Option<String>,
    #[serde(default)]
    recover_since: Option<Position>,
}

#[derive(Deserialize)]
struct SelectorRequest {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    client: String,
    #[serde(default)]
    session: String,
}

#[derive(Deserialize)]
struct DisconnectBody {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct DisconnectRequest {
    #[serde(default)]
    user: String,
    #[serde(default)]
    client: String,
    #[serde(default)]
    session: String,
    #[serde(default)]
    whitelist: Vec<String>,
    #[serde(default)]
    disconnect: Option<DisconnectBody>,
}

#[derive(Deserialize)]
struct RefreshRequest {
    #[serde(default)]
    user: String,
    #[serde(default)]
    client: String,
    #[serde(default)]
    session: String,
    #[serde(default)]
    expired: bool,
    #[serde(default)]
    expire_at: i64,
    #[serde(default)]
    info: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct ChannelRequest {
    #[serde(default)]
    channel: String,
}

#[derive(Deserialize)]
struct HistoryRequest {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    limit: i64,
    #[serde(default)]
    since: Option<Position>,
    #[serde(default)]
    reverse: bool,
}

#[derive(Deserialize)]
struct ChannelsRequest {
    #[serde(default)]
    pattern: String,
}

#[derive(Deserialize)]
struct BatchRequest {
    #[serde(default)]
    commands: Vec<Box<RawValue>>,
}
