//! Minimal NATS client over WebSocket (text protocol: INFO, CONNECT, SUB, PUB, MSG, PING/PONG).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::beacon_ws::{ws_config, Ws};

/// One parsed server message.
pub enum ServerMsg<'a> {
    /// A delivered message payload (a slice of the parser's buffer).
    Msg(&'a [u8]),
    /// Server ping (answer with PONG).
    Ping,
    /// PONG, +OK, INFO: nothing to do.
    Other,
}

/// Incremental parser of the NATS server→client byte stream.
#[derive(Default)]
pub struct Parser {
    buf: Vec<u8>,
    pos: usize,
}

impl Parser {
    /// Append received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// True when a line starting at the current position begins with `prefix`.
    fn at(&self, prefix: &[u8]) -> bool {
        self.buf[self.pos..].starts_with(prefix)
    }

    /// Next complete message, or None when more bytes are needed.
    pub fn next(&mut self) -> Result<Option<ServerMsg<'_>>> {
        let rest = &self.buf[self.pos..];
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            return Ok(None);
        };
        let line = rest[..nl].strip_suffix(b"\r").context("line without CR")?;
        if line.starts_with(b"MSG ") {
            let size = line
                .rsplit(|b| *b == b' ')
                .next()
                .context("MSG without size")?;
            let len: usize = std::str::from_utf8(size)
                .ok()
                .and_then(|t| t.parse().ok())
                .context("MSG size")?;
            let start = self.pos + nl + 1;
            if self.buf.len() < start + len + 2 {
                return Ok(None);
            }
            self.pos = start + len + 2;
            return Ok(Some(ServerMsg::Msg(&self.buf[start..start + len])));
        }
        let msg = if line == b"PING" {
            ServerMsg::Ping
        } else if line.starts_with(b"-ERR") {
            bail!("nats error: {}", String::from_utf8_lossy(line));
        } else {
            ServerMsg::Other
        };
        self.pos += nl + 1;
        Ok(Some(msg))
    }
}

/// Frame of raw protocol bytes.
pub fn frame(bytes: Vec<u8>) -> Message {
    Message::Binary(Bytes::from(bytes))
}

/// Connect, send CONNECT (+ SUB when given) + PING and wait for the PONG that confirms both.
pub async fn open(url: &str, subject: Option<&str>) -> Result<(Ws, Parser)> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true)
        .await
        .with_context(|| format!("WebSocket handshake with {url}"))?;
    let mut out =
        b"CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"name\":\"bench\"}\r\n"
            .to_vec();
    if let Some(s) = subject {
        out.extend_from_slice(format!("SUB {s} 1\r\n").as_bytes());
    }
    out.extend_from_slice(b"PING\r\n");
    ws.send(frame(out)).await?;
    let mut parser = Parser::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .context("timed out waiting for PONG")?;
        match msg {
            Some(Ok(Message::Binary(b))) => parser.push(&b),
            Some(Ok(Message::Text(t))) => parser.push(t.as_bytes()),
            Some(Ok(Message::Close(f))) => bail!("nats closed the connection: {f:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("nats connection ended"),
        }
        // The first PONG answers our PING (INFO comes before it).
        while parser.pos < parser.buf.len() {
            let pong = parser.at(b"PONG");
            match parser.next()? {
                Some(ServerMsg::Other) if pong => return Ok((ws, parser)),
                Some(ServerMsg::Ping) => ws.send(frame(b"PONG\r\n".to_vec())).await?,
                Some(_) => {}
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_splits_messages_across_pushes() {
        let mut p = Parser::default();
        p.push(b"INFO {}\r\nMSG bench.hot 1 5\r\nhel");
        assert!(matches!(p.next().unwrap(), Some(ServerMsg::Other)));
        assert!(p.next().unwrap().is_none());
        p.push(b"lo\r\nPING\r\nMSG a 1 r 2\r\nok\r\n");
        assert!(matches!(p.next().unwrap(), Some(ServerMsg::Msg(b"hello"))));
        assert!(matches!(p.next().unwrap(), Some(ServerMsg::Ping)));
        assert!(matches!(p.next().unwrap(), Some(ServerMsg::Msg(b"ok"))));
        assert!(p.next().unwrap().is_none());
        p.push(b"-ERR 'x'\r\n");
        assert!(p.next().is_err());
    }
}
