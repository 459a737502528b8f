//! `wowlab`: the one binary of WowLab Grid. It only parses the command line and wires roles;
//! every role lives in its own library crate.

mod cmd;
mod grid;
mod logging;
mod report;

use clap::{Parser, Subcommand};

/// WowLab Grid: a self-hostable realtime distributed simulation grid.
#[derive(Debug, Parser)]
#[command(name = "wowlab", version, about)]
struct Cli {
    /// Log format for stderr.
    #[arg(long, global = true, env = "WOWLAB_LOG_FORMAT", default_value = "text")]
    log_format: logging::LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the realtime server (Centrifugo-v6-compatible).
    Beacon(cmd::beacon::Args),
    /// Run a simulation profile locally on all cores.
    Sim(cmd::sim::Args),
    /// Mint an HS256 connection or subscription token for beacon.
    Token(cmd::token::Args),
    /// Subscribe to a beacon channel and print its publications.
    Listen(cmd::listen::Args),
    /// Run a compute node that contributes this machine to a grid.
    Node(cmd::node::Args),
    /// Create (on first use) and print the node's public key.
    Keygen(cmd::keygen::Args),
    /// Run a profile on a grid (embedded in-process, or a remote one with --sentinel).
    Run(cmd::run::Args),
    /// Run the control plane alone against an external beacon.
    Sentinel(Box<cmd::sentinel::Args>),
    /// Generate an operator-mode trust chain for the tunnel's NATS server (scoped node
    /// credentials).
    TunnelNatsInit(cmd::tunnel_nats_init::Args),
    /// Run the whole grid (beacon, sentinel, nodes) in one process with zero configuration.
    Up(cmd::up::Args),
    /// Print version and build information.
    Version,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cmd::completions::CompletionArgs),
    /// Print the man page (or write one per command with --dir).
    Man(cmd::completions::ManArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Interactive one-shot commands keep stderr for their progress bar: only warnings by default.
    let default_level = match cli.command {
        Command::Run(_)
        | Command::Sim(_)
        | Command::Listen(_)
        | Command::Token(_)
        | Command::TunnelNatsInit(_)
        | Command::Completions(_)
        | Command::Man(_) => "warn",
        _ => "info",
    };
    logging::init(cli.log_format, default_level);
    match cli.command {
        Command::Version => cmd::version::run(),
        Command::Completions(args) => cmd::completions::completions::<Cli>(args),
        Command::Man(args) => cmd::completions::man::<Cli>(args),
        Command::Up(args) => cmd::up::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Sentinel(args) => cmd::sentinel::run(*args),
        Command::Node(args) => cmd::node::run(args),
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Sim(args) => cmd::sim::run(args),
        Command::Beacon(args) => cmd::beacon::run(args),
        Command::Token(args) => cmd::token::run(args),
        Command::Listen(args) => cmd::listen::run(args),
        Command::TunnelNatsInit(args) => cmd::tunnel_nats_init::run(args),
    }
}
