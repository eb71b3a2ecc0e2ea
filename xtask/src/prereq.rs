//! Things a check needs that may be missing on a fresh machine, each with an
//! install-if-missing function.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};

use crate::cmd;

/// The wasm target used by the core and the browser driver.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Debian's Chromium and its WebDriver, as installed by `apt-get install chromium chromium-driver`.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// See [`CHROMIUM`].
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A prerequisite of one or more steps of `cargo xtask test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prereq {
    /// The rustup target `wasm32-unknown-unknown`.
    WasmTarget,
    /// `wasm-bindgen` and `wasm-bindgen-test-runner` at the version in Cargo.lock.
    WasmBindgenCli,
    /// Chromium and chromedriver (Debian packages), for the browser tests.
    Chromium,
    /// binaryen's `wasm-opt` at the version pinned in xtask/tools/package-lock.json (from the
    /// npm registry, so every machine shrinks the package the same way), for the npm package.
    Binaryen,
    /// Node.js and npm, for the JavaScript tests.
    Node,
}

impl Prereq {
    /// What is being ensured, for the header line.
    pub fn describe(self) -> &'static str {
        match self {
            Prereq::WasmTarget => "rustup target wasm32-unknown-unknown",
            Prereq::WasmBindgenCli => "wasm-bindgen-cli (the version in Cargo.lock)",
            Prereq::Chromium => "chromium and chromedriver (and ip, as root)",
            Prereq::Binaryen => "wasm-opt (binaryen, xtask/tools/package-lock.json)",
            Prereq::Node => "node and npm",
        }
    }

    /// Install the prerequisite if it is missing; do nothing if it is present.
    pub fn ensure(self) -> Result<()> {
        match self {
            Prereq::WasmTarget => ensure_rustup_target(WASM_TARGET),
            Prereq::WasmBindgenCli => ensure_wasm_bindgen_cli(),
            Prereq::Chromium => {
                // As root the browser tests run in a network namespace, made with `ip`.
                if is_root() && !on_path("ip") {
                    apt_install(&["iproute2"])?;
                }
                if PathBuf::from(CHROMIUM).exists() && PathBuf::from(CHROMEDRIVER).exists() {
                    println!("    {CHROMIUM} and {CHROMEDRIVER} present");
                    return Ok(());
                }
                apt_install(&["chromium", "chromium-driver"])
            }
            Prereq::Binaryen => ensure_binaryen(),
            Prereq::Node => {
                if on_path("node") && on_path("npm") {
                    println!("    node and npm present");
                    return Ok(());
                }
                apt_install(&["nodejs", "npm"])
            }
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
    cmd::run(&mut add)?;
    Ok(())
}

/// binaryen's `wasm-opt` as `npm ci` in xtask/tools installs it (a Node.js script).
pub fn wasm_opt_bin() -> PathBuf {
    cmd::workspace_root().join("xtask/tools/node_modules/binaryen/bin/wasm-opt")
}

/// `npm ci` in xtask/tools unless the binaryen it installs is there at the locked version
/// (Node.js and npm first, if missing).
fn ensure_binaryen() -> Result<()> {
    let tools = cmd::workspace_root().join("xtask/tools");
    let read = |path: &str| -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(tools.join(path)).ok()?).ok()
    };
    let locked = read("package-lock.json").context("reading xtask/tools/package-lock.json")?
        ["packages"]["node_modules/binaryen"]["version"]
        .as_str()
        .map(str::to_string);
    let installed = read("node_modules/binaryen/package.json")
        .and_then(|p| p["version"].as_str().map(str::to_string));
    if let Some(version) = locked.as_ref().filter(|v| Some(*v) == installed.as_ref()) {
        if wasm_opt_bin().exists() {
            println!("    binaryen {version} in xtask/tools");
            return Ok(());
        }
    }
    Prereq::Node.ensure()?;
    let mut ci = Command::new("npm");
    ci.args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&tools);
    let status = cmd::status(&mut ci)?;
    if !status.success() {
        bail!("`npm ci` in xtask/tools failed ({status})");
    }
    Ok(())
}

/// The version of the `wasm-bindgen` crate in Cargo.lock.
pub fn wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string(cmd::workspace_root().join("Cargo.lock"))
        .context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
            {
                return Ok(version.to_string());
            }
        }
    }
    bail!("no wasm-bindgen package in Cargo.lock; build rumor-wasm for {WASM_TARGET} once")
}

/// Where `cargo xtask` keeps wasm-bindgen-cli binaries, one directory per version, outside
/// the checkout so that fresh clones (as CI makes) reuse them: `$RUMOR_TOOLS_DIR`, else
/// `~/.cache/rumor/wasm-bindgen-<version>/bin`, else `target/tools/...` when there is no home.
pub fn wasm_bindgen_bin_dir() -> Result<PathBuf> {
    let version = wasm_bindgen_version()?;
    let base = match (
        std::env::var_os("RUMOR_TOOLS_DIR"),
        std::env::var_os("HOME"),
    ) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(home)) => PathBuf::from(home).join(".cache/rumor"),
        (None, None) => cmd::workspace_root().join("target/tools"),
    };
    Ok(base.join(format!("wasm-bindgen-{version}")).join("bin"))
}

/// Install wasm-bindgen-cli at the Cargo.lock version into the cache unless it is there.
/// Without `--locked`: its lockfile pins a crate version the registry here lacks.
fn ensure_wasm_bindgen_cli() -> Result<()> {
    let version = wasm_bindgen_version()?;
    let bin = wasm_bindgen_bin_dir()?;
    let exe = bin.join("wasm-bindgen");
    if exe.exists() && bin.join("wasm-bindgen-test-runner").exists() {
        let out = cmd::stdout(Command::new(&exe).arg("--version")).unwrap_or_default();
        if out.split_whitespace().any(|w| w == version) {
            println!("    wasm-bindgen {version} cached in {}", bin.display());
            return Ok(());
        }
    }
    println!("    installing wasm-bindgen-cli {version} (takes several minutes, once)");
    let root = bin.parent().expect("bin has a parent");
    let mut install = cmd::cargo();
    install.args([
        "install",
        "wasm-bindgen-cli",
        "--force",
        "--version",
        &version,
        "--root",
    ]);
    install.arg(root);
    cmd::run(&mut install)?;
    Ok(())
}

/// True when `program` is found on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// True when this process runs as root (needed for apt-get and network namespaces).
pub fn is_root() -> bool {
    cmd::stdout(Command::new("id").arg("-u")).is_ok_and(|out| out.trim() == "0")
}

/// `apt-get update` has run in this process.
static APT_UPDATED: AtomicBool = AtomicBool::new(false);

/// Install Debian packages with apt-get (as root, non-interactively); otherwise explain.
fn apt_install(packages: &[&str]) -> Result<()> {
    if !is_root() || !on_path("apt-get") {
        bail!(
            "missing {}; install them (on Debian: sudo apt-get install {}) and run again",
            packages.join(", "),
            packages.join(" ")
        );
    }
    if !APT_UPDATED.swap(true, Ordering::SeqCst) {
        let mut update = Command::new("apt-get");
        update.args(["update", "-q"]);
        let status = cmd::status(&mut update)?;
        if !status.success() {
            bail!("`apt-get update` failed ({status})");
        }
    }
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-q"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd::run(&mut install)?;
    Ok(())
}
