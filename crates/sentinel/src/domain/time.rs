//! Wall-clock instants as Unix milliseconds: the coordinator takes `now` as an argument so every
//! operation is deterministic under test and a Redis script can take it as an argument too.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time, milliseconds since the Unix epoch.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Default,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct UnixMillis(pub u64);

/// When a lease runs out.
pub type LeaseExpiry = UnixMillis;

impl UnixMillis {
    /// The current wall-clock time (0 if the clock is before 1970).
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Self(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// This instant plus `d`, saturating.
    pub fn plus(self, d: Duration) -> Self {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self(self.0.saturating_add(ms))
    }

    /// Milliseconds as a signed integer, for SQL columns (`BIGINT`).
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// From a signed SQL integer; negative values clamp to the epoch.
    pub fn from_i64(ms: i64) -> Self {
        Self(u64::try_from(ms).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_saturates_and_sql_round_trips() {
        assert_eq!(UnixMillis(5).plus(Duration::from_secs(1)), UnixMillis(1005));
        assert_eq!(
            UnixMillis(u64::MAX).plus(Duration::from_secs(1)).0,
            u64::MAX
        );
        assert_eq!(UnixMillis::from_i64(-3), UnixMillis(0));
        assert_eq!(
            UnixMillis::from_i64(UnixMillis(42).as_i64()),
            UnixMillis(42)
        );
        assert!(UnixMillis::now().0 > 1_600_000_000_000);
    }
}
