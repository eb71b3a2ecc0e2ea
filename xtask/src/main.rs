//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask test`: every check CI runs (`.ci/run` calls exactly this).
//! - `cargo xtask bench`: the benchmark binary in `rumor-tests`, arguments passed through.
//! - `cargo xtask demo`: the demo page and signaling server (arrives with later work).
//! - `cargo xtask wasm`: the npm package in `wasm/pkg/` (sizes in target/bench/wasm.json).

mod browser;
mod cmd;
mod prereq;
mod test;
mod wasm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status of a subcommand whose work has not been built yet.
const NOT_YET: u8 = 2;

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
    /// Run the benchmarks (writes target/bench/*.json); arguments go to the bench binary.
    Bench {
        /// Arguments passed unchanged to `rumor-tests`' `bench` binary.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Serve the demo page with a signaling server (not built yet).
    Demo,
    /// Build the npm package in wasm/pkg (wasm-bindgen --target web, wasm-opt -Oz).
    Wasm,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Test { only } => test::run(only.as_deref()).map(|()| ExitCode::SUCCESS),
        Command::Bench { args } => bench(&args),
        Command::Demo => Ok(not_yet(
            "the demo page and its signaling server arrive with later work; \
             `cargo xtask demo` will build and serve them then",
        )),
        Command::Wasm => wasm::build().map(|_| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|err| {
        eprintln!("xtask: error: {err:#}");
        ExitCode::FAILURE
    })
}

/// `cargo xtask bench`: run the bench binaries (rumor-tests' `bench`, then rumor-signal's
/// `signal-bench`) in release mode, then build the npm package to record its size
/// (target/bench/wasm.json); forward the exit status.
fn bench(args: &[String]) -> anyhow::Result<ExitCode> {
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
    if status.success() {
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
        return Ok(ExitCode::SUCCESS);
    }
    Ok(exit_code(status))
}

/// The exit status of a child as ours; a signal has no exit code and counts as a failure.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    let code = status.code().unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Explain that a subcommand is not built yet and return its exit status.
fn not_yet(what: &str) -> ExitCode {
    eprintln!("xtask: not available yet: {what}.");
    ExitCode::from(NOT_YET)
}
