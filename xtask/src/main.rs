//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask test`: every check CI runs (`.ci/run` calls exactly this).
//! - `cargo xtask bench`: the benchmark binary in `rumor-tests`, the signaling server's,
//!   the npm package's size, then the browser figures (many tabs of the demo page);
//!   `cargo xtask bench e2e [TABS...]` runs only the browser figures (30 and 100 tabs, or
//!   the counts given), `cargo xtask bench idle` where idle tabs spend their CPU
//!   (tests/js/idle.mjs), other arguments only the simulator benchmarks they select.
//! - `cargo xtask demo`: builds the npm package and rumor-signal, serves the demo page.
//! - `cargo xtask wasm`: the npm package in `wasm/pkg/` (sizes in target/bench/wasm.json).
//! - `cargo xtask tabs`: only the many-tab tests of the demo page (tests/js/tabs.mjs, 30
//!   tabs), which `test` runs last.

mod browser;
mod cmd;
mod demo;
mod prereq;
mod test;
mod wasm;
mod wasm_sizes;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command line of `cargo xtask`.
#[derive(Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    about = "Rumor project automation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands of `cargo xtask`.
#[derive(Subcommand)]
enum Command {
    /// Run every check CI runs: fmt, clippy (native and wasm), wasm build, tests,
    /// browser tests.
    Test {
        /// Run only the steps whose command line contains this text (e.g. `rumor-wasm`).
        #[arg(long)]
        only: Option<String>,
    },
    /// Run the benchmarks (writes target/bench/*.json). `cargo xtask bench e2e [TABS...]`
    /// runs only the browser figures (target/bench/e2e.json; 30 and 100 tabs unless tab
    /// counts follow; `--profile-from K` also profiles the first tab's main thread while
    /// tab K and later open); `cargo xtask bench idle [--tabs N] [--page demo,demo=DIR,bare,bare=DIR]` where idle
    /// tabs spend their CPU (target/bench/idle.json, not part of the full bench); other
    /// arguments go to the simulator bench binary and run only what they select
    /// (`broadcast`, `membership`, `--n N`, `--rumor-only`, `--others-only`, `--seed N`).
    Bench {
        /// Arguments passed unchanged to `rumor-tests`' `bench` binary (or `e2e`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the npm package and rumor-signal, then serve the demo page (www/) and the
    /// package (/pkg/) until Ctrl-C.
    Demo {
        /// Address rumor-signal listens on (HTTP and WebSocket).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// More rumor-signal flags, after `--` (e.g. `-- --rtc-ip 192.168.1.10`).
        #[arg(last = true)]
        server_args: Vec<String>,
    },
    /// Build the npm package in wasm/pkg (wasm-bindgen --target web, wasm-opt -Oz).
    Wasm {
        /// Then print where the bytes go: code size by crate and the largest functions.
        #[arg(long)]
        sizes: bool,
    },
    /// The many-tab tests of the demo page with 30 tabs (tests/js/tabs.mjs: joins, reload,
    /// server restart, screenshot) alone; `test` runs them last.
    Tabs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Test { only } => test::run(only.as_deref()).map(|()| ExitCode::SUCCESS),
        Command::Bench { args } => bench(&args),
        Command::Demo {
            listen,
            server_args,
        } => demo::run(listen, &server_args),
        Command::Wasm { sizes } => wasm::build()
            .and_then(|_| if sizes { wasm::size_report() } else { Ok(()) })
            .map(|_| ExitCode::SUCCESS),
        Command::Tabs => browser::run_tabs_tests(30).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|err| {
        eprintln!("xtask: error: {err:#}");
        ExitCode::FAILURE
    })
}

/// `cargo xtask bench`: run the bench binaries (rumor-tests' `bench`, then rumor-signal's
/// `signal-bench`) in release mode, then build the npm package to record its size
/// (target/bench/wasm.json), then the browser figures: 30 and 100 tabs of the demo page
/// (target/bench/e2e.json); forward the exit status. `bench e2e [TABS...] [--profile-from
/// K]`: the browser figures only (with the tab counts given, 30 and 100 by default; with
/// `--profile-from`, the first tab's main thread profiled from tab K on); `bench idle [ARGS]`:
/// tests/js/idle.mjs with ARGS (where idle tabs spend their CPU);
/// with any other arguments (a selection such as `broadcast --n 1000`), only the simulator
/// benchmarks they select.
fn bench(args: &[String]) -> anyhow::Result<ExitCode> {
    if args.first().is_some_and(|a| a == "idle") {
        wasm::build()?;
        browser::run_idle_bench(&args[1..])?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.first().is_some_and(|a| a == "e2e") {
        let mut counts = Vec::new();
        let mut profile_from = None;
        let mut rest = args[1..].iter();
        while let Some(a) = rest.next() {
            if a == "--profile-from" {
                match rest.next().map(|k| (k, k.parse::<u32>())) {
                    Some((k, Ok(_))) => profile_from = Some(k.clone()),
                    _ => anyhow::bail!("`--profile-from` takes a tab number (such as 25)"),
                }
            } else if a.parse::<u32>().is_ok_and(|n| n > 0) {
                counts.push(a.clone());
            } else {
                anyhow::bail!(
                    "`bench e2e` takes tab counts (such as `bench e2e 100`) and \
                     `--profile-from K`, not {a:?}"
                );
            }
        }
        let tabs = if counts.is_empty() {
            "30,100".to_string()
        } else {
            counts.join(",")
        };
        wasm::build()?;
        browser::run_e2e_bench(&tabs, profile_from.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut command = cmd::cargo();
    command.args([
        "run",
        "--release",
        "-p",
        "rumor-tests",
        "--bin",
        "bench",
        "--",
    ]);
    command.args(args);
    let status = cmd::status(&mut command)?;
    if status.success() && args.is_empty() {
        // The signaling server's capacity (target/bench/signal.json), loopback only.
        let mut signal = cmd::cargo();
        signal.args([
            "run",
            "--release",
            "-p",
            "rumor-signal",
            "--bin",
            "signal-bench",
        ]);
        let status = cmd::status(&mut signal)?;
        if !status.success() {
            return Ok(exit_code(status));
        }
        // The npm package's size (target/bench/wasm.json).
        wasm::build()?;
        // Many tabs of the demo page in headless Chromium (target/bench/e2e.json).
        browser::run_e2e_bench("30,100", None)?;
        return Ok(ExitCode::SUCCESS);
    }
    Ok(exit_code(status))
}

/// The exit status of a child as ours; a signal has no exit code and counts as a failure.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    let code = status.code().unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
