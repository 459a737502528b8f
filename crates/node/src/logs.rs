//! The node's log tail: the most recent log lines of the process and a live feed of new ones,
//! served as `GET /logs[?lines=N][&follow=1]` (plain text, one line each) through the tunnel.
//! The binary's log writer feeds it ([`LogTail::writer`]).

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tokio::sync::broadcast;

/// Lines kept for `/logs` without `follow`.
pub const TAIL_LINES: usize = 1000;
/// Lines sent by default before following.
pub const DEFAULT_LINES: usize = 200;
/// New lines a slow follower may fall behind before it skips some.
const FEED_CAPACITY: usize = 1024;
/// Longest line kept (longer ones are cut).
const MAX_LINE_BYTES: usize = 4096;

/// Recent log lines plus a live feed; cheap to clone.
#[derive(Clone)]
pub struct LogTail {
    inner: Arc<Inner>,
}

struct Inner {
    lines: Mutex<VecDeque<String>>,
    cap: usize,
    feed: broadcast::Sender<String>,
}

impl LogTail {
    /// A tail keeping `cap` lines.
    pub fn new(cap: usize) -> Self {
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                lines: Mutex::new(VecDeque::with_capacity(cap.min(TAIL_LINES))),
                cap: cap.max(1),
                feed,
            }),
        }
    }

    /// The process-wide tail the binary's log writer feeds.
    pub fn global() -> &'static LogTail {
        static GLOBAL: OnceLock<LogTail> = OnceLock::new();
        GLOBAL.get_or_init(|| LogTail::new(TAIL_LINES))
    }

    /// Appends one line (ANSI colour codes removed, cut to 4 KiB).
    pub fn push(&self, line: &str) {
        let mut line = strip_ansi(line.trim_end_matches(['\n', '\r']));
        if line.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
        }
        {
            let mut lines = self.inner.lines.lock().unwrap_or_else(|p| p.into_inner());
            if lines.len() == self.inner.cap {
                lines.pop_front();
            }
            lines.push_back(line.clone());
        }
        let _ = self.inner.feed.send(line);
    }

    /// The last `n` lines, oldest first.
    pub fn recent(&self, n: usize) -> Vec<String> {
        let lines = self.inner.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines
            .iter()
            .skip(lines.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// New lines from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.inner.feed.subscribe()
    }

    /// An `io::Write` that splits what it gets into lines for this tail and copies it to
    /// stderr (the log subscriber makes one per event).
    pub fn writer(&self) -> TailWriter {
        TailWriter {
            tail: self.clone(),
            pending: Vec::new(),
        }
    }
}

/// See [`LogTail::writer`].
pub struct TailWriter {
    tail: LogTail,
    pending: Vec<u8>,
}

impl io::Write for TailWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::stderr().write_all(buf)?;
        self.pending.extend_from_slice(buf);
        while let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            self.tail.push(&String::from_utf8_lossy(&line));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl Drop for TailWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.tail.push(&String::from_utf8_lossy(&rest));
        }
    }
}

/// Removes ANSI escape sequences (`ESC [ … letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Deserialize)]
struct LogsQuery {
    lines: Option<usize>,
    follow: Option<String>,
}

/// The router serving `GET /logs`.
pub fn router(tail: LogTail) -> Router {
    Router::new().route("/logs", get(logs)).with_state(tail)
}

async fn logs(State(tail): State<LogTail>, Query(q): Query<LogsQuery>) -> Response {
    let n = q.lines.unwrap_or(DEFAULT_LINES).min(TAIL_LINES);
    let follow = matches!(q.follow.as_deref(), Some("1" | "true"));
    // Subscribe before reading the backlog so no line falls between the two.
    let feed = follow.then(|| tail.subscribe());
    let backlog: String = tail.recent(n).into_iter().map(|l| l + "\n").collect();
    let content_type = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    let Some(feed) = feed else {
        return (content_type, backlog).into_response();
    };
    let first =
        futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(backlog) });
    let live = futures_util::stream::unfold(feed, |mut feed| async move {
        let text = match feed.recv().await {
            Ok(line) => line + "\n",
            Err(broadcast::error::RecvError::Lagged(n)) => format!("… {n} log lines skipped\n"),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(text), feed))
    });
    let stream = futures_util::StreamExt::chain(first, live);
    (
        content_type,
        [(header::CACHE_CONTROL, "no-store")],
        Body::from_stream(stream),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_without_colours() {
        let t = LogTail::new(3);
        for i in 0..5 {
            t.push(&format!("\u{1b}[32mINFO\u{1b}[0m line {i}\n"));
        }
        assert_eq!(t.recent(10), ["INFO line 2", "INFO line 3", "INFO line 4"]);
        assert_eq!(t.recent(1), ["INFO line 4"]);
    }

    #[test]
    fn writer_splits_lines_and_keeps_a_partial_one() {
        use std::io::Write;
        let t = LogTail::new(10);
        let mut w = t.writer();
        w.write_all(b"a\nb").unwrap();
        w.write_all(b"c\n").unwrap();
        w.write_all(b"tail").unwrap();
        drop(w);
        assert_eq!(t.recent(10), ["a", "bc", "tail"]);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let t = LogTail::new(2);
        t.push(&"é".repeat(5000));
        assert!(t.recent(1)[0].len() <= MAX_LINE_BYTES);
    }
}
