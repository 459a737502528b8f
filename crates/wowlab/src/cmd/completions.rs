//! `wowlab completions SHELL` and `wowlab man`: shell completion scripts and roff man pages,
//! generated from the same clap definitions the binary parses with, so they never drift.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

/// Arguments of `wowlab completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// Shell to complete for (bash, zsh, fish, elvish, powershell).
    pub shell: Shell,
}

/// Arguments of `wowlab man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `wowlab.1` and one `wowlab-COMMAND.1` per command into this directory instead of
    /// printing `wowlab.1` to stdout.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell`.
pub fn completions<C: CommandFactory>(args: CompletionArgs) -> anyhow::Result<()> {
    let mut cmd = C::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "wowlab", &mut out);
    out.flush()?;
    Ok(())
}

/// Prints (or writes) the man pages.
pub fn man<C: CommandFactory>(args: ManArgs) -> anyhow::Result<()> {
    let cmd = C::command();
    match args.dir {
        None => {
            let mut out = std::io::stdout().lock();
            let written = clap_mangen::Man::new(cmd)
                .render(&mut out)
                .and_then(|()| out.flush());
            match written {
                // `wowlab man | head` closing the pipe early is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other?,
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("writing man pages to {}", dir.display()))?;
        }
    }
    Ok(())
}
