//! Subscribe to a channel and print publications.
//!
//! `cargo run -p wowlab-centrifuge --example subscribe -- ws://127.0.0.1:8000/connection/websocket <token> <channel>`
//! (mint a token with `wowlab token --secret <key> --user 42`).

use std::time::Duration;
use wowlab_centrifuge::{Client, ClientConfig, SubscriptionConfig, SubscriptionEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(token), Some(channel)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: subscribe <ws-url> <token> <channel>");
        std::process::exit(2);
    };
    let client = Client::new(ClientConfig::new(url).token(token));
    let sub = client.new_subscription(channel, SubscriptionConfig::default().recoverable(true))?;
    let mut events = sub.events();
    sub.subscribe()?;
    client.connect();
    client.ready(Duration::from_secs(10)).await?;
    while let Ok(ev) = events.recv().await {
        match ev {
            SubscriptionEvent::Publication(p) => {
                println!("offset={} {}", p.offset, String::from_utf8_lossy(&p.data))
            }
            SubscriptionEvent::Unsubscribed { code, reason } => {
                eprintln!("unsubscribed: {code} {reason}");
                break;
            }
            other => eprintln!("{other:?}"),
        }
    }
    Ok(())
}
