//! The signed client's retry policy on transport errors.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wowlab_api::signing::NodeKey;
use wowlab_node::{ClientError, RetryPolicy, SentinelClient};

#[tokio::test]
async fn connection_resets_are_retried_then_reported_as_transport_errors() {
    // A server that accepts and immediately closes every connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicU32::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(sock);
        }
    });
    let client = SentinelClient::new(
        &format!("http://{addr}"),
        NodeKey::from_seed(&[3; 32]),
        Duration::from_secs(2),
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(10),
            max: Duration::from_millis(20),
        },
    )
    .unwrap();
    let err = client.leases(1).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[test]
fn bad_sentinel_urls_are_refused_up_front() {
    let key = || NodeKey::from_seed(&[3; 32]);
    let err = SentinelClient::new(
        "not a url",
        key(),
        Duration::from_secs(1),
        RetryPolicy::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ClientError::Config(_)), "{err}");
}
