//! Helpers to spawn commands from the workspace root.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use anyhow::{Context, Result};

/// The workspace root: the parent of this crate's directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ lives inside the workspace root")
        .to_path_buf()
}

/// A `cargo` command run from the workspace root.
///
/// Uses the cargo that launched `cargo xtask` (the `CARGO` variable), so every step
/// runs on the same toolchain; falls back to `cargo` on `PATH`.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(program);
    command.current_dir(workspace_root());
    command
}

/// A command for `program` run from the workspace root; `cargo` as in [`cargo`].
pub fn program(program: &str) -> Command {
    if program == "cargo" {
        return cargo();
    }
    let mut command = Command::new(program);
    command.current_dir(workspace_root());
    command
}

/// Run `command` with inherited stdio and wait for it; an error only if it cannot start.
pub fn status(command: &mut Command) -> Result<ExitStatus> {
    command
        .status()
        .with_context(|| format!("could not start `{}`", display(command)))
}

/// Run `command` with inherited stdio and wait for it; an error if it cannot start or fails.
pub fn run(command: &mut Command) -> Result<()> {
    let status = status(command)?;
    anyhow::ensure!(status.success(), "`{}` failed ({status})", display(command));
    Ok(())
}

/// Run `command`, capture its stdout and return it; an error if it fails.
pub fn stdout(command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("could not start `{}`", display(command)))?;
    anyhow::ensure!(
        output.status.success(),
        "`{}` failed ({}): {}",
        display(command),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A command as a person would type it (program name without its directory).
pub fn display(command: &Command) -> String {
    let program = Path::new(command.get_program());
    let name = program.file_name().unwrap_or(program.as_os_str());
    std::iter::once(name)
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
