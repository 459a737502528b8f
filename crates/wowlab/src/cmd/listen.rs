//! `wowlab listen CHANNEL`: subscribe through beacon and print publications (operators,
//! scripts). With `--json` every publication is one compact JSON line:
//! `{"channel":…,"offset":N,"data":<JSON>}` plus `"info":{"user","client"}` when the publisher
//! is a client; non-JSON payloads come as `"b64data"` instead of `"data"`.

use anyhow::{bail, Context};
use base64::Engine as _;
use std::io::Write;

use tokio::sync::broadcast::error::RecvError;
use wowlab_beacon::auth::{mint_hs256, now_unix, ConnectionClaims, SubscriptionClaims};
use wowlab_centrifuge::{
    Client, ClientConfig, ClientEvent, Protocol, Publication, SubscriptionConfig,
    SubscriptionEvent, TokenError,
};

/// Wire format of the connection.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum WireFormat {
    /// Protobuf (binary frames).
    Protobuf,
    /// JSON (text frames).
    Json,
}

/// Arguments of `wowlab listen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Channel to listen to.
    pub channel: String,
    /// Beacon WebSocket endpoint.
    #[arg(
        long,
        env = "WOWLAB_BEACON_URL",
        default_value = "ws://127.0.0.1:8000/connection/websocket"
    )]
    pub url: String,
    /// Connection token (else one is minted with --secret, else connect anonymously).
    #[arg(long, env = "WOWLAB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Subscription token for a private (`$`) channel.
    #[arg(long)]
    pub sub_token: Option<String>,
    /// HMAC secret used to mint (and refresh) connection and subscription tokens.
    #[arg(long, env = "WOWLAB_TOKEN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// User id of minted tokens.
    #[arg(long, default_value = "wowlab-listen")]
    pub user: String,
    /// Wire format.
    #[arg(long, value_enum, default_value = "protobuf")]
    pub format: WireFormat,
    /// Print one compact JSON object per publication.
    #[arg(long)]
    pub json: bool,
    /// Exit after this many publications.
    #[arg(long)]
    pub count: Option<u64>,
    /// Do not ask for recovery of publications missed during reconnects.
    #[arg(long)]
    pub no_recover: bool,
}

/// Runs until Ctrl-C, `--count` publications, or a terminal disconnect/unsubscribe.
pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut stdout = std::io::stdout();
        tokio::select! {
            r = listen(&args, &mut stdout) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}

/// Token lifetime of minted tokens; the client refreshes them before expiry.
const MINT_TTL: i64 = 3600;

fn mint_conn(secret: &str, user: &str) -> Result<String, TokenError> {
    let claims = ConnectionClaims {
        sub: user.into(),
        exp: Some(now_unix() + MINT_TTL),
        ..Default::default()
    };
    mint_hs256(&claims, secret).map_err(|e| TokenError::Failed(e.to_string()))
}

fn mint_sub(secret: &str, user: &str, channel: &str) -> Result<String, TokenError> {
    let claims = SubscriptionClaims {
        sub: user.into(),
        channel: channel.into(),
        exp: Some(now_unix() + MINT_TTL),
        ..Default::default()
    };
    mint_hs256(&claims, secret).map_err(|e| TokenError::Failed(e.to_string()))
}

/// Subscribes and writes publications to `out`.
pub async fn listen(args: &Args, out: &mut (impl Write + Send)) -> anyhow::Result<()> {
    let protocol = match args.format {
        WireFormat::Protobuf => Protocol::Protobuf,
        WireFormat::Json => Protocol::Json,
    };
    let mut cfg = ClientConfig::new(&args.url)
        .protocol(protocol)
        .name("wowlab-listen");
    if let Some(t) = &args.token {
        cfg = cfg.token(t);
    }
    if let Some(secret) = args.secret.clone() {
        let user = args.user.clone();
        cfg = cfg.get_token(move || {
            let r = mint_conn(&secret, &user);
            async move { r }
        });
    }
    let client = Client::new(cfg);
    let mut sub_cfg = SubscriptionConfig::default().recoverable(!args.no_recover);
    if let Some(t) = &args.sub_token {
        sub_cfg = sub_cfg.token(t);
    } else if let (Some(secret), true) = (args.secret.clone(), args.channel.starts_with('$')) {
        let user = args.user.clone();
        sub_cfg = sub_cfg.get_token(move |channel| {
            let r = mint_sub(&secret, &user, &channel);
            async move { r }
        });
    }
    let sub = client
        .new_subscription(&args.channel, sub_cfg)
        .context("creating subscription")?;
    let mut sub_events = sub.events();
    let mut client_events = client.events();
    sub.subscribe()?;
    client.connect();

    let mut printed = 0u64;
    if args.count == Some(0) {
        return Ok(());
    }
    loop {
        tokio::select! {
            ev = sub_events.recv() => match ev {
                Ok(SubscriptionEvent::Publication(p)) => {
                    write_publication(out, &args.channel, &p, args.json)?;
                    printed += 1;
                    if args.count.is_some_and(|n| printed >= n) {
                        client.disconnect().await;
                        return Ok(());
                    }
                }
                Ok(SubscriptionEvent::Subscribed(info)) => tracing::info!(
                    channel = %info.channel, recovered = info.recovered, was_recovering = info.was_recovering, "subscribed"
                ),
                Ok(SubscriptionEvent::Subscribing { code, reason }) => tracing::info!(code, %reason, "subscribing"),
                Ok(SubscriptionEvent::Unsubscribed { code, reason }) => {
                    bail!("unsubscribed from {}: {code} {reason}", args.channel)
                }
                Ok(SubscriptionEvent::Error(e)) => tracing::warn!("subscription error: {e}"),
                Ok(SubscriptionEvent::Join(_) | SubscriptionEvent::Leave(_)) => {}
                Err(RecvError::Lagged(n)) => tracing::warn!("skipped {n} events: output too slow"),
                Err(RecvError::Closed) => bail!("client stopped"),
            },
            ev = client_events.recv() => match ev {
                Ok(ClientEvent::Disconnected { code, reason }) => bail!("disconnected: {code} {reason}"),
                Ok(ClientEvent::Connecting { code, reason }) => tracing::info!(code, %reason, "connecting"),
                Ok(ClientEvent::Connected { client, .. }) => tracing::info!(%client, "connected"),
                Ok(ClientEvent::Error(e)) => tracing::warn!("{e}"),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => bail!("client stopped"),
            },
        }
    }
}

/// Writes one publication line (JSON or text) and flushes.
fn write_publication(
    out: &mut impl Write,
    channel: &str,
    p: &Publication,
    json: bool,
) -> anyhow::Result<()> {
    let data = serde_json::from_slice::<serde_json::Value>(&p.data).ok();
    if json {
        let mut line = format!(
            "{{\"channel\":{},\"offset\":{}",
            serde_json::to_string(channel)?,
            p.offset
        );
        match &data {
            Some(v) => line.push_str(&format!(",\"data\":{}", serde_json::to_string(v)?)),
            None => line.push_str(&format!(
                ",\"b64data\":\"{}\"",
                base64::engine::general_purpose::STANDARD.encode(&p.data)
            )),
        }
        if let Some(info) = &p.info {
            line.push_str(&format!(
                ",\"info\":{{\"user\":{},\"client\":{}}}",
                serde_json::to_string(&info.user)?,
                serde_json::to_string(&info.client)?
            ));
        }
        line.push('}');
        writeln!(out, "{line}")?;
    } else {
        let body = match &data {
            Some(v) => serde_json::to_string(v)?,
            None => format!(
                "base64:{}",
                base64::engine::general_purpose::STANDARD.encode(&p.data)
            ),
        };
        writeln!(out, "{channel} offset={} {body}", p.offset)?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use wowlab_centrifuge::ClientInfo;

    fn pub_with(data: &[u8], offset: u64, user: Option<&str>) -> Publication {
        Publication {
            data: data.to_vec().into(),
            offset,
            info: user.map(|u| ClientInfo {
                user: u.into(),
                client: "c1".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn line(p: &Publication, json: bool) -> String {
        let mut out = Vec::new();
        write_publication(&mut out, "chat", p, json).expect("write");
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn json_lines_are_compact_and_stable() {
        assert_eq!(
            line(&pub_with(b"{ \"n\" :\n 1 }", 5, None), true),
            "{\"channel\":\"chat\",\"offset\":5,\"data\":{\"n\":1}}\n"
        );
        assert_eq!(
            line(&pub_with(b"\"x\"", 0, Some("42")), true),
            "{\"channel\":\"chat\",\"offset\":0,\"data\":\"x\",\"info\":{\"user\":\"42\",\"client\":\"c1\"}}\n"
        );
        assert_eq!(
            line(&pub_with(&[0, 1, 2], 1, None), true),
            "{\"channel\":\"chat\",\"offset\":1,\"b64data\":\"AAEC\"}\n"
        );
        assert_eq!(
            line(&pub_with(b"[1, 2]", 3, None), false),
            "chat offset=3 [1,2]\n"
        );
    }

    #[tokio::test]
    async fn listen_prints_publications_from_beacon() {
        let cfg = wowlab_beacon::config::Config::from_json_str(
            &serde_json::json!({
                "client": {"token": {"hmac_secret_key": "s"}},
                "channel": {"without_namespace": {"allow_subscribe_for_client": true, "history_size": 10, "history_ttl": "60s", "force_recovery": true}}
            })
            .to_string(),
        )
        .expect("config");
        let beacon = wowlab_beacon::Beacon::new(cfg).expect("beacon");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let b = beacon.clone();
        tokio::spawn(async move { b.serve(listener).await });
        for format in [WireFormat::Json, WireFormat::Protobuf] {
            let channel = format!("feed{format:?}");
            let args = Args {
                channel: channel.clone(),
                url: format!("ws://{addr}/connection/websocket"),
                token: None,
                sub_token: None,
                secret: Some("s".into()),
                user: "ops".into(),
                format,
                json: true,
                count: Some(2),
                no_recover: false,
            };
            let publisher = beacon.clone();
            let ch = channel.clone();
            let publish = tokio::spawn(async move {
                while publisher.channels(&ch).is_empty() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                publisher.publish(&ch, r#"{"n":1}"#).await.expect("publish");
                publisher.publish(&ch, r#"{"n":2}"#).await.expect("publish");
            });
            let mut out = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), listen(&args, &mut out))
                .await
                .expect("finishes after 2 publications")
                .expect("listen ok");
            publish.await.expect("publisher");
            assert_eq!(
                String::from_utf8(out).expect("utf8"),
                format!(
                    "{{\"channel\":\"{channel}\",\"offset\":1,\"data\":{{\"n\":1}}}}\n{{\"channel\":\"{channel}\",\"offset\":2,\"data\":{{\"n\":2}}}}\n"
                )
            );
        }
        beacon.shutdown();
    }
}
