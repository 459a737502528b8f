//! Domain vocabulary shared by the coordinator, the store and the HTTP layer.

mod clock;
mod fence;
mod ids;
mod job_status;
mod time;
mod token_hash;

pub use clock::{Clock, ManualClock, SystemClock};
pub use fence::{Fence, FenceToken};
pub use ids::{ChunkIndex, IdParseError, JobId, NodeId, UserId};
pub use job_status::{JobStatus, UnknownJobStatus};
pub use time::{LeaseExpiry, UnixMillis};
pub use token_hash::TokenHash;
