//! `cargo xtask demo`: build the npm package (as `cargo xtask wasm`) and rumor-signal (dev
//! profile), serve the demo page from `www/` and the package from `wasm/pkg/`, and print the
//! URL to open.
//!
//! The server runs as a child of xtask. Ctrl-C in the terminal reaches both (same process
//! group) and the server shuts down gracefully. So that the server never outlives xtask when
//! xtask alone is stopped (`kill PID`, even `kill -9`), a small watchdog (`sh` with `cat`)
//! reads a pipe held only by xtask: when xtask dies the pipe closes and the watchdog sends
//! the server SIGINT. (The workspace forbids `unsafe`, so xtask installs no signal handler.)

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{cmd, exit_code, wasm};

/// Runs the demo until the server exits; see the module docs.
pub fn run(listen: SocketAddr, extra: &[String]) -> Result<ExitCode> {
    wasm::build()?;
    println!("==> cargo build -p rumor-signal");
    let mut build = cmd::cargo();
    build.args(["build", "-p", "rumor-signal", "--bin", "rumor-signal"]);
    cmd::run(&mut build)?;
    let root = cmd::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug/rumor-signal");
    let mut server = Command::new(&bin);
    server
        .current_dir(&root)
        .arg("--listen")
        .arg(listen.to_string())
        .arg("--www-dir")
        .arg(root.join("www"))
        .arg("--pkg-dir")
        .arg(root.join("wasm/pkg"))
        .args(extra)
        .stdin(Stdio::null());
    println!("==> {}", cmd::display(&server));
    let mut child = server
        .spawn()
        .with_context(|| format!("could not start {}", bin.display()))?;
    let mut watchdog = spawn_watchdog(child.id())?;
    let result = wait_ready(&mut child, listen).map(|ready| {
        if ready {
            let host = if listen.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                listen.ip().to_string()
            };
            let host = if listen.is_ipv6() && !listen.ip().is_unspecified() {
                format!("[{host}]")
            } else {
                host
            };
            println!();
            println!("    open http://{host}:{}/#lobby", listen.port());
            println!("    (the part after # is the room; open it in several tabs; Ctrl-C stops)");
            println!();
        }
    });
    let status = match result {
        Ok(()) => child.wait().context("waiting for rumor-signal"),
        Err(err) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(err)
        }
    };
    // The server is gone: stop the watchdog before its pipe closes, so it sends nothing.
    let _ = watchdog.kill();
    let _ = watchdog.wait();
    Ok(exit_code(status?))
}

/// `sh` that waits for EOF on its stdin (a pipe whose write end only xtask holds), then
/// sends SIGINT to `pid`.
fn spawn_watchdog(pid: u32) -> Result<Child> {
    Command::new("sh")
        .args([
            "-c",
            "cat >/dev/null; kill -INT \"$1\" 2>/dev/null",
            "rumor-demo-watchdog",
        ])
        .arg(pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("could not start the watchdog (sh)")
}

/// Waits until the server accepts TCP connections on `listen` (true), or exits (false).
fn wait_ready(child: &mut Child, listen: SocketAddr) -> Result<bool> {
    let mut probe = listen;
    if probe.ip().is_unspecified() {
        probe.set_ip(if listen.is_ipv6() {
            std::net::Ipv6Addr::LOCALHOST.into()
        } else {
            std::net::Ipv4Addr::LOCALHOST.into()
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(false);
        }
        if TcpStream::connect_timeout(&probe, Duration::from_millis(200)).is_ok() {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("rumor-signal did not accept connections on {listen} within 30 s")
}
