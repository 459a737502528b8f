//! Subject layout (`tunnel.v1`). A host is one subject token: base64url (no padding) of its
//! UTF-8 bytes, so dots or wildcards in a host cannot change the subject structure.
//!
//! | subject | who publishes | who subscribes |
//! | --- | --- | --- |
//! | `tunnel.v1.<host>.start` | client (start frames) | responders, queue group `tunnel_v1_<host>` |
//! | `tunnel.v1.<host>.<id>.up` | client (request body, credits, abort) | the responder handling `<id>` |
//! | `tunnel.v1.<host>.<id>.down` | responder (ack, head, response body, credits, errors) | the client of `<id>` |
//!
//! A responder for host H therefore needs: subscribe `tunnel.v1.H.start` and
//! `tunnel.v1.H.*.up`, publish `tunnel.v1.H.*.down` — nothing else (see the README on scoped
//! credentials).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{ErrorCode, TunnelError};

/// Protocol prefix; a breaking frame or subject change gets a new one.
pub const PREFIX: &str = "tunnel.v1";
/// Longest accepted host name, in bytes.
pub const MAX_HOST_BYTES: usize = 255;

/// The subject token of `host`.
pub fn host_token(host: &str) -> Result<String, TunnelError> {
    if host.is_empty() || host.len() > MAX_HOST_BYTES {
        return Err(TunnelError::new(
            ErrorCode::InvalidRequest,
            format!("host must be 1..={MAX_HOST_BYTES} bytes"),
        ));
    }
    Ok(URL_SAFE_NO_PAD.encode(host.as_bytes()))
}

/// Whether `id` is a valid request id (`[A-Za-z0-9_-]{1,64}`).
pub fn valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The subjects of one host.
#[derive(Debug, Clone)]
pub struct HostSubjects {
    token: String,
}

impl HostSubjects {
    /// Subjects of `host`.
    pub fn new(host: &str) -> Result<Self, TunnelError> {
        Ok(Self {
            token: host_token(host)?,
        })
    }

    /// Where start frames go.
    pub fn start(&self) -> String {
        format!("{PREFIX}.{}.start", self.token)
    }

    /// The responders' queue group.
    pub fn queue(&self) -> String {
        format!("tunnel_v1_{}", self.token)
    }

    /// Client → responder frames of request `id`.
    pub fn up(&self, id: &str) -> String {
        format!("{PREFIX}.{}.{id}.up", self.token)
    }

    /// Responder → client frames of request `id`.
    pub fn down(&self, id: &str) -> String {
        format!("{PREFIX}.{}.{id}.down", self.token)
    }

    /// The inbox prefix of this host's responder connection (its transport's flush round
    /// trip), so scoped credentials need no access to other inboxes.
    pub fn inbox_prefix(&self) -> String {
        format!("_TUNNEL_INBOX.{}", self.token)
    }

    /// Subscribe patterns a responder of this host needs (for scoped credentials).
    pub fn responder_subscribe_allow(&self) -> [String; 2] {
        [self.start(), format!("{PREFIX}.{}.*.up", self.token)]
    }

    /// Publish patterns a responder of this host needs (for scoped credentials).
    pub fn responder_publish_allow(&self) -> [String; 1] {
        [format!("{PREFIX}.{}.*.down", self.token)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_token_hides_dots_and_wildcards() {
        for host in ["a.b", "*", ">", "node 1", "ünï"] {
            let t = host_token(host).unwrap();
            assert!(!t.contains(['.', '*', '>', '=', ' ']), "{t}");
        }
        assert_eq!(
            host_token("").unwrap_err().code(),
            ErrorCode::InvalidRequest
        );
        assert!(host_token(&"x".repeat(256)).is_err());
    }

    #[test]
    fn layout() {
        let s = HostSubjects::new("n1").unwrap();
        assert_eq!(s.start(), "tunnel.v1.bjE.start");
        assert_eq!(s.up("abc"), "tunnel.v1.bjE.abc.up");
        assert_eq!(s.down("abc"), "tunnel.v1.bjE.abc.down");
        assert_eq!(s.queue(), "tunnel_v1_bjE");
    }

    #[test]
    fn request_ids() {
        assert!(valid_request_id("a-b_C9"));
        assert!(!valid_request_id("a.b"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("a*"));
        assert!(!valid_request_id(&"a".repeat(65)));
    }
}
