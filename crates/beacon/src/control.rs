//! Server API actions that must reach connections on every beacon (subscribe, unsubscribe,
//! disconnect, refresh). The node that received the API call applies the action to its own
//! connections at once, then broadcasts it through the broker's control channel; every other
//! node applies it to its connections. Messages are JSON envelopes naming the origin node.

use crate::conn::{Control, ServerSubscribe};
use crate::engine::StreamPosition;
use crate::node::Node;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Who an action targets (empty fields match anything; at least user or client is set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Target {
    pub user: String,
    pub client: String,
    pub session: String,
}

/// An action on connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum ControlCommand {
    /// Server-side subscribe.
    Subscribe {
        target: Target,
        channel: String,
        info: Option<Vec<u8>>,
        data: Option<Vec<u8>>,
        expire_at: Option<i64>,
        recover_since: Option<(u64, String)>,
    },
    /// Server unsubscribe (2000).
    Unsubscribe { target: Target, channel: String },
    /// Disconnect with a code, except the whitelisted client ids.
    Disconnect {
        target: Target,
        whitelist: Vec<String>,
        code: u32,
        reason: String,
    },
    /// Connection refresh.
    Refresh {
        target: Target,
        expired: bool,
        expire_at: Option<i64>,
        info: Option<Vec<u8>>,
    },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    origin: String,
    cmd: ControlCommand,
}

impl ControlCommand {
    fn target(&self) -> &Target {
        match self {
            ControlCommand::Subscribe { target, .. }
            | ControlCommand::Unsubscribe { target, .. }
            | ControlCommand::Disconnect { target, .. }
            | ControlCommand::Refresh { target, .. } => target,
        }
    }

    /// Applies the action to this node's matching connections.
    pub(crate) fn apply(&self, node: &Node) {
        let t = self.target();
        for c in node.select(&t.user, &t.client, &t.session) {
            let control = match self {
                ControlCommand::Subscribe {
                    channel,
                    info,
                    data,
                    expire_at,
                    recover_since,
                    ..
                } => Control::Subscribe(Box::new(ServerSubscribe {
                    channel: channel.clone(),
                    info: info.clone().map(Bytes::from),
                    data: data.clone().map(Bytes::from),
                    expire_at: *expire_at,
                    recover_since: recover_since
                        .clone()
                        .map(|(offset, epoch)| StreamPosition { offset, epoch }),
                })),
                ControlCommand::Unsubscribe { channel, .. } => {
                    Control::Unsubscribe(channel.clone())
                }
                ControlCommand::Disconnect {
                    whitelist,
                    code,
                    reason,
                    ..
                } => {
                    if whitelist.contains(&c.client) {
                        continue;
                    }
                    Control::Disconnect(*code, reason.clone())
                }
                ControlCommand::Refresh {
                    expired,
                    expire_at,
                    info,
                    ..
                } => Control::Refresh {
                    expired: *expired,
                    expire_at: *expire_at,
                    info: info.clone().map(Bytes::from),
                },
            };
            c.control(control);
        }
    }

    /// Applies locally, then hands the action to the other nodes.
    pub(crate) fn run(self, node: &Node) {
        self.apply(node);
        node.broadcast_control(&self);
    }
}

/// Encodes an action from `origin` for the broker.
pub(crate) fn encode(origin: &str, cmd: &ControlCommand) -> Bytes {
    let env = Envelope {
        origin: origin.to_string(),
        cmd: cmd.clone(),
    };
    // Serialising plain data to JSON cannot fail.
    Bytes::from(serde_json::to_vec(&env).unwrap_or_default())
}

/// Decodes a broker control message: (origin node, action); None if it is not ours.
pub(crate) fn decode(data: &[u8]) -> Option<(String, ControlCommand)> {
    let env: Envelope = serde_json::from_slice(data).ok()?;
    Some((env.origin, env.cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_and_rejects_garbage() {
        let cmd = ControlCommand::Disconnect {
            target: Target {
                user: "u".into(),
                ..Default::default()
            },
            whitelist: vec!["c1".into()],
            code: 3503,
            reason: "force disconnect".into(),
        };
        let b = encode("node-1", &cmd);
        assert_eq!(decode(&b), Some(("node-1".to_string(), cmd)));
        assert_eq!(decode(b"ctl"), None);
        assert_eq!(decode(br#"{"origin":"x","cmd":{"op":"nope"}}"#), None);
    }
}
