//! `send` (asynchronous message, no reply): Centrifugo OSS has no handler for it, so the
//! connection is closed with 3508 "not available" — what real clients expect.

use crate::session::{Session, State};
use wowlab_protocol::codes::disconnect;
use wowlab_protocol::proto::SendRequest;

/// Returns the disconnect code to close with.
pub(crate) fn handle(s: &Session, _req: SendRequest) -> u32 {
    metrics::counter!("beacon_messages_received", "type" => "send").increment(1);
    if s.state != State::Connected {
        return disconnect::BAD_REQUEST;
    }
    disconnect::NOT_AVAILABLE
}
