//! `wowlab version`.

/// Prints the binary's version.
pub fn run() -> anyhow::Result<()> {
    println!("wowlab {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
