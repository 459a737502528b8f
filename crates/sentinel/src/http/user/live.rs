//! A node's live view through the tunnel (the node has no inbound port): `GET
//! /api/nodes/{id}/live` asks the node for its `/status` right now and answers
//! `{"online": false, …}` when it does not answer within 2 s (never an error page), and `GET
//! /api/nodes/{id}/logs[?lines=N][&follow=1]` streams the node's log tail to the browser.
//! Only the node's owner or an admin may ask, as for the node pages. One-shot answers (the
//! status, an unfollowed tail) are read whole and asked again when frames were lost.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::{BodyExt, Limited};
use serde::{Deserialize, Serialize};
use wowlab_tunnel::{ErrorCode, FetchOptions, TunnelError};

use crate::domain::NodeId;
use crate::http::auth::CurrentUser;
use crate::http::error::ErrorResponse;
use crate::http::{ApiError, Context};
use crate::store::User;

/// How long the probe waits for the node's first frame before calling it offline.
pub(crate) const PROBE_FIRST_FRAME: Duration = Duration::from_secs(2);
/// Overall limit of the probe (all its attempts).
const PROBE_DEADLINE: Duration = Duration::from_secs(5);
/// Largest `/status` body accepted from a node.
const MAX_STATUS_BYTES: usize = 64 * 1024;
/// Silence after which a followed log stream is taken for a dead node.
const LOGS_IDLE: Duration = Duration::from_secs(30);
/// Silence inside a one-shot answer (status, unfollowed tail) after which its frames are
/// taken for lost: the node sends such an answer at once.
const ANSWER_IDLE: Duration = Duration::from_secs(1);
/// Largest unfollowed log tail accepted from a node (1000 lines of up to 1 KiB).
const MAX_TAIL_BYTES: usize = 1 << 20;
/// Further attempts of a one-shot GET whose frames were lost.
const RETRIES: u32 = 2;
/// Overall limit of an unfollowed log tail.
const TAIL_DEADLINE: Duration = Duration::from_secs(30);
/// Most backlog lines a browser may ask for (the node keeps 1000).
const MAX_LINES: u32 = 1000;

/// Answer of the live probe.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Live {
    /// Whether the node answered.
    online: bool,
    /// The node's `/status` body when it did.
    status: Option<serde_json::Value>,
    /// Why it is reported offline (a tunnel error code, or what went wrong).
    reason: Option<String>,
    /// Round trip of the probe in milliseconds.
    latency_ms: u64,
}

impl Live {
    fn offline(reason: impl Into<String>, started: Instant) -> Self {
        Self {
            online: false,
            status: None,
            reason: Some(reason.into()),
            latency_ms: started.elapsed().as_millis() as u64,
        }
    }
}

/// The node `id` if `user` owns it or is an admin (anything else is "not found").
async fn visible_node(state: &Context, user: &User, id: &str) -> Result<NodeId, ApiError> {
    let not_found = ApiError::NotFound("no such node");
    let id: NodeId = id.parse().map_err(|_| not_found)?;
    let node = state
        .store()
        .node_by_id(id)
        .await?
        .ok_or(ApiError::NotFound("no such node"))?;
    if node.owner == Some(user.id) || user.is_admin {
        Ok(id)
    } else {
        Err(ApiError::NotFound("no such node"))
    }
}

#[utoipa::path(
    get,
    path = "/api/nodes/{id}/live",
    tag = "nodes",
    summary = "Ask the node for its status now (through the tunnel)",
    security(("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Node id")),
    responses(
        (status = 200, description = "Online with its status, or offline with the reason", body = Live),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 404, description = "No such node")
    )
)]
pub(super) async fn live(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Live>, ApiError> {
    let id = visible_node(&state, &user, &id).await?;
    let started = Instant::now();
    let Some(client) = state.tunnel() else {
        return Ok(Json(Live::offline("tunnel_not_configured", started)));
    };
    let opts = FetchOptions {
        first_frame_timeout: PROBE_FIRST_FRAME,
        idle_timeout: Some(ANSWER_IDLE),
        timeout: Some(PROBE_DEADLINE),
        ..FetchOptions::default()
    };
    let (status, body) = match get_whole(
        client,
        &id.to_string(),
        "/status",
        opts,
        MAX_STATUS_BYTES,
        "node_status_too_large",
    )
    .await
    {
        Ok(answer) => answer,
        Err(code) => return Ok(Json(Live::offline(code, started))),
    };
    if !status.is_success() {
        return Ok(Json(Live::offline(
            format!("node answered {}", status.as_u16()),
            started,
        )));
    }
    match serde_json::from_slice(&body) {
        Ok(status) => Ok(Json(Live {
            online: true,
            status: Some(status),
            reason: None,
            latency_ms: started.elapsed().as_millis() as u64,
        })),
        Err(_) => Ok(Json(Live::offline("node_status_invalid", started))),
    }
}

/// Query of `GET /api/nodes/{id}/logs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct LogsQuery {
    /// Backlog lines (default 200, at most 1000).
    lines: Option<u32>,
    /// `1` or `true`: keep the response open and stream new lines as they come.
    follow: Option<String>,
}

/// `{"error": {"code", "message"}}` for a node that cannot be reached.
fn unreachable(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(ErrorResponse::new(code, message))).into_response()
}

#[utoipa::path(
    get,
    path = "/api/nodes/{id}/logs",
    tag = "nodes",
    summary = "The node's log tail, streamed while `follow` is set",
    security(("session" = []), ("apiToken" = [])),
    params(("id" = String, Path, description = "Node id"), LogsQuery),
    responses(
        (status = 200, description = "Log lines as plain text, streamed (chunked) while followed", content_type = "text/plain", body = String),
        (status = 401, description = "Sign-in required (or the API token expired)"),
        (status = 404, description = "No such node"),
        (status = 502, description = "The node answered with an error (`node_error`)"),
        (status = 503, description = "This grid has no tunnel (`tunnel_not_configured`)"),
        (status = 504, description = "The node did not answer; it may be offline")
    )
)]
pub(super) async fn logs(
    State(state): State<Context>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, ApiError> {
    let id = visible_node(&state, &user, &id).await?;
    let Some(client) = state.tunnel() else {
        return Ok(unreachable(
            StatusCode::SERVICE_UNAVAILABLE,
            "tunnel_not_configured",
            "this grid has no tunnel to its nodes".into(),
        ));
    };
    let follow = matches!(q.follow.as_deref(), Some("1" | "true"));
    let lines = q.lines.unwrap_or(200).min(MAX_LINES);
    let path = format!(
        "/logs?lines={lines}{}",
        if follow { "&follow=1" } else { "" }
    );
    let host = id.to_string();
    let answer: Result<(StatusCode, Body), String> = if follow {
        let opts = FetchOptions {
            first_frame_timeout: PROBE_FIRST_FRAME,
            // A followed tail may stay quiet for long (the node pings every 10 s meanwhile); a
            // node gone mid-stream ends it after the idle timeout, the browser leaving at once.
            idle_timeout: Some(LOGS_IDLE),
            ..FetchOptions::default()
        };
        let req = Request::get(path).body(Body::empty()).expect("valid path");
        match client.fetch_with(&host, req, opts).await {
            Ok(resp) => Ok((resp.status(), resp.into_body())),
            Err(e) => Err(e.code().as_str().to_owned()),
        }
    } else {
        // A one-shot tail is read whole before answering, so lost frames can be retried.
        let opts = FetchOptions {
            first_frame_timeout: PROBE_FIRST_FRAME,
            idle_timeout: Some(ANSWER_IDLE),
            timeout: Some(TAIL_DEADLINE),
            ..FetchOptions::default()
        };
        get_whole(
            client,
            &host,
            &path,
            opts,
            MAX_TAIL_BYTES,
            "node_logs_too_large",
        )
        .await
        .map(|(status, body)| (status, Body::from(body)))
    };
    Ok(match answer {
        Ok((status, body)) if status.is_success() => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                // Tell proxies not to buffer a followed tail.
                (header::HeaderName::from_static("x-accel-buffering"), "no"),
            ],
            body,
        )
            .into_response(),
        Ok((status, _)) => unreachable(
            StatusCode::BAD_GATEWAY,
            "node_error",
            format!("the node answered {}", status.as_u16()),
        ),
        Err(code) => unreachable(
            StatusCode::GATEWAY_TIMEOUT,
            &code,
            "the node did not answer; it may be offline".into(),
        ),
    })
}

/// GETs `path` from node `host` and reads the whole answer (at most `max` body bytes, else
/// the error `too_large`). Frames lost on the way are retried: core NATS drops what is
/// published to a connection while it reconnects (a server restart; a credential refresh
/// moves make-before-break and loses nothing, unless it falls back to reconnecting in place),
/// so an idempotent one-shot GET is asked again rather than reported as a dead node.
/// `opts.timeout` bounds all attempts together.
async fn get_whole(
    client: &wowlab_tunnel::Client,
    host: &str,
    path: &str,
    opts: FetchOptions,
    max: usize,
    too_large: &str,
) -> Result<(StatusCode, axum::body::Bytes), String> {
    let deadline = opts.timeout.map(|t| Instant::now() + t);
    let mut attempt = 0;
    loop {
        let mut opts = opts.clone();
        if let Some(d) = deadline {
            opts.timeout = Some(d.saturating_duration_since(Instant::now()));
        }
        let req = Request::get(path).body(Body::empty()).expect("valid path");
        let code = match client.fetch_with(host, req, opts).await {
            Ok(resp) => {
                let status = resp.status();
                match Limited::new(resp.into_body(), max).collect().await {
                    Ok(b) => return Ok((status, b.to_bytes())),
                    Err(e) => match TunnelError::from_body_error(&*e) {
                        Some(t) => t.code(),
                        None => return Err(too_large.to_owned()),
                    },
                }
            }
            Err(e) => e.code(),
        };
        let lost = matches!(code, ErrorCode::IdleTimeout | ErrorCode::OutOfOrder);
        let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        if !lost || attempt == RETRIES || out_of_time {
            return Err(code.as_str().to_owned());
        }
        attempt += 1;
        tracing::debug!(
            host,
            path,
            code = code.as_str(),
            attempt,
            "tunnel frames lost, asking again"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use wowlab_tunnel::transport::{Headers, Subscription, TransportError};
    use wowlab_tunnel::{wire, Client, MemoryTransport, Responder, ResponderOptions, Transport};

    use super::*;

    /// In-process transport that drops the first `drops` answer-ending frames, as a NATS
    /// reconnect drops what is published meanwhile.
    struct Lossy {
        inner: MemoryTransport,
        drops: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl Transport for Lossy {
        async fn publish(
            &self,
            subject: &str,
            headers: Headers,
            payload: axum::body::Bytes,
        ) -> Result<(), TransportError> {
            let end = headers.get(wire::H_FRAME).is_some_and(|k| k == "end");
            if end
                && self
                    .drops
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
            {
                return Ok(());
            }
            self.inner.publish(subject, headers, payload).await
        }
        async fn subscribe(&self, subject: &str) -> Result<Subscription, TransportError> {
            self.inner.subscribe(subject).await
        }
        async fn queue_subscribe(
            &self,
            subject: &str,
            queue: &str,
        ) -> Result<Subscription, TransportError> {
            self.inner.queue_subscribe(subject, queue).await
        }
        async fn flush(&self) -> Result<(), TransportError> {
            self.inner.flush().await
        }
    }

    async fn node(drops: usize) -> (Client, Responder, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let t: Arc<dyn Transport> = Arc::new(Lossy {
            inner: MemoryTransport::new(),
            drops: AtomicUsize::new(drops),
        });
        // A bare service: the node's `/status`, counting how often it is asked.
        let status = tower::service_fn(move |_req: Request<wowlab_tunnel::Body>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async {
                Ok::<_, std::convert::Infallible>(axum::response::Response::new(Body::from(
                    "{\"cores\":2}",
                )))
            }
        });
        let r = Responder::serve(t.clone(), "n1", status, ResponderOptions::default())
            .await
            .unwrap();
        (Client::new(t), r, asked)
    }

    fn opts() -> FetchOptions {
        FetchOptions {
            first_frame_timeout: PROBE_FIRST_FRAME,
            idle_timeout: Some(Duration::from_millis(200)),
            timeout: Some(PROBE_DEADLINE),
            ..FetchOptions::default()
        }
    }

    #[tokio::test]
    async fn an_answer_whose_end_was_lost_is_asked_again() {
        let (client, _r, asked) = node(2).await;
        let (status, body) = get_whole(&client, "n1", "/status", opts(), 1024, "too_large")
            .await
            .expect("the third attempt gets through");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"{\"cores\":2}");
        assert_eq!(asked.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_are_bounded_and_report_the_loss() {
        let (client, _r, asked) = node(usize::MAX).await;
        let err = get_whole(&client, "n1", "/status", opts(), 1024, "too_large")
            .await
            .unwrap_err();
        assert_eq!(err, "tunnel_idle_timeout");
        assert_eq!(asked.load(Ordering::SeqCst), 1 + RETRIES as usize);
    }

    #[tokio::test]
    async fn the_timeout_bounds_all_attempts_together() {
        let (client, _r, asked) = node(usize::MAX).await;
        // Two 200 ms silences cannot both fit in 300 ms: the retries stop at the deadline.
        let opts = FetchOptions {
            timeout: Some(Duration::from_millis(300)),
            ..opts()
        };
        let err = get_whole(&client, "n1", "/status", opts, 1024, "too_large")
            .await
            .unwrap_err();
        assert!(
            err == "tunnel_timeout" || err == "tunnel_idle_timeout",
            "{err}"
        );
        assert!(asked.load(Ordering::SeqCst) <= 2);
    }

    #[tokio::test]
    async fn an_oversized_answer_is_refused_without_retrying() {
        let (client, _r, asked) = node(0).await;
        let err = get_whole(&client, "n1", "/status", opts(), 4, "too_large")
            .await
            .unwrap_err();
        assert_eq!(err, "too_large");
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }
}
