//! `wowlab token`: mint HS256 connection or subscription JWTs (testing, operators).

use anyhow::{bail, Context};
use std::path::PathBuf;
use wowlab_beacon::auth::{mint_hs256, now_unix, ConnectionClaims, SubscriptionClaims};
use wowlab_beacon::config::Config;

/// Arguments of `wowlab token`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// User id (`sub` claim); empty for an anonymous connection.
    #[arg(long, short, default_value = "")]
    pub user: String,
    /// Lifetime in seconds (`exp` = now + ttl); 0 mints a token without expiry.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
    /// Mint a subscription token for this channel instead of a connection token.
    #[arg(long)]
    pub channel: Option<String>,
    /// Bind a subscription token to this client id.
    #[arg(long, requires = "channel")]
    pub client: Option<String>,
    /// Server-side channels for a connection token (`channels` claim); comma-separated.
    #[arg(long = "subscribe", value_delimiter = ',', conflicts_with = "channel")]
    pub channels: Vec<String>,
    /// JSON attached as connection (or channel) info.
    #[arg(long)]
    pub info: Option<String>,
    /// HMAC secret; by default the key of the beacon config (file or environment).
    #[arg(long, env = "WOWLAB_TOKEN_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Beacon config file to take the secret from.
    #[arg(long, short, env = "WOWLAB_BEACON_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Prints the minted token on stdout.
pub fn run(args: Args) -> anyhow::Result<()> {
    println!("{}", mint(&args)?);
    Ok(())
}

/// Mints the token described by `args`.
pub fn mint(args: &Args) -> anyhow::Result<String> {
    let secret = secret(args)?;
    let exp = (args.ttl > 0).then(|| now_unix() + args.ttl);
    let info = match &args.info {
        Some(s) => {
            Some(serde_json::from_str::<serde_json::Value>(s).context("--info must be JSON")?)
        }
        None => None,
    };
    let token = match &args.channel {
        Some(channel) => mint_hs256(
            &SubscriptionClaims {
                sub: args.user.clone(),
                channel: channel.clone(),
                client: args.client.clone().unwrap_or_default(),
                exp,
                info,
                ..Default::default()
            },
            &secret,
        ),
        None => mint_hs256(
            &ConnectionClaims {
                sub: args.user.clone(),
                exp,
                info,
                channels: args.channels.clone(),
                ..Default::default()
            },
            &secret,
        ),
    };
    token.context("signing token")
}

fn secret(args: &Args) -> anyhow::Result<String> {
    if let Some(s) = &args.secret {
        if s.is_empty() {
            bail!("--secret is empty");
        }
        return Ok(s.clone());
    }
    let config = match &args.config {
        Some(p) => Config::load(p).with_context(|| format!("loading {}", p.display()))?,
        None => Config::from_env().context("loading beacon config from environment")?,
    };
    let sub = &config.client.subscription_token;
    let key = if args.channel.is_some() && sub.enabled && !sub.hmac_secret_key.is_empty() {
        sub.hmac_secret_key.clone()
    } else {
        config.client.token.hmac_secret_key.clone()
    };
    if key.is_empty() {
        bail!("no HMAC secret: pass --secret, or --config with client.token.hmac_secret_key set");
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use wowlab_beacon::auth::TokenVerifier;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("token").chain(argv.iter().copied()))
            .expect("valid arguments")
            .args
    }

    #[test]
    fn connection_token_verifies_with_the_same_secret() {
        let args = parse(&[
            "--secret",
            "s3",
            "--user",
            "42",
            "--ttl",
            "60",
            "--subscribe",
            "news,#42",
            "--info",
            r#"{"name":"Ann"}"#,
        ]);
        let token = mint(&args).expect("mint");
        let claims = TokenVerifier::new("s3", "", "")
            .verify_connection(&token)
            .expect("valid");
        assert_eq!(claims.sub, "42");
        assert_eq!(claims.channels, ["news", "#42"]);
        assert_eq!(claims.info, Some(serde_json::json!({"name": "Ann"})));
        let exp = claims.exp.expect("exp");
        assert!((exp - now_unix() - 60).abs() <= 2, "{exp}");
        assert!(TokenVerifier::new("other", "", "")
            .verify_connection(&token)
            .is_err());
    }

    #[test]
    fn subscription_token_carries_channel_and_client() {
        let args = parse(&[
            "--secret",
            "s3",
            "--user",
            "42",
            "--channel",
            "$priv:x",
            "--client",
            "c1",
            "--ttl",
            "0",
        ]);
        let token = mint(&args).expect("mint");
        let claims = TokenVerifier::new("s3", "", "")
            .verify_subscription(&token)
            .expect("valid");
        assert_eq!(
            (
                claims.sub.as_str(),
                claims.channel.as_str(),
                claims.client.as_str()
            ),
            ("42", "$priv:x", "c1")
        );
        assert_eq!(claims.exp, None);
    }

    #[test]
    fn secret_comes_from_the_beacon_config() {
        let dir = std::env::temp_dir().join(format!("wowlab-token-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("beacon.json");
        std::fs::write(
            &path,
            r#"{"client":{"token":{"hmac_secret_key":"from-file"}}}"#,
        )
        .expect("write");
        let args = parse(&["--config", path.to_str().expect("utf8"), "--user", "7"]);
        let token = mint(&args).expect("mint");
        assert!(TokenVerifier::new("from-file", "", "")
            .verify_connection(&token)
            .is_ok());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_info_and_missing_secret_are_errors() {
        let args = parse(&["--secret", "s", "--info", "{not json"]);
        assert!(mint(&args)
            .unwrap_err()
            .to_string()
            .contains("--info must be JSON"));
        let args = parse(&["--secret", ""]);
        assert!(mint(&args).is_err());
    }
}
