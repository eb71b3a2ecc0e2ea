//! Things a check needs that may be missing on a fresh machine, each with an
//! install-if-missing function.

use std::process::Command;

use anyhow::{bail, Result};

use crate::cmd;

/// The wasm target used by the core and the browser driver.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// A prerequisite of one or more steps of `cargo xtask test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prereq {
    /// The rustup target `wasm32-unknown-unknown`.
    WasmTarget,
}

impl Prereq {
    /// What is being ensured, for the header line.
    pub fn describe(self) -> &'static str {
        match self {
            Prereq::WasmTarget => "rustup target wasm32-unknown-unknown",
        }
    }

    /// Install the prerequisite if it is missing; do nothing if it is present.
    pub fn ensure(self) -> Result<()> {
        match self {
            Prereq::WasmTarget => ensure_rustup_target(WASM_TARGET),
        }
    }
}

/// Add a rustup target unless `rustup target list --installed` already lists it.
fn ensure_rustup_target(target: &str) -> Result<()> {
    let installed = cmd::stdout(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if installed.lines().any(|line| line.trim() == target) {
        println!("    {target} already installed");
        return Ok(());
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", target]);
    let status = cmd::status(&mut add)?;
    if !status.success() {
        bail!("`{}` failed ({status})", cmd::display(&add));
    }
    Ok(())
}
