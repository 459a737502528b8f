//! Security headers on every sentinel response: the studio's pages load only their own
//! scripts, styles and images (no inline code anywhere), talk only to their own origin and
//! beacon, and may not be framed.

use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};

/// The Content-Security-Policy for `beacon_ws_url` (where pages open their WebSocket besides
/// their own origin) and the `Host` the page was requested from: its `ws:`/`wss:` twin is
/// named too, as not every browser counts WebSockets to the page's host as `'self'`.
pub fn content_security_policy(beacon_ws_url: &str, host: Option<&str>) -> String {
    let mut beacon = ws_origin(beacon_ws_url)
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    for scheme in ["ws", "wss"] {
        if let Some(o) = host.and_then(|h| ws_origin(&format!("{scheme}://{h}/"))) {
            beacon.push(' ');
            beacon.push_str(&o);
        }
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{beacon}; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// `ws://host:port` of a WebSocket URL.
fn ws_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "ws" && scheme != "wss" {
        return None;
    }
    let authority = rest.split('/').next()?;
    let clean = !authority.is_empty()
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'));
    clean.then(|| format!("{scheme}://{authority}"))
}

/// Adds the headers to a response unless a handler set its own.
pub fn apply(headers: &mut HeaderMap, csp: &HeaderValue) {
    let fixed = [
        (CONTENT_SECURITY_POLICY, csp.clone()),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        // For browsers without CSP frame-ancestors.
        (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    for (name, value) in fixed {
        headers.entry(name).or_insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_beacon_and_forbids_framing_and_inline_code() {
        let p = content_security_policy("ws://127.0.0.1:8080/connection/websocket", None);
        assert!(p.contains("connect-src 'self' ws://127.0.0.1:8080;"), "{p}");
        let p = content_security_policy("ws://0.0.0.0:8080/x", Some("grid.example:8080"));
        assert!(
            p.contains(
                "connect-src 'self' ws://0.0.0.0:8080 ws://grid.example:8080 wss://grid.example:8080;"
            ),
            "{p}"
        );
        // A Host that could smuggle a directive is left out.
        let p = content_security_policy("ws://a/", Some("x; script-src *"));
        assert!(p.contains("connect-src 'self' ws://a;"), "{p}");
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(p.contains("script-src 'self';") && !p.contains("unsafe"));
        // A URL that could smuggle a directive is left out.
        let p = content_security_policy("ws://a; script-src *", None);
        assert!(p.contains("connect-src 'self';"), "{p}");
        assert!(!content_security_policy("http://x/", None).contains("http://x"));
    }
}
