//! The same-origin rule for browser requests that change state. A cookie rides along with any
//! request a page on another origin makes (`SameSite=Lax` lets another port of the same host
//! or a sibling subdomain through), so POST/PUT/PATCH/DELETE are refused when the browser says
//! they come from elsewhere: `Origin` must be the studio's own (the `Host` the request was
//! sent to, or one of the configured allowed origins); without `Origin`, `Sec-Fetch-Site` must
//! be `same-origin` (or `none`, typed by the user). Requests with neither header come from
//! programs, not pages, and pass. `Authorization: Bearer` requests carry no ambient credential
//! and are never checked.

use axum::http::header::{AUTHORIZATION, HOST, ORIGIN};
use axum::http::{HeaderMap, Method};

/// Why a request was refused (for the error message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossOrigin(pub String);

/// Whether a request may go on.
pub fn check(method: &Method, headers: &HeaderMap, allowed: &[String]) -> Result<(), CrossOrigin> {
    if matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return Ok(());
    }
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    if bearer {
        return Ok(());
    }
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("(not text)");
        if is_own_origin(origin, headers) || allowed.iter().any(|a| same(a, origin)) {
            return Ok(());
        }
        return Err(CrossOrigin(format!(
            "requests that change something must come from the studio's own pages, not from {origin}"
        )));
    }
    match headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
    {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(site) => Err(CrossOrigin(format!(
            "requests that change something must come from the studio's own pages (Sec-Fetch-Site: {site})"
        ))),
    }
}

/// `Origin` names the host the request was sent to.
fn is_own_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

fn same(allowed: &str, origin: &str) -> bool {
    allowed.trim_end_matches('/').eq_ignore_ascii_case(origin)
}

/// Whether the page a request came from is served over https (the session cookie is then
/// `Secure`). The `Origin` was checked against the studio's by the time a handler runs.
pub fn from_https(headers: &HeaderMap) -> bool {
    headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| o.starts_with("https://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn own_and_allowed_origins_pass_others_are_refused() {
        let allowed = vec!["https://grid.example".to_owned()];
        let host = ("host", "127.0.0.1:8080");
        let ok = |h: &[(&str, &str)]| check(&Method::POST, &headers(h), &allowed);
        assert!(ok(&[host, ("origin", "http://127.0.0.1:8080")]).is_ok());
        assert!(ok(&[host, ("origin", "https://grid.example")]).is_ok());
        let refused = ok(&[host, ("origin", "http://evil.example")]).unwrap_err();
        assert!(refused.0.contains("http://evil.example"), "{refused:?}");
        // Another port of the same host is another origin.
        assert!(ok(&[host, ("origin", "http://127.0.0.1:9999")]).is_err());
        assert!(ok(&[host, ("origin", "null")]).is_err());
        // No Origin: Sec-Fetch-Site decides; neither header: a program, not a page.
        assert!(ok(&[host, ("sec-fetch-site", "same-origin")]).is_ok());
        assert!(ok(&[host, ("sec-fetch-site", "same-site")]).is_err());
        assert!(ok(&[host, ("sec-fetch-site", "cross-site")]).is_err());
        assert!(ok(&[host]).is_ok());
        // Bearer requests and reads are never checked.
        assert!(ok(&[
            host,
            ("origin", "http://evil.example"),
            ("authorization", "Bearer wl_x")
        ])
        .is_ok());
        assert!(check(
            &Method::GET,
            &headers(&[host, ("origin", "http://evil.example")]),
            &allowed
        )
        .is_ok());
        for m in [Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(check(
                &m,
                &headers(&[host, ("origin", "http://evil.example")]),
                &allowed
            )
            .is_err());
        }
    }

    #[test]
    fn https_pages_are_recognized() {
        assert!(from_https(&headers(&[("origin", "https://grid.example")])));
        assert!(!from_https(&headers(&[("origin", "http://grid.example")])));
        assert!(!from_https(&HeaderMap::new()));
    }
}
