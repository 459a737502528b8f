//! Tunnel failures: one [`ErrorCode`] per failure path, each with a stable string code that
//! also travels on the wire (error and abort frames).

use std::fmt;

/// What went wrong; `as_str` is stable and is what peers exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No frame at all from a responder within the first-frame timeout (nobody serves the host).
    NoFirstFrame,
    /// The peer went silent longer than the inter-frame idle timeout.
    IdleTimeout,
    /// The overall deadline passed.
    Timeout,
    /// This side aborted (caller's abort token, or the response body was dropped).
    Aborted,
    /// The other side aborted the exchange.
    PeerAborted,
    /// A body frame arrived out of sequence (lost or reordered frame).
    OutOfOrder,
    /// The peer sent more body bytes than the credit window allows.
    WindowExceeded,
    /// A frame could not be decoded or was not expected.
    Protocol,
    /// The request cannot be carried (bad host, URI or header).
    InvalidRequest,
    /// The responder's service returned an error.
    Handler,
    /// The request body failed while being read or sent.
    RequestBody,
    /// The response body failed while being read or sent.
    ResponseBody,
    /// The responder is shutting down.
    Closed,
    /// The transport (NATS) failed.
    Transport,
}

impl ErrorCode {
    /// Every code, for parsing and docs.
    pub const ALL: [ErrorCode; 14] = [
        Self::NoFirstFrame,
        Self::IdleTimeout,
        Self::Timeout,
        Self::Aborted,
        Self::PeerAborted,
        Self::OutOfOrder,
        Self::WindowExceeded,
        Self::Protocol,
        Self::InvalidRequest,
        Self::Handler,
        Self::RequestBody,
        Self::ResponseBody,
        Self::Closed,
        Self::Transport,
    ];

    /// The stable string form (`tunnel_…`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoFirstFrame => "tunnel_no_first_frame",
            Self::IdleTimeout => "tunnel_idle_timeout",
            Self::Timeout => "tunnel_timeout",
            Self::Aborted => "tunnel_aborted",
            Self::PeerAborted => "tunnel_peer_aborted",
            Self::OutOfOrder => "tunnel_out_of_order",
            Self::WindowExceeded => "tunnel_window_exceeded",
            Self::Protocol => "tunnel_protocol_error",
            Self::InvalidRequest => "tunnel_invalid_request",
            Self::Handler => "tunnel_handler_error",
            Self::RequestBody => "tunnel_request_body_error",
            Self::ResponseBody => "tunnel_response_body_error",
            Self::Closed => "tunnel_closed",
            Self::Transport => "tunnel_transport_error",
        }
    }

    /// Parses a string code; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tunnel failure: a typed code and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct TunnelError {
    code: ErrorCode,
    detail: String,
}

impl TunnelError {
    /// A failure with `code`.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }

    /// The failure's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Finds a tunnel error inside a body error (`axum_core::Error` wraps what a body yields).
    pub fn from_body_error<'a>(
        err: &'a (dyn std::error::Error + 'static),
    ) -> Option<&'a TunnelError> {
        let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = cur {
            if let Some(t) = e.downcast_ref::<TunnelError>() {
                return Some(t);
            }
            cur = e.source();
        }
        None
    }
}

impl From<crate::transport::TransportError> for TunnelError {
    fn from(e: crate::transport::TransportError) -> Self {
        Self::new(ErrorCode::Transport, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            assert!(seen.insert(c.as_str()), "duplicate code {c}");
        }
        assert_eq!(ErrorCode::parse("tunnel_nope"), None);
    }
}
