//! Registration and claim: the node registers its key (with a claim token, or unowned and
//! showing a claim code), waits until an owner claims it, and persists its node id.

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wowlab_api::node::{NodeFacts, RegisterRequest, RegisterResponse};
use wowlab_api::NodeId;

use crate::backoff::Backoff;
use crate::client::{ClientError, SentinelClient};
use crate::config::Secret;
use crate::identity::{self, NodeState};
use crate::NodeError;

/// Called with the claim code while the node waits to be claimed.
pub type ClaimAnnouncer = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// How registration polls while waiting for a claim.
#[derive(Debug, Clone, Copy)]
pub struct ClaimPoll {
    /// First poll delay.
    pub min: Duration,
    /// Largest poll delay.
    pub max: Duration,
}

impl Default for ClaimPoll {
    fn default() -> Self {
        Self {
            min: Duration::from_secs(3),
            max: Duration::from_secs(30),
        }
    }
}

/// What registration needs.
pub struct Registration<'a> {
    /// The sentinel.
    pub client: &'a SentinelClient,
    /// Where the node id is persisted.
    pub data_dir: &'a Path,
    /// Claim token, sent only with the first registration.
    pub claim_token: Option<&'a Secret>,
    /// Proposed display name.
    pub name: String,
    /// What the node is.
    pub facts: NodeFacts,
    /// Shows the claim code.
    pub announce: &'a ClaimAnnouncer,
    /// Claim poll pacing.
    pub poll: ClaimPoll,
}

/// Registers until the node is owned; returns its id (persisted in `data_dir`).
pub async fn ensure_claimed(
    r: Registration<'_>,
    stop: &CancellationToken,
) -> Result<NodeId, NodeError> {
    let Registration {
        client,
        data_dir,
        claim_token,
        name,
        facts,
        announce,
        poll,
    } = r;
    let mut req = RegisterRequest {
        claim_token: claim_token.map(|t| t.expose().to_owned()),
        name,
        facts,
    };
    let mut backoff = Backoff::new(poll.min, poll.max);
    let mut announced: Option<String> = None;
    loop {
        let resp = match client.register(&req).await {
            Ok(r) => r,
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "sentinel unreachable; retrying registration");
                wait(&mut backoff, poll.min, stop).await?;
                continue;
            }
            Err(e) => return Err(registration_error(e)),
        };
        persist(client, data_dir, &resp)?;
        if resp.owner.is_some() {
            tracing::info!(node_id = %resp.node_id, "node registered and owned");
            return Ok(resp.node_id);
        }
        // Unowned: the claim token (if any) was not enough; poll without resending it.
        req.claim_token = None;
        match &resp.claim_code {
            Some(code) if announced.as_deref() != Some(code.as_str()) => {
                announce(code);
                announced = Some(code.clone());
            }
            Some(_) => {}
            None => {
                tracing::warn!(node_id = %resp.node_id, "unowned but the sentinel sent no claim code")
            }
        }
        wait(&mut backoff, poll.min, stop).await?;
    }
}

async fn wait(b: &mut Backoff, min: Duration, stop: &CancellationToken) -> Result<(), NodeError> {
    tokio::select! {
        _ = tokio::time::sleep(b.next_delay_at_least(min)) => Ok(()),
        _ = stop.cancelled() => Err(NodeError::Stopped),
    }
}

fn persist(client: &SentinelClient, dir: &Path, resp: &RegisterResponse) -> Result<(), NodeError> {
    let state = NodeState {
        node_id: resp.node_id,
        sentinel_url: client.base_url().to_owned(),
    };
    match identity::load_state(dir) {
        Ok(Some(old)) if old == state => return Ok(()),
        Ok(Some(old)) if old.sentinel_url == state.sentinel_url => tracing::warn!(
            old = %old.node_id, new = %state.node_id,
            "sentinel assigned a new node id to this key"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "ignoring unreadable node state"),
    }
    identity::save_state(dir, &state)?;
    Ok(())
}

fn registration_error(e: ClientError) -> NodeError {
    match e.status() {
        Some(401 | 403) => NodeError::Refused(format!(
            "the sentinel refused registration ({e}); check the claim token"
        )),
        _ => NodeError::Client(e),
    }
}

/// The default announcer: a banner on stderr (and the log) that an operator cannot miss.
pub fn print_claim_code(code: &str) {
    let line = format!("  Claim code: {code}  ");
    let bar = "=".repeat(line.chars().count());
    eprintln!(
        "\n{bar}\n{line}\n{bar}\nEnter this code in the studio (Nodes → Claim) to add this machine to your account.\n"
    );
    tracing::info!(claim_code = code, "waiting to be claimed");
}
