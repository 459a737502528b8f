//! Body streaming with credit-based flow control. The receiver of a body grants credit as
//! its reader consumes bytes (cumulative count, sent every quarter window); the sender keeps
//! at most one window of bytes unconsumed. So a slow reader bounds what is buffered anywhere
//! between the two (transport buffers included) to one window.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, watch};

use crate::error::{ErrorCode, TunnelError};
use crate::transport::Transport;
use crate::wire::{self, Kind};

/// Byte counters of one endpoint (client or responder), summed over its open requests.
#[derive(Debug, Default)]
pub struct FlowStats {
    buffered: AtomicU64,
    peak_buffered: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
}

impl FlowStats {
    /// Body bytes received and not yet read by the local reader.
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered.load(Ordering::Relaxed)
    }

    /// Highest [`Self::buffered_bytes`] seen.
    pub fn peak_buffered_bytes(&self) -> u64 {
        self.peak_buffered.load(Ordering::Relaxed)
    }

    /// Body bytes sent and not yet credited by the peer's reader.
    pub fn in_flight_bytes(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Highest [`Self::in_flight_bytes`] seen.
    pub fn peak_in_flight_bytes(&self) -> u64 {
        self.peak_in_flight.load(Ordering::Relaxed)
    }

    fn add(cur: &AtomicU64, peak: &AtomicU64, n: u64) {
        let v = cur.fetch_add(n, Ordering::Relaxed) + n;
        peak.fetch_max(v, Ordering::Relaxed);
    }
}

/// The receiving half of a body: sequence and window checks, buffered-byte accounting and
/// credit decisions. The driver owning the subscription feeds it frames.
pub(crate) struct Inbound {
    window: u64,
    next_seq: u64,
    received: u64,
    consumed: u64,
    credited: u64,
    tx: Option<mpsc::UnboundedSender<Result<Bytes, TunnelError>>>,
    stats: Arc<FlowStats>,
}

/// The body stream a reader pulls; reports each chunk it hands out as consumed.
pub(crate) struct InboundBody {
    rx: mpsc::UnboundedReceiver<Result<Bytes, TunnelError>>,
    consumed: mpsc::UnboundedSender<u64>,
}

impl Stream for InboundBody {
    type Item = Result<Bytes, TunnelError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(b))) = &item {
            let _ = self.consumed.send(b.len() as u64);
        }
        item
    }
}

impl Inbound {
    /// A receiver with `window` bytes; returns the body stream and the channel of consumed
    /// byte counts (closed once the reader dropped the body).
    pub(crate) fn new(
        window: u64,
        stats: Arc<FlowStats>,
    ) -> (Self, InboundBody, mpsc::UnboundedReceiver<u64>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ctx, crx) = mpsc::unbounded_channel();
        (
            Self {
                window,
                next_seq: 0,
                received: 0,
                consumed: 0,
                credited: 0,
                tx: Some(tx),
                stats,
            },
            InboundBody { rx, consumed: ctx },
            crx,
        )
    }

    /// A data frame arrived.
    pub(crate) fn on_data(&mut self, frame: &wire::Frame) -> Result<(), TunnelError> {
        if self.tx.is_none() {
            return Err(TunnelError::new(ErrorCode::Protocol, "data after end"));
        }
        let seq = frame.number(wire::H_SEQ)?;
        if seq != self.next_seq {
            return Err(TunnelError::new(
                ErrorCode::OutOfOrder,
                format!("expected body frame {}, got {seq}", self.next_seq),
            ));
        }
        self.next_seq += 1;
        let n = frame.payload.len() as u64;
        if self.buffered() + n > self.window {
            return Err(TunnelError::new(
                ErrorCode::WindowExceeded,
                format!(
                    "{} bytes unread plus {n} exceed the {} byte window",
                    self.buffered(),
                    self.window
                ),
            ));
        }
        self.received += n;
        FlowStats::add(&self.stats.buffered, &self.stats.peak_buffered, n);
        if let Some(tx) = &self.tx {
            let _ = tx.send(Ok(frame.payload.clone()));
        }
        Ok(())
    }

    /// An end frame arrived: checks the count and closes the body.
    pub(crate) fn on_end(&mut self, frame: &wire::Frame) -> Result<(), TunnelError> {
        let count = frame.number(wire::H_SEQ)?;
        if count != self.next_seq {
            return Err(TunnelError::new(
                ErrorCode::OutOfOrder,
                format!("end after {count} frames, {} received", self.next_seq),
            ));
        }
        self.tx = None;
        Ok(())
    }

    /// Ends the body with `err` (the reader sees it on its next read).
    pub(crate) fn fail(&mut self, err: TunnelError) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Err(err));
        }
    }

    /// Whether the body has ended (or failed).
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_none()
    }

    /// The reader consumed `n` bytes; returns the cumulative credit to send, if it is time.
    pub(crate) fn on_consumed(&mut self, n: u64) -> Option<u64> {
        let n = n.min(self.received - self.consumed);
        self.consumed += n;
        self.stats.buffered.fetch_sub(n, Ordering::Relaxed);
        (!self.is_closed() && self.consumed - self.credited >= self.window / 4).then(|| {
            self.credited = self.consumed;
            self.consumed
        })
    }

    /// Bytes received and not yet read.
    pub(crate) fn buffered(&self) -> u64 {
        self.received - self.consumed
    }
}

impl Drop for Inbound {
    fn drop(&mut self) {
        self.stats
            .buffered
            .fetch_sub(self.received - self.consumed, Ordering::Relaxed);
    }
}

/// The sending half of a body.
pub(crate) struct Outbound {
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) subject: String,
    pub(crate) id: String,
    /// Responder id to put on every frame (pinning).
    pub(crate) responder: Option<String>,
    pub(crate) frame_bytes: usize,
    /// The peer's receive window.
    pub(crate) window: u64,
    /// Cumulative bytes the peer's reader consumed.
    pub(crate) credit: watch::Receiver<u64>,
    pub(crate) stats: Arc<FlowStats>,
    /// Longest wait for credit before giving up (`None`: wait as long as the exchange lives).
    pub(crate) idle: Option<Duration>,
    /// Code for a failing body (request or response body).
    pub(crate) body_error: ErrorCode,
}

/// Keeps the endpoint's in-flight counter equal to this pump's unacknowledged bytes.
struct InFlight {
    stats: Arc<FlowStats>,
    n: u64,
}

impl InFlight {
    fn set(&mut self, n: u64) {
        if n > self.n {
            FlowStats::add(
                &self.stats.in_flight,
                &self.stats.peak_in_flight,
                n - self.n,
            );
        } else {
            self.stats
                .in_flight
                .fetch_sub(self.n - n, Ordering::Relaxed);
        }
        self.n = n;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(self.n, Ordering::Relaxed);
    }
}

impl Outbound {
    fn headers(&self, kind: Kind) -> crate::transport::Headers {
        let mut h = wire::headers(kind, &self.id);
        if let Some(r) = &self.responder {
            h.insert(wire::H_RESPONDER.into(), r.clone());
        }
        h
    }

    /// Sends `body` as data frames and an end frame, never more than the peer's window
    /// ahead of its reader. A failing body is reported to the peer as an error frame.
    pub(crate) async fn pump<B>(mut self, body: B) -> Result<(), TunnelError>
    where
        B: http_body::Body<Data = Bytes> + Send,
        B::Error: std::fmt::Display,
    {
        let frame_len = self.frame_bytes.clamp(1, (self.window / 4).max(1) as usize);
        let mut in_flight = InFlight {
            stats: self.stats.clone(),
            n: 0,
        };
        let (mut sent, mut seq) = (0u64, 0u64);
        let mut body = std::pin::pin!(body);
        while let Some(next) = body.frame().await {
            let data = match next {
                Ok(frame) => match frame.into_data() {
                    Ok(d) => d,
                    Err(_) => continue, // trailers are not carried
                },
                Err(e) => {
                    let err = TunnelError::new(self.body_error, e.to_string());
                    let mut h = wire::error_headers(Kind::Error, &self.id, &err);
                    if let Some(r) = &self.responder {
                        h.insert(wire::H_RESPONDER.into(), r.clone());
                    }
                    let _ = self.transport.publish(&self.subject, h, Bytes::new()).await;
                    return Err(err);
                }
            };
            let mut rest = data;
            while !rest.is_empty() {
                let piece = rest.split_to(rest.len().min(frame_len));
                let n = piece.len() as u64;
                loop {
                    let credited = *self.credit.borrow_and_update();
                    in_flight.set(sent.saturating_sub(credited));
                    if sent + n <= credited + self.window {
                        break;
                    }
                    let changed = self.credit.changed();
                    let res = match self.idle {
                        Some(d) => tokio::time::timeout(d, changed).await.map_err(|_| {
                            TunnelError::new(
                                ErrorCode::IdleTimeout,
                                format!("no credit from the peer for {d:?}"),
                            )
                        })?,
                        None => changed.await,
                    };
                    if res.is_err() {
                        return Err(TunnelError::new(ErrorCode::Aborted, "exchange ended"));
                    }
                }
                let mut h = self.headers(Kind::Data);
                h.insert(wire::H_SEQ.into(), seq.to_string());
                self.transport.publish(&self.subject, h, piece).await?;
                seq += 1;
                sent += n;
                let credited = *self.credit.borrow();
                in_flight.set(sent.saturating_sub(credited));
            }
        }
        let mut h = self.headers(Kind::End);
        h.insert(wire::H_SEQ.into(), seq.to_string());
        self.transport
            .publish(&self.subject, h, Bytes::new())
            .await?;
        Ok(())
    }
}
