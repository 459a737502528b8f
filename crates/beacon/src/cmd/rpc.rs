//! `rpc`: no RPC proxy exists, so 108 "not available" unless the built-in ping method is on.

use crate::session::{CmdError, CmdResult, Session};
use wowlab_protocol::codes::error;
use wowlab_protocol::proto::{Reply, RpcRequest, RpcResult};

pub(crate) async fn handle(s: &mut Session, req: RpcRequest) -> CmdResult {
    let ping = &s.node.config.rpc.ping;
    if ping.enabled && req.method == ping.method {
        return Ok(Some(Reply {
            rpc: Some(RpcResult::default()),
            ..Default::default()
        }));
    }
    Err(CmdError::Error(error::NOT_AVAILABLE))
}
