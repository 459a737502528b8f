//! A standalone node serves its own Prometheus metrics next to `/status`.

mod support;

use support::*;
use wowlab_api::JobId;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standalone_node_serves_prometheus_metrics() {
    // First in this process, as in `wowlab node` where no beacon runs.
    assert!(wowlab_node::status::install_metrics());
    let grid = Grid::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = grid.node_config(dir.path(), true);
    cfg.status_addr = Some("127.0.0.1:0".parse().unwrap());
    let node = grid.node(cfg).start().await.unwrap();
    let id = wait_for("registered", || node.status().snapshot().node_id).await;
    grid.wait_online(id).await;
    grid.push_lease(id, grid.lease(JobId::new(), 0, 0..25, 2))
        .await;
    wait_for("result", || {
        (grid.lock().completes.len() == 1).then_some(())
    })
    .await;
    // The fake sentinel records the result before the node has read its reply and counted
    // the chunk: poll until the counter shows it (it is exported at 0 from the start, so
    // the line alone does not say the chunk was counted).
    let addr = node.status_addr().unwrap();
    let mut text = String::new();
    for _ in 0..200 {
        let (code, body) = http_get(addr, "/metrics").await;
        assert_eq!(code, 200);
        text = body;
        if text.contains("wowlab_node_chunks_total{outcome=\"completed\"} 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_node_metrics(&text, true);
    node.shutdown();
    node.wait().await.unwrap();
}
