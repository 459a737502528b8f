//! Receive-side ordering of a channel's stream for distributed brokers. Publications of one
//! channel can reach a node out of order (two beacons allocate offsets 5 and 6 in Redis, then
//! race on NATS) or not at all (a pub/sub reconnect, a slow consumer). The node remembers the
//! last position it delivered per channel; a duplicate or older offset is dropped, and a gap is
//! repaired from the shared history before the publication that revealed it is delivered. A gap
//! history cannot fill any more is passed on as is: each subscriber's own check then forces
//! its client to recover (insufficient state), so nothing is ever skipped silently.

use super::redis_history::RedisHistory;
use super::{BrokerEventHandler, HistoryOptions, Publication, StreamPosition};
use std::time::Duration;

/// The largest gap repaired from history in one go; past it clients recover themselves.
const MAX_REPAIR: u64 = 10_000;

/// Meta lifetime for repair reads in the rare case they find the stream gone and recreate
/// it (Centrifugo's default `history_meta_ttl`): such a meta must not live forever.
const REPAIR_META_TTL: Duration = Duration::from_secs(720 * 3600);

/// How often a node compares what it delivered with each stream's top, so a gap at the very
/// end of a stream (the last publications lost, nothing published after) is repaired too
/// (`client.channel_position_check_delay`, Centrifugo's default).
pub(crate) const POSITION_CHECK: Duration = Duration::from_secs(40);

/// Catches a channel up with its stream top: delivers what this node missed after `last`.
pub(crate) async fn catch_up(
    last: &mut Option<StreamPosition>,
    history: &RedisHistory,
    handler: &dyn BrokerEventHandler,
    channel: &str,
) {
    let Some(from) = last.clone() else { return };
    let opts = HistoryOptions {
        since: Some(from.clone()),
        limit: Some(MAX_REPAIR as usize),
        reverse: false,
        meta_ttl: REPAIR_META_TTL,
    };
    match history.read(channel, &opts).await {
        Ok(r) if r.position.offset > from.offset => {
            metrics::counter!("beacon_broker_gaps").increment(1);
            for p in r.publications {
                if p.offset > from.offset {
                    let at = StreamPosition {
                        offset: p.offset,
                        epoch: from.epoch.clone(),
                    };
                    *last = Some(at.clone());
                    handler.handle_publication(channel, p, at);
                }
            }
            metrics::counter!("beacon_broker_gaps_repaired").increment(1);
        }
        Ok(_) => {}
        // Another epoch: the stream was recreated; the next publication starts over.
        Err(super::EngineError::UnrecoverablePosition) => *last = None,
        Err(e) => tracing::warn!(%channel, error = %e, "stream position check failed"),
    }
}

/// What to do with an arriving publication given the last delivered position.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Next in sequence (or unpositioned, or a new epoch): deliver.
    Deliver,
    /// Already delivered: drop.
    Duplicate,
    /// Offsets after `after` are missing: repair, then deliver.
    Gap { after: u64 },
}

/// Classifies `pos` against `last`.
pub(crate) fn classify(last: Option<&StreamPosition>, pos: &StreamPosition) -> Step {
    let Some(last) = last else {
        return Step::Deliver;
    };
    if pos.offset == 0 || last.epoch != pos.epoch {
        return Step::Deliver;
    }
    if pos.offset <= last.offset {
        Step::Duplicate
    } else if pos.offset == last.offset + 1 {
        Step::Deliver
    } else {
        Step::Gap { after: last.offset }
    }
}

/// Delivers `publication` in stream order, repairing a gap from `history` when there is one.
pub(crate) async fn deliver(
    last: &mut Option<StreamPosition>,
    history: Option<&RedisHistory>,
    handler: &dyn BrokerEventHandler,
    channel: &str,
    publication: Publication,
    pos: StreamPosition,
) {
    match classify(last.as_ref(), &pos) {
        Step::Duplicate => {
            metrics::counter!("beacon_broker_duplicates_dropped").increment(1);
            return;
        }
        Step::Gap { after } => {
            metrics::counter!("beacon_broker_gaps").increment(1);
            if let Some(h) = history {
                let missing = pos.offset - after - 1;
                if missing <= MAX_REPAIR {
                    let opts = HistoryOptions {
                        since: Some(StreamPosition {
                            offset: after,
                            epoch: pos.epoch.clone(),
                        }),
                        limit: Some(missing as usize),
                        reverse: false,
                        meta_ttl: REPAIR_META_TTL,
                    };
                    match h.read(channel, &opts).await {
                        Ok(r) => {
                            for p in r.publications {
                                if p.offset > after && p.offset < pos.offset {
                                    let at = StreamPosition {
                                        offset: p.offset,
                                        epoch: pos.epoch.clone(),
                                    };
                                    handler.handle_publication(channel, p, at);
                                }
                            }
                            metrics::counter!("beacon_broker_gaps_repaired").increment(1);
                        }
                        Err(e) => {
                            tracing::warn!(%channel, error = %e, "gap repair from history failed")
                        }
                    }
                }
            }
        }
        Step::Deliver => {}
    }
    if pos.offset > 0 {
        *last = Some(pos.clone());
    }
    handler.handle_publication(channel, publication, pos);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(offset: u64, epoch: &str) -> StreamPosition {
        StreamPosition {
            offset,
            epoch: epoch.into(),
        }
    }

    #[test]
    fn classify_covers_every_case() {
        assert_eq!(classify(None, &p(9, "e")), Step::Deliver);
        assert_eq!(classify(Some(&p(4, "e")), &p(5, "e")), Step::Deliver);
        assert_eq!(classify(Some(&p(4, "e")), &p(4, "e")), Step::Duplicate);
        assert_eq!(classify(Some(&p(4, "e")), &p(2, "e")), Step::Duplicate);
        assert_eq!(
            classify(Some(&p(4, "e")), &p(7, "e")),
            Step::Gap { after: 4 }
        );
        assert_eq!(classify(Some(&p(4, "e")), &p(1, "f")), Step::Deliver);
        assert_eq!(classify(Some(&p(4, "e")), &p(0, "")), Step::Deliver);
    }
}
