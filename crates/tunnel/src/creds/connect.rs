//! A NATS connection authenticated by a short-lived user JWT that is refreshed before it
//! expires. A task fetches a new JWT at about 2/3 of the lifetime (±10 % jitter, so nodes
//! minted together spread out) and moves onto a new connection made with it, make-before-break
//! ([`RotatingTransport::rotate`]): no message in flight is lost to the change, and no
//! connection is cut by the server at expiry. The JWT is also read by async-nats' auth
//! callback on every automatic reconnect, and when a rotation fails the connection in use
//! reconnects in place onto the fresh JWT instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::{Credentials, CredsError};
use crate::transport::RotatingTransport;

/// Where fresh credentials come from (the sentinel's signed node API, or a local signer).
#[async_trait::async_trait]
pub trait CredentialSource: Send + Sync + 'static {
    /// New credentials.
    async fn fetch(&self) -> Result<Credentials, CredsError>;
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ScopedOptions {
    /// Client name shown by the server.
    pub name: String,
    /// Inbox prefix (a responder's credentials only allow its own, see
    /// `HostSubjects::inbox_prefix`); `None` keeps async-nats' `_INBOX`.
    pub inbox_prefix: Option<String>,
}

/// A connected transport plus the task keeping its credentials fresh (stopped on drop).
pub struct ScopedConnection {
    transport: RotatingTransport,
    state: Arc<State>,
    refresher: JoinHandle<()>,
}

struct State {
    jwt: Mutex<String>,
    expires_at_ms: AtomicU64,
    refreshes: AtomicU64,
}

impl ScopedConnection {
    /// The transport (cheap to clone).
    pub fn transport(&self) -> RotatingTransport {
        self.transport.clone()
    }

    /// Expiry of the credentials in use (Unix ms, the minter's clock).
    pub fn expires_at_ms(&self) -> u64 {
        self.state.expires_at_ms.load(Ordering::Relaxed)
    }

    /// How many times the credentials were replaced.
    pub fn refreshes(&self) -> u64 {
        self.state.refreshes.load(Ordering::Relaxed)
    }
}

impl Drop for ScopedConnection {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

/// Fetches credentials from `source`, connects to `url` with them and keeps them fresh.
pub async fn connect(
    url: &str,
    source: Arc<dyn CredentialSource>,
    opts: ScopedOptions,
) -> Result<ScopedConnection, CredsError> {
    let first = source.fetch().await?;
    let state = Arc::new(State {
        jwt: Mutex::new(first.jwt.clone()),
        expires_at_ms: AtomicU64::new(first.expires_at_ms),
        refreshes: AtomicU64::new(0),
    });
    let client = connect_client(url, &state, &opts).await?;
    let transport = RotatingTransport::new(client);
    let refresher = tokio::spawn(refresh(
        url.to_owned(),
        opts,
        transport.clone(),
        source,
        state.clone(),
        first,
    ));
    Ok(ScopedConnection {
        transport,
        state,
        refresher,
    })
}

/// A connection that authenticates with the JWT in `state` (read again on every reconnect).
async fn connect_client(
    url: &str,
    state: &Arc<State>,
    opts: &ScopedOptions,
) -> Result<async_nats::Client, CredsError> {
    let auth_state = state.clone();
    let mut options = async_nats::ConnectOptions::with_auth_callback(move |_nonce| {
        let jwt = auth_state.jwt.lock().map(|j| j.clone()).unwrap_or_default();
        async move {
            let mut auth = async_nats::Auth::new();
            auth.jwt = Some(jwt);
            Ok(auth)
        }
    })
    .name(opts.name.clone())
    .reconnect_delay_callback(reconnect_delay);
    if let Some(prefix) = &opts.inbox_prefix {
        options = options.custom_inbox_prefix(prefix.clone());
    }
    options
        .connect(url)
        .await
        .map_err(|e| CredsError::Connect(e.to_string()))
}

async fn refresh(
    url: String,
    opts: ScopedOptions,
    transport: RotatingTransport,
    source: Arc<dyn CredentialSource>,
    state: Arc<State>,
    mut current: Credentials,
) {
    loop {
        let lifetime = current.lifetime().max(Duration::from_secs(1));
        tokio::time::sleep(lifetime.mul_f64(2.0 / 3.0 * jitter(0.1))).await;
        // Retry often enough to land well before expiry, rarely enough not to hammer a
        // sentinel that is down (the server cuts the connection at expiry meanwhile).
        let mut backoff = (lifetime / 10).min(Duration::from_secs(1));
        let fresh = loop {
            match source.fetch().await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "tunnel credentials not refreshed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        };
        if let Ok(mut j) = state.jwt.lock() {
            *j = fresh.jwt.clone();
        }
        state
            .expires_at_ms
            .store(fresh.expires_at_ms, Ordering::Relaxed);
        state.refreshes.fetch_add(1, Ordering::Relaxed);
        // A connection keeps the JWT it connected with: move onto one made with the new JWT.
        let moved = match connect_client(&url, &state, &opts).await {
            Ok(next) => transport.rotate(next).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = moved {
            tracing::warn!(error = %e, "tunnel connection not moved onto fresh credentials; reconnecting in place");
            if let Err(e) = transport.client().await.force_reconnect().await {
                tracing::warn!(error = %e, "tunnel reconnect onto fresh credentials failed");
            }
        }
        tracing::debug!(
            expires_at_ms = fresh.expires_at_ms,
            "tunnel credentials refreshed"
        );
        current = fresh;
    }
}

/// The first attempt after a drop goes at once: a refresh reconnects on purpose, and every
/// moment without the connection is a moment a request to this host is lost. After that at
/// least 250 ms (jittered up to 2×) between attempts, doubling to 5 s: a refused or expired
/// JWT does not turn into a tight reconnect loop.
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = attempts.saturating_sub(2).min(5) as u32;
    let base = Duration::from_millis(250) * 2u32.pow(exp);
    base.min(Duration::from_secs(5))
        .mul_f64(1.0 + unit_random())
}

/// A factor in `[1 - spread, 1 + spread]`.
fn jitter(spread: f64) -> f64 {
    1.0 - spread + 2.0 * spread * unit_random()
}

/// Uniform in `[0, 1]`.
fn unit_random() -> f64 {
    let mut b = [0u8; 4];
    match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delay_has_a_floor_and_a_cap() {
        assert_eq!(
            reconnect_delay(1),
            Duration::ZERO,
            "a refresh's reconnect waits for nothing"
        );
        for attempt in 2..20 {
            let d = reconnect_delay(attempt);
            assert!(d >= Duration::from_millis(250), "{attempt}: {d:?}");
            assert!(d <= Duration::from_secs(10), "{attempt}: {d:?}");
        }
        for _ in 0..100 {
            let j = jitter(0.1);
            assert!((0.9..=1.1).contains(&j));
        }
    }
}
