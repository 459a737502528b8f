//! Error, disconnect and unsubscribe codes of the protocol, as Centrifugo defines them
//! (`centrifugal/centrifuge`: `errors.go`, `disconnect.go`, `unsubscribe.go`).

/// Client error codes carried in `Reply.error`.
pub mod error {
    /// Internal server error (temporary).
    pub const INTERNAL: u32 = 100;
    /// Unauthorized.
    pub const UNAUTHORIZED: u32 = 101;
    /// Unknown channel (namespace not configured).
    pub const UNKNOWN_CHANNEL: u32 = 102;
    /// Permission denied.
    pub const PERMISSION_DENIED: u32 = 103;
    /// Method not found.
    pub const METHOD_NOT_FOUND: u32 = 104;
    /// Already subscribed.
    pub const ALREADY_SUBSCRIBED: u32 = 105;
    /// Limit exceeded.
    pub const LIMIT_EXCEEDED: u32 = 106;
    /// Bad request.
    pub const BAD_REQUEST: u32 = 107;
    /// Not available.
    pub const NOT_AVAILABLE: u32 = 108;
    /// Token expired (client retries with a fresh token).
    pub const TOKEN_EXPIRED: u32 = 109;
    /// Expired.
    pub const EXPIRED: u32 = 110;
    /// Too many requests (temporary).
    pub const TOO_MANY_REQUESTS: u32 = 111;
    /// Unrecoverable position.
    pub const UNRECOVERABLE_POSITION: u32 = 112;
    /// Concurrent pagination (experimental, temporary).
    pub const CONCURRENT_PAGINATION: u32 = 113;

    /// Standard message for an error code ("unknown error" for others).
    pub fn message(code: u32) -> &'static str {
        match code {
            INTERNAL => "internal server error",
            UNAUTHORIZED => "unauthorized",
            UNKNOWN_CHANNEL => "unknown channel",
            PERMISSION_DENIED => "permission denied",
            METHOD_NOT_FOUND => "method not found",
            ALREADY_SUBSCRIBED => "already subscribed",
            LIMIT_EXCEEDED => "limit exceeded",
            BAD_REQUEST => "bad request",
            NOT_AVAILABLE => "not available",
            TOKEN_EXPIRED => "token expired",
            EXPIRED => "expired",
            TOO_MANY_REQUESTS => "too many requests",
            UNRECOVERABLE_POSITION => "unrecoverable position",
            CONCURRENT_PAGINATION => "concurrent pagination",
            _ => "unknown error",
        }
    }

    /// Whether the server marks this error `temporary` (client may retry).
    pub fn is_temporary(code: u32) -> bool {
        matches!(code, INTERNAL | TOO_MANY_REQUESTS | CONCURRENT_PAGINATION)
    }

    /// Builds the standard `Error` message for a code.
    pub fn to_error(code: u32) -> crate::proto::Error {
        crate::proto::Error {
            code,
            message: message(code).to_owned(),
            temporary: is_temporary(code),
        }
    }
}

/// Disconnect codes (WebSocket close codes / Disconnect push).
pub mod disconnect {
    /// Connection closed (internal marker, no close frame is sent).
    pub const CONNECTION_CLOSED: u32 = 3000;
    /// Server shutdown.
    pub const SHUTDOWN: u32 = 3001;
    /// Internal server error.
    pub const INTERNAL: u32 = 3004;
    /// Connection expired (token not refreshed in time).
    pub const CONNECTION_EXPIRED: u32 = 3005;
    /// Server-side subscription expired.
    pub const SUBSCRIPTION_EXPIRED: u32 = 3006;
    /// Client too slow to read.
    pub const SLOW: u32 = 3008;
    /// Write error.
    pub const WRITE_ERROR: u32 = 3009;
    /// Insufficient state (lost publications).
    pub const INSUFFICIENT_STATE: u32 = 3010;
    /// Forced reconnect.
    pub const FORCE_RECONNECT: u32 = 3011;
    /// No pong in time.
    pub const NO_PONG: u32 = 3012;
    /// Too many requests.
    pub const TOO_MANY_REQUESTS: u32 = 3013;
    /// State invalidated (client drops tokens and positions).
    pub const STATE_INVALIDATED: u32 = 3014;
    /// Invalid token (terminal).
    pub const INVALID_TOKEN: u32 = 3500;
    /// Bad request (terminal).
    pub const BAD_REQUEST: u32 = 3501;
    /// Stale: not authenticated in time (terminal).
    pub const STALE: u32 = 3502;
    /// Forced disconnect (terminal).
    pub const FORCE_DISCONNECT: u32 = 3503;
    /// Connection limit (terminal).
    pub const CONNECTION_LIMIT: u32 = 3504;
    /// Channel limit (terminal).
    pub const CHANNEL_LIMIT: u32 = 3505;
    /// Inappropriate protocol, e.g. binary data for a JSON client (terminal).
    pub const INAPPROPRIATE_PROTOCOL: u32 = 3506;
    /// Permission denied (terminal).
    pub const PERMISSION_DENIED: u32 = 3507;
    /// Not available (terminal).
    pub const NOT_AVAILABLE: u32 = 3508;
    /// Too many errors (terminal).
    pub const TOO_MANY_ERRORS: u32 = 3509;

    /// Reason text for a code: never empty and never valid JSON (centrifuge-js parses it).
    pub fn reason(code: u32) -> &'static str {
        match code {
            CONNECTION_CLOSED => "connection closed",
            SHUTDOWN => "shutdown",
            INTERNAL => "internal server error",
            CONNECTION_EXPIRED => "connection expired",
            SUBSCRIPTION_EXPIRED => "subscription expired",
            SLOW => "slow",
            WRITE_ERROR => "write error",
            INSUFFICIENT_STATE => "insufficient state",
            FORCE_RECONNECT => "force reconnect",
            NO_PONG => "no pong",
            TOO_MANY_REQUESTS => "too many requests",
            STATE_INVALIDATED => "state invalidated",
            INVALID_TOKEN => "invalid token",
            BAD_REQUEST => "bad request",
            STALE => "stale",
            FORCE_DISCONNECT => "force disconnect",
            CONNECTION_LIMIT => "connection limit",
            CHANNEL_LIMIT => "channel limit",
            INAPPROPRIATE_PROTOCOL => "inappropriate protocol",
            PERMISSION_DENIED => "permission denied",
            NOT_AVAILABLE => "not available",
            TOO_MANY_ERRORS => "too many errors",
            _ => "disconnect",
        }
    }

    /// Client rule: no reconnect iff 3500 ≤ code < 4000 or 4500 ≤ code < 5000.
    pub fn should_reconnect(code: u32) -> bool {
        !((3500..4000).contains(&code) || (4500..5000).contains(&code))
    }
}

/// Unsubscribe push codes.
pub mod unsubscribe {
    /// Server unsubscribed the client (terminal).
    pub const SERVER: u32 = 2000;
    /// Insufficient state (resubscribe).
    pub const INSUFFICIENT_STATE: u32 = 2500;
    /// Subscription expired (resubscribe).
    pub const EXPIRED: u32 = 2501;
    /// State invalidated (resubscribe, drop cached token and position).
    pub const STATE_INVALIDATED: u32 = 2502;

    /// Reason text for an unsubscribe code.
    pub fn reason(code: u32) -> &'static str {
        match code {
            SERVER => "server unsubscribe",
            INSUFFICIENT_STATE => "insufficient state",
            EXPIRED => "subscription expired",
            STATE_INVALIDATED => "state invalidated",
            _ => "unsubscribe",
        }
    }

    /// Client rule: codes ≥ 2500 resubscribe, lower codes are terminal.
    pub fn should_resubscribe(code: u32) -> bool {
        code >= 2500
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disconnect_reasons_are_non_empty_and_not_json() {
        for code in [
            3000, 3001, 3004, 3005, 3006, 3008, 3009, 3010, 3011, 3012, 3013, 3014,
        ]
        .into_iter()
        .chain(3500..=3509)
        .chain([4000, 4999, 1, 0])
        {
            let r = disconnect::reason(code);
            assert!(!r.is_empty(), "{code}");
            assert!(
                serde_json::from_str::<serde_json::Value>(r).is_err(),
                "{code}: {r}"
            );
            assert!(r.len() < 123);
        }
    }

    #[test]
    fn reconnect_boundaries_match_clients() {
        for (code, reconnect) in [
            (0, true),
            (1000, true),
            (2999, true),
            (3001, true),
            (3499, true),
            (3500, false),
            (3999, false),
            (4000, true),
            (4499, true),
            (4500, false),
            (4999, false),
            (5000, true),
            (9999, true),
        ] {
            assert_eq!(disconnect::should_reconnect(code), reconnect, "{code}");
        }
    }

    #[test]
    fn error_messages_and_temporary() {
        assert_eq!(
            error::message(error::PERMISSION_DENIED),
            "permission denied"
        );
        assert_eq!(error::message(error::NOT_AVAILABLE), "not available");
        assert!(error::is_temporary(error::INTERNAL));
        assert!(error::is_temporary(error::TOO_MANY_REQUESTS));
        assert!(!error::is_temporary(error::TOKEN_EXPIRED));
        let e = error::to_error(error::UNKNOWN_CHANNEL);
        assert_eq!(
            (e.code, e.message.as_str(), e.temporary),
            (102, "unknown channel", false)
        );
    }

    #[test]
    fn unsubscribe_rule() {
        assert!(!unsubscribe::should_resubscribe(unsubscribe::SERVER));
        assert!(unsubscribe::should_resubscribe(
            unsubscribe::INSUFFICIENT_STATE
        ));
        assert!(unsubscribe::should_resubscribe(
            unsubscribe::STATE_INVALIDATED
        ));
    }
}
