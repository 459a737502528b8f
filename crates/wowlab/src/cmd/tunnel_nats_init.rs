//! `wowlab tunnel-nats-init`: a fresh operator-mode trust chain for the tunnel's NATS server
//! (operator, system account, tunnel account with a signing key), so nodes get credentials
//! scoped to their own subjects. Writes the server config fragment (public material) and the
//! signing seed (a secret, mode 0600); prints the sentinel flags.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use wowlab_tunnel::creds::{now_ms, OperatorSetup};

/// Server config fragment written into `--dir`.
pub const CONFIG_FILE: &str = "tunnel-nats-operator.conf";
/// Signing seed written into `--dir`.
pub const SEED_FILE: &str = "tunnel-signing.seed";
/// Account public key written into `--dir`.
pub const ACCOUNT_FILE: &str = "tunnel-account.pub";

/// Arguments of `wowlab tunnel-nats-init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write into (created; existing files are not overwritten).
    #[arg(long)]
    pub dir: PathBuf,
}

/// Generates the keys and writes the three files.
pub fn run(args: Args) -> anyhow::Result<()> {
    let setup = OperatorSetup::generate(now_ms()).context("generating keys")?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    write_new(&args.dir.join(CONFIG_FILE), &setup.server_config, 0o644)?;
    write_new(
        &args.dir.join(SEED_FILE),
        &format!("{}\n", setup.signing_seed),
        0o600,
    )?;
    write_new(
        &args.dir.join(ACCOUNT_FILE),
        &format!("{}\n", setup.account),
        0o644,
    )?;
    println!(
        "nats-server: `include {config}` in its config (operator mode, memory resolver;\n\
         \x20            include paths are relative to the including file)\n\
         sentinel:    --tunnel-nats-account {account} --tunnel-nats-signing-key-file {seed}",
        config = args.dir.join(CONFIG_FILE).display(),
        account = setup.account,
        seed = args.dir.join(SEED_FILE).display(),
    );
    Ok(())
}

fn write_new(path: &std::path::Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
