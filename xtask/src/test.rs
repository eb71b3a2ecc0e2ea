//! `cargo xtask test`: the checks CI runs, in order, failing fast.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::prereq::{Prereq, WASM_TARGET};
use crate::{browser, cmd};

/// One step of `cargo xtask test`: a command and what it needs installed.
struct Step {
    /// The program; `cargo` means the cargo that launched `cargo xtask`.
    program: &'static str,
    /// Its arguments.
    args: &'static [&'static str],
    /// Prerequisites installed (if missing) before any step runs.
    needs: &'static [Prereq],
    /// When set, this function runs instead of the command (`program` and `args` then
    /// only name the step).
    run: Option<fn() -> Result<()>>,
}

/// What the JavaScript steps need: the npm package's tools, Chromium and Node.
const JS_NEEDS: &[Prereq] = &[
    Prereq::WasmTarget,
    Prereq::WasmBindgenCli,
    Prereq::Chromium,
    Prereq::Binaryen,
    Prereq::Node,
];

/// Every step, in the order they run. Add new checks here.
const STEPS: &[Step] = &[
    Step {
        program: "cargo",
        args: &["fmt", "--all", "--check"],
        needs: &[],
        run: None,
    },
    Step {
        program: "cargo",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        needs: &[],
        run: None,
    },
    Step {
        program: "cargo",
        args: &[
            "clippy",
            "-p",
            "rumor-core",
            "-p",
            "rumor-wasm",
            "--target",
            WASM_TARGET,
            "--",
            "-D",
            "warnings",
        ],
        needs: &[Prereq::WasmTarget],
        run: None,
    },
    Step {
        program: "cargo",
        args: &["test", "--workspace"],
        needs: &[],
        run: None,
    },
    Step {
        program: "cargo",
        args: &[
            "test",
            "-p",
            "rumor-wasm",
            "--target",
            WASM_TARGET,
            "(headless Chromium, private network namespace)",
        ],
        needs: &[Prereq::WasmTarget, Prereq::WasmBindgenCli, Prereq::Chromium],
        run: Some(browser::run_wasm_tests),
    },
    Step {
        program: "node",
        args: &[
            "tests/js/e2e.mjs",
            "(npm package, tsc --noEmit, vite build, rumor-signal, headless Chromium)",
        ],
        needs: JS_NEEDS,
        run: Some(browser::run_js_tests),
    },
    Step {
        program: "node",
        args: &[
            "tests/js/tabs.mjs",
            "--tabs",
            "30",
            "(the demo page in 30 tabs: joins, a message, closes, a reload, a server restart)",
        ],
        needs: JS_NEEDS,
        run: Some(browser::run_tabs_step),
    },
];

/// The command line of a step, as shown in its header.
fn step_name(step: &Step) -> String {
    let mut command = cmd::program(step.program);
    command.args(step.args);
    cmd::display(&command)
}

/// Ensure the prerequisites, then run every step (or those whose command line contains
/// `only`); stop at the first failure.
pub fn run(only: Option<&str>) -> Result<()> {
    let steps: Vec<&Step> = STEPS
        .iter()
        .filter(|step| only.is_none_or(|text| step_name(step).contains(text)))
        .collect();
    if steps.is_empty() {
        bail!("no step matches {only:?}");
    }
    let started = Instant::now();
    if let Some(seed) = std::env::var_os("SEED") {
        println!("SEED={} (inherited by the tests)", seed.to_string_lossy());
    }

    let mut prereqs: Vec<Prereq> = Vec::new();
    for prereq in steps.iter().flat_map(|step| step.needs) {
        if !prereqs.contains(prereq) {
            prereqs.push(*prereq);
        }
    }
    for prereq in prereqs {
        let name = format!("ensure {}", prereq.describe());
        timed(&name, || prereq.ensure())
            .map_err(|err| err.context(format!("prerequisite failed: {name}")))?;
    }

    let total = steps.len();
    for (index, step) in steps.into_iter().enumerate() {
        let mut command = cmd::program(step.program);
        command.args(step.args);
        let name = cmd::display(&command);
        if let Some(run) = step.run {
            timed(&name, || {
                run().map_err(|err| err.context(format!("step {}/{total} failed", index + 1)))
            })?;
            continue;
        }
        timed(&name, || {
            let status = cmd::status(&mut command)?;
            if !status.success() {
                bail!("step {}/{total} failed: `{name}` ({status})", index + 1);
            }
            Ok(())
        })?;
    }
    println!(
        "==> all {total} steps passed in {}",
        seconds(started.elapsed())
    );
    Ok(())
}

/// Print a header, run `work`, then print how long it took.
fn timed(name: &str, work: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("==> {name}");
    let started = Instant::now();
    let result = work();
    let outcome = if result.is_ok() { "ok" } else { "FAILED" };
    println!("<== {name}: {outcome} in {}", seconds(started.elapsed()));
    result
}

/// A duration as seconds with one decimal, e.g. `12.3s`.
fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}
