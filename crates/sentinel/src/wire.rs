//! Conversions between the node API's wire types (`wowlab_api::node`, the contract the node
//! codes against) and the coordinator's domain types.

use wowlab_api::node::{ChunkLease, LeaseRef as WireLease};

use crate::coordinator::{Lease, LeaseRef};
use crate::domain::{ChunkIndex, Fence};
use crate::store::Job;

/// The domain form of a lease named on the wire.
pub fn from_wire(l: WireLease) -> LeaseRef {
    LeaseRef {
        job: l.job_id,
        chunk: ChunkIndex(l.chunk),
        fence: Fence(l.fence),
    }
}

/// The wire form of a domain lease reference.
pub fn to_wire(l: LeaseRef) -> WireLease {
    WireLease {
        job_id: l.job,
        chunk: l.chunk.0,
        fence: l.fence.0,
    }
}

/// Everything a node needs to run one chunk of `job`; `None` if the chunk lies outside it.
pub fn chunk_lease(lease: &Lease, job: &Job) -> Option<ChunkLease> {
    let start = u64::from(lease.chunk.0).checked_mul(job.chunk_size)?;
    if start >= job.iterations {
        return None;
    }
    let end = start.saturating_add(job.chunk_size).min(job.iterations);
    Some(ChunkLease {
        lease: to_wire(lease.lease_ref()),
        iter_start: start,
        iter_end: end,
        seed: job.seed,
        config_hash: job.config_hash.clone(),
        expires_at_ms: lease.expires_at.0,
    })
}
