//! `wowlab keygen`: create (on first use) and print the node's public key.

use std::path::PathBuf;

use anyhow::Context;
use wowlab_node::config::default_data_dir;
use wowlab_node::identity;

/// Arguments of `wowlab keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of the node key (default: WOWLAB_NODE_DATA_DIR or $XDG_DATA_HOME/wowlab/node).
    #[arg(long, env = "WOWLAB_NODE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Loads or creates the key and prints its public half (standard base64) on stdout.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = args.data_dir.unwrap_or_else(default_data_dir);
    let (key, created) = identity::load_or_create_key(&dir)
        .with_context(|| format!("node key in {}", dir.display()))?;
    if created {
        eprintln!("created {}", dir.join(identity::KEY_FILE).display());
    }
    println!("{}", key.public_base64());
    Ok(())
}
