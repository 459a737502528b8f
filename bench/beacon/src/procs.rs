//! Child processes of the bench (beacon, nats-server): free ports, readiness, RSS, stopping.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::{Child, Command};

/// A free TCP port on loopback (bind 0, read back, release).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("bind a loopback port")?;
    Ok(l.local_addr()?.port())
}

/// Resident set size of a process in KiB, from /proc/<pid>/status.
pub fn rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS:")
}

/// Anonymous resident memory (heap, stacks; not the executable's pages) in KiB.
pub fn rss_anon_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "RssAnon:")
}

/// A `kB` field of /proc/<pid>/status.
fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} line"))?;
    let kib = line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("malformed {field} line"))?;
    Ok(kib.parse()?)
}

/// User + system CPU a process has used so far, in clock ticks, from /proc/<pid>/stat
/// (`"self"` for this process).
pub fn cpu_ticks(pid: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = f.get(11).context("no utime")?.parse()?;
    let stime: u64 = f.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless configured otherwise).
pub fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// Poll `path` until it contains `needle`, the child exits, or `timeout` passes.
async fn wait_for_log(
    child: &mut Child,
    path: &Path,
    needle: &str,
    timeout: Duration,
) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains(needle)) {
            return Ok(line.to_string());
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "process exited ({status}) before logging '{needle}'; log {}:\n{}",
                path.display(),
                tail(&log)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "no '{needle}' within {timeout:?}; log {}:\n{}",
                path.display(),
                tail(&log)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn log_file(path: &Path) -> Result<(std::fs::File, std::fs::File)> {
    let f = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let g = f.try_clone()?;
    Ok((f, g))
}

/// NATS and Redis servers a beacon of the two-instance variant uses.
pub struct Engines {
    pub nats_url: String,
    pub redis_url: String,
}

/// A running `wowlab beacon` child; killed on drop if not stopped.
pub struct Beacon {
    child: Child,
    port: u16,
}

impl Beacon {
    /// Start `wowlab beacon --config CONFIG` on a free port and wait for "beacon listening on".
    pub async fn spawn(wowlab: &Path, config: &Path, log: &Path) -> Result<Self> {
        Self::spawn_with(wowlab, config, log, None).await
    }

    /// Like [`Beacon::spawn`], with `--nats-url` / `--redis-url` when `engines` is given.
    pub async fn spawn_with(
        wowlab: &Path,
        config: &Path,
        log: &Path,
        engines: Option<&Engines>,
    ) -> Result<Self> {
        let port = free_port()?;
        let (out, err) = log_file(log)?;
        let mut cmd = Command::new(wowlab);
        cmd.arg("beacon").arg("--config").arg(config);
        if let Some(e) = engines {
            cmd.arg("--nats-url")
                .arg(&e.nats_url)
                .arg("--redis-url")
                .arg(&e.redis_url);
        }
        let mut child = cmd
            .env("WOWLAB_BEACON_HTTP_SERVER_PORT", port.to_string())
            .env(
                "RUST_LOG",
                std::env::var("BENCH_BEACON_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", wowlab.display()))?;
        wait_for_log(
            &mut child,
            log,
            "beacon listening on",
            Duration::from_secs(30),
        )
        .await?;
        Ok(Self { child, port })
    }

    /// WebSocket endpoint of this beacon.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/connection/websocket", self.port)
    }

    /// OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Kill and reap.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A running nats-server with its WebSocket listener; killed on drop if not stopped.
pub struct Nats {
    child: Child,
    port: u16,
    ws_port: u16,
}

impl Nats {
    /// Start nats-server on loopback with `websocket { no_tls: true }` and wait until it listens.
    pub async fn spawn(bin: &str, dir: &Path) -> Result<Self> {
        Self::spawn_named(bin, dir, "nats-bench", "").await
    }

    /// Two nats-servers routed into one cluster; returns once both see their route.
    pub async fn spawn_cluster(bin: &str, dir: &Path) -> Result<(Self, Self)> {
        let (r1, r2) = (free_port()?, free_port()?);
        let cluster = |me: u16, peer: u16| {
            format!(
                "cluster {{\n  name: bench\n  listen: 127.0.0.1:{me}\n  routes: [nats-route://127.0.0.1:{peer}]\n}}\n"
            )
        };
        let n1 = Self::spawn_named(bin, dir, "nats-cluster-1", &cluster(r1, r2)).await?;
        let mut n2 = Self::spawn_named(bin, dir, "nats-cluster-2", &cluster(r2, r1)).await?;
        let log = dir.join("nats-cluster-2.log");
        wait_for_log(
            &mut n2.child,
            &log,
            "Route connection created",
            Duration::from_secs(15),
        )
        .await?;
        // Interest propagates over the route: give it a moment before subscribers connect.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok((n1, n2))
    }

    async fn spawn_named(bin: &str, dir: &Path, name: &str, extra: &str) -> Result<Self> {
        let port = free_port()?;
        let ws_port = free_port()?;
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "listen: 127.0.0.1:{port}\nmax_payload: 1048576\nwebsocket {{\n  host: 127.0.0.1\n  port: {ws_port}\n  no_tls: true\n}}\n{extra}"
            ),
        )?;
        let log = dir.join(format!("{name}.log"));
        let (out, err) = log_file(&log)?;
        let mut child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {bin} (install the Debian package nats-server)"))?;
        wait_for_log(&mut child, &log, "Server is ready", Duration::from_secs(15)).await?;
        Ok(Self {
            child,
            port,
            ws_port,
        })
    }

    /// OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Client URL (for beacon's NATS broker).
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// WebSocket endpoint of this nats-server.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.ws_port)
    }

    /// Kill and reap.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A running redis-server without persistence; killed on drop if not stopped.
pub struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Start redis-server on a free loopback port and wait until it accepts connections.
    pub async fn spawn(bin: &str, dir: &Path) -> Result<Self> {
        let port = free_port()?;
        let log = dir.join("redis-server.log");
        let (out, err) = log_file(&log)?;
        let mut child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {bin} (install the Debian package redis-server)"))?;
        wait_for_log(
            &mut child,
            &log,
            "Ready to accept connections",
            Duration::from_secs(15),
        )
        .await?;
        Ok(Self { child, port })
    }

    /// Client URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kill and reap.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `nats-server --version` output, for the report.
pub async fn nats_version(bin: &str) -> String {
    match Command::new(bin).arg("--version").output().await {
        Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Err(_) => "unknown".into(),
    }
}
