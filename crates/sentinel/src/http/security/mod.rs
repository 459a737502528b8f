//! Defences of the HTTP surface against strangers, as one layer ([`guard`]) around the
//! sentinel's routes: the same-origin rule for browser requests that change state
//! ([`origin`]), per-address and per-account rate limits on sign-in, sign-up, claim-code entry
//! and token creation ([`rate_limit`]), security headers ([`headers`]); plus the bound on
//! concurrent password hashes ([`hashing`]) and the fair-use quotas ([`quota`]) handlers use.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::credential;
use super::{ApiError, Context};
use crate::domain::TokenHash;

pub mod claim_code;
pub mod client_addr;
pub mod hashing;
pub mod headers;
pub mod origin;
pub mod quota;
pub mod rate_limit;

use rate_limit::{Action, Limiter, RateLimit, Subject};

/// Limits of one action: per client address and per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionLimits {
    /// Per client address (IPv6 per /64).
    pub address: RateLimit,
    /// Per account (user id, or the email a sign-in or sign-up names).
    pub account: RateLimit,
}

const fn limits(addr: u32, addr_secs: u64, acct: u32, acct_secs: u64) -> ActionLimits {
    ActionLimits {
        address: RateLimit::new(addr, Duration::from_secs(addr_secs)),
        account: RateLimit::new(acct, Duration::from_secs(acct_secs)),
    }
}

/// Rate limits of the guessable actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Sign-in: 20 per minute per address, 10 per 10 minutes per email.
    pub sign_in: ActionLimits,
    /// Sign-up: 10 per hour per address, 5 per hour per email.
    pub sign_up: ActionLimits,
    /// Claim-code entry: 20 per minute per address, 10 per minute per account.
    pub claim_code: ActionLimits,
    /// API and claim token creation: 30 per minute per address, 20 per minute per account.
    pub create_token: ActionLimits,
    /// Beacon job tokens (anonymous visitors of public jobs too): 120 per minute per address,
    /// 120 per minute per account.
    pub job_token: ActionLimits,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            sign_in: limits(20, 60, 10, 600),
            sign_up: limits(10, 3600, 5, 3600),
            claim_code: limits(20, 60, 10, 60),
            create_token: limits(30, 60, 20, 60),
            job_token: limits(120, 60, 120, 60),
        }
    }
}

impl RateLimits {
    fn of(&self, action: Action) -> ActionLimits {
        match action {
            Action::SignIn => self.sign_in,
            Action::SignUp => self.sign_up,
            Action::ClaimCode => self.claim_code,
            Action::CreateToken => self.create_token,
            Action::JobToken => self.job_token,
        }
    }
}

/// Settings of the defences.
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Origins besides the studio's own host whose pages may change state with the session
    /// cookie (a reverse proxy's public URL), e.g. `https://grid.example`.
    pub allowed_origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` names the client (a reverse proxy); empty: the socket
    /// peer is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Rate limits.
    pub limits: RateLimits,
    /// Password hashes computed at once (default: the machine's cores).
    pub hash_concurrency: usize,
    /// How long a sign-in waits for a hashing slot before "busy" (default 2 s).
    pub hash_wait: Duration,
    /// Fair-use defaults until an admin changes them.
    pub quotas: quota::Quotas,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            limits: RateLimits::default(),
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hash_wait: Duration::from_secs(2),
            quotas: quota::Quotas::default(),
        }
    }
}

/// A setting from the environment could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct SecurityConfigError {
    /// The variable.
    pub var: &'static str,
    /// What is wrong.
    pub message: String,
}

impl SecurityConfig {
    /// Defaults plus `WOWLAB_ALLOWED_ORIGINS` (comma-separated origins) and
    /// `WOWLAB_TRUSTED_PROXIES` (comma-separated IP addresses).
    pub fn from_env() -> Result<Self, SecurityConfigError> {
        let list = |var: &str| {
            std::env::var(var)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let allowed_origins = list("WOWLAB_ALLOWED_ORIGINS");
        if let Some(bad) = allowed_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")))
        {
            return Err(SecurityConfigError {
                var: "WOWLAB_ALLOWED_ORIGINS",
                message: format!("{bad:?} is not an http(s) origin"),
            });
        }
        let trusted_proxies = list("WOWLAB_TRUSTED_PROXIES")
            .iter()
            .map(|p| {
                p.parse::<IpAddr>().map_err(|_| SecurityConfigError {
                    var: "WOWLAB_TRUSTED_PROXIES",
                    message: format!("{p:?} is not an IP address"),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allowed_origins,
            trusted_proxies,
            ..Self::default()
        })
    }
}

/// The defences' state shared by every request.
#[derive(Debug)]
pub struct Security {
    config: SecurityConfig,
    limiter: Limiter,
    hashers: hashing::Hashers,
}

impl Security {
    /// Fresh buckets and hashing permits for `config`.
    pub fn new(config: SecurityConfig) -> Self {
        Self {
            hashers: hashing::Hashers::new(config.hash_concurrency, config.hash_wait),
            limiter: Limiter::default(),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &SecurityConfig {
        &self.config
    }

    /// The password hashing permits.
    pub fn hashers(&self) -> &hashing::Hashers {
        &self.hashers
    }

    /// The rate-limit buckets.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }
}

/// The limited action a request is, if any.
fn action_of(method: &Method, path: &str) -> Option<Action> {
    if *method == Method::GET && path == "/api/realtime/job-token" {
        return Some(Action::JobToken);
    }
    if *method != Method::POST {
        return None;
    }
    match path {
        "/api/auth/login" => Some(Action::SignIn),
        "/api/auth/signup" => Some(Action::SignUp),
        "/api/nodes/claim" => Some(Action::ClaimCode),
        "/api/tokens" | "/api/claim-tokens" => Some(Action::CreateToken),
        _ => None,
    }
}

/// Largest sign-in or sign-up body read to find the email.
const AUTH_BODY_LIMIT: usize = 64 * 1024;

/// The layer: same-origin rule, rate limits, then the handler, then security headers.
pub async fn guard(State(state): State<Context>, req: Request, next: Next) -> Response {
    let sec = state.security();
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let host = host.as_deref();
    if let Err(refusal) = origin::check(req.method(), req.headers(), &sec.config().allowed_origins)
    {
        return with_headers(
            &state,
            host,
            ApiError::CrossOrigin(refusal.0).into_response(),
        );
    }
    let req = match action_of(req.method(), req.uri().path()) {
        Some(action) => match limit(&state, action, req).await {
            Ok(req) => req,
            Err(refused) => return with_headers(&state, host, refused.into_response()),
        },
        None => req,
    };
    let resp = next.run(req).await;
    with_headers(&state, host, resp)
}

fn with_headers(state: &Context, host: Option<&str>, mut resp: Response) -> Response {
    let csp = headers::content_security_policy(&state.config().beacon_ws_url, host);
    match HeaderValue::from_str(&csp) {
        Ok(v) => headers::apply(resp.headers_mut(), &v),
        Err(e) => tracing::error!(error = %e, "content security policy is not a header value"),
    }
    resp
}

/// Takes a token of the client address's and the account's buckets, or answers 429.
async fn limit(state: &Context, action: Action, req: Request) -> Result<Request, ApiError> {
    let sec = state.security();
    let l = sec.config().limits.of(action);
    let ip = client_addr::client_ip(&req, &sec.config().trusted_proxies);
    let address = Subject::Address(client_addr::bucket_key(ip));
    refuse_if_empty(sec.limiter().take(action, address, l.address), action)?;
    let (req, account) = account_of(state, action, req).await?;
    if let Some(account) = account {
        refuse_if_empty(
            sec.limiter()
                .take(action, Subject::Account(account), l.account),
            action,
        )?;
    }
    Ok(req)
}

fn refuse_if_empty(taken: Result<(), Duration>, action: Action) -> Result<(), ApiError> {
    taken.map_err(|wait| {
        metrics::counter!("sentinel_rate_limited_total", "action" => action.as_str()).increment(1);
        ApiError::RateLimited {
            retry_after: rate_limit::retry_after_secs(wait),
        }
    })
}

/// The account a request acts for: the email a sign-in or sign-up names (read from the body,
/// which is put back), or the signed-in user. `None` when there is none (the handler refuses).
async fn account_of(
    state: &Context,
    action: Action,
    req: Request,
) -> Result<(Request, Option<String>), ApiError> {
    match action {
        Action::SignIn | Action::SignUp => {
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, AUTH_BODY_LIMIT)
                .await
                .map_err(|_| ApiError::TooLarge)?;
            let email = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("email").and_then(|e| e.as_str()).map(str::to_owned))
                .map(|e| e.trim().to_lowercase())
                .filter(|e| !e.is_empty());
            Ok((Request::from_parts(parts, Body::from(bytes)), email))
        }
        Action::ClaimCode | Action::CreateToken | Action::JobToken => {
            let Some((secret, kind)) = credential(req.headers()) else {
                return Ok((req, None));
            };
            let user = state
                .store()
                .user_by_auth_token(&TokenHash::of(&secret), kind, state.clock().now())
                .await?;
            Ok((req, user.map(|u| u.id.to_string())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_guessable_posts_are_limited() {
        assert_eq!(
            action_of(&Method::POST, "/api/auth/login"),
            Some(Action::SignIn)
        );
        assert_eq!(
            action_of(&Method::POST, "/api/claim-tokens"),
            Some(Action::CreateToken)
        );
        assert_eq!(
            action_of(&Method::POST, "/api/nodes/claim"),
            Some(Action::ClaimCode)
        );
        assert_eq!(action_of(&Method::GET, "/api/tokens"), None);
        assert_eq!(
            action_of(&Method::GET, "/api/realtime/job-token"),
            Some(Action::JobToken)
        );
        assert_eq!(action_of(&Method::POST, "/api/jobs"), None);
    }

    #[test]
    fn env_settings_are_checked() {
        // Only this test touches these variables.
        std::env::set_var("WOWLAB_ALLOWED_ORIGINS", "https://grid.example, ");
        std::env::set_var("WOWLAB_TRUSTED_PROXIES", "10.0.0.1");
        let c = SecurityConfig::from_env().unwrap();
        assert_eq!(c.allowed_origins, ["https://grid.example"]);
        assert_eq!(c.trusted_proxies, ["10.0.0.1".parse::<IpAddr>().unwrap()]);
        std::env::set_var("WOWLAB_TRUSTED_PROXIES", "proxy.local");
        let e = SecurityConfig::from_env().unwrap_err();
        assert_eq!(e.var, "WOWLAB_TRUSTED_PROXIES");
        std::env::set_var("WOWLAB_TRUSTED_PROXIES", "");
        std::env::set_var("WOWLAB_ALLOWED_ORIGINS", "grid.example");
        assert_eq!(
            SecurityConfig::from_env().unwrap_err().var,
            "WOWLAB_ALLOWED_ORIGINS"
        );
        std::env::remove_var("WOWLAB_ALLOWED_ORIGINS");
        std::env::remove_var("WOWLAB_TRUSTED_PROXIES");
    }
}

#[cfg(test)]
mod layer_tests;
