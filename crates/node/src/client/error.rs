//! Errors of sentinel calls, classified for retry decisions.

/// A failed sentinel call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// Bad client set-up (URL, TLS).
    #[error("sentinel client: {0}")]
    Config(String),
    /// No HTTP answer: connect error, timeout, reset.
    #[error("{path}: {reason}")]
    Transport {
        /// Endpoint.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The sentinel answered with an error status.
    #[error("{path}: HTTP {status} {code}: {message}")]
    Api {
        /// Endpoint.
        path: String,
        /// HTTP status.
        status: u16,
        /// Stable error code (`stale_lease`, `not_claimed`, ...), empty if the body had none.
        code: String,
        /// Message.
        message: String,
    },
    /// A success body that does not parse.
    #[error("{path}: unexpected response: {reason}")]
    Decode {
        /// Endpoint.
        path: String,
        /// Parse error.
        reason: String,
    },
    /// The request body could not be serialized.
    #[error("encoding request: {0}")]
    Encode(String),
    /// Signing failed (RNG).
    #[error("signing request: {0}")]
    Sign(String),
}

impl ClientError {
    /// Worth retrying: no answer at all, or a 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Api { status, code, .. } => *status >= 500 || code == "signed_before_start",
            _ => false,
        }
    }

    /// The HTTP status, when the sentinel answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the error carries this stable code.
    pub fn has_code(&self, wanted: &str) -> bool {
        matches!(self, Self::Api { code, .. } if code == wanted)
    }

    /// 409: the lease is no longer ours; drop the work.
    pub fn is_stale_lease(&self) -> bool {
        self.status() == Some(409) || self.has_code("stale_lease")
    }

    /// The node is registered but has no owner yet.
    pub fn is_not_claimed(&self) -> bool {
        self.has_code("not_claimed")
    }

    /// The sentinel does not know this key (deleted or unlinked from the studio).
    pub fn is_unknown_node(&self) -> bool {
        self.has_code("unknown_node") || (self.status() == Some(404) && self.has_code("not_found"))
    }
}

/// A short description of a reqwest error with its source chain (no URL query secrets exist).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
