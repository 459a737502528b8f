//! The signed client's retry policy on transport errors.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wowlab_api::signing::NodeKey;
use wowlab_node::{ClientError, RetryPolicy, SentinelClient};

/// A client of `urls` that retries 3 times with millisecond backoff.
fn quick_client(urls: &str) -> SentinelClient {
    SentinelClient::new(
        urls,
        NodeKey::from_seed(&[3; 32]),
        Duration::from_secs(2),
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(10),
            max: Duration::from_millis(20),
        },
    )
    .unwrap()
}

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
    let client = quick_client(&format!("http://{addr}"));
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

#[tokio::test]
async fn a_dead_sentinel_in_the_list_is_skipped_for_the_next_one() {
    // The first sentinel refuses connections (nothing listens); the second answers.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live_addr = live.local_addr().unwrap();
    let served = Arc::new(AtomicU32::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = live.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 64 * 1024];
            let _ = sock.read(&mut buf).await;
            let body = r#"{"leases":[]}"#;
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    let client = quick_client(&format!("http://{dead_addr}, http://{live_addr}/"));
    assert_eq!(
        client.base_url(),
        format!("http://{dead_addr},http://{live_addr}")
    );
    let resp = client.leases(1).await.unwrap();
    assert!(resp.leases.is_empty());
    assert_eq!(client.current_url(), format!("http://{live_addr}"));
    // Later calls stay on the live one.
    client.leases(1).await.unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 2);
}

#[test]
fn a_bad_url_anywhere_in_the_list_is_refused_up_front() {
    let err = SentinelClient::new(
        "http://127.0.0.1:1,not a url",
        NodeKey::from_seed(&[3; 32]),
        Duration::from_secs(1),
        RetryPolicy::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ClientError::Config(_)), "{err}");
}
