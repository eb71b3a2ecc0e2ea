//! The browser tests of rumor-wasm: wasm-bindgen-test in headless Chromium.
//!
//! Chromium ignores loopback for WebRTC, so as root the tests run inside a private network
//! namespace (DESIGN §5 recipe): loopback up, a veth pair with 10.77.0.1 and a route to
//! 8.8.8.8 that gives Chromium a host candidate; no packet leaves the namespace, which is
//! deleted afterwards. Without root (a developer machine) they run directly.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

use crate::cmd;
use crate::prereq::{self, Prereq, CHROMEDRIVER, CHROMIUM, WASM_TARGET};

/// Chromium flags for the tests (DESIGN §5).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
];

/// A network namespace that is deleted (with its veth pair) when dropped.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace of the DESIGN §5 recipe.
    pub fn create(name: &str) -> Result<Netns> {
        // A namespace left over by an interrupted run goes first.
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_string(),
        };
        let n = name;
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        ip(&[
            "-n", n, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
        ])?;
        ip(&["-n", n, "addr", "add", "10.77.0.1/24", "dev", "veth0"])?;
        ip(&["-n", n, "link", "set", "veth0", "up"])?;
        ip(&["-n", n, "link", "set", "veth1", "up"])?;
        ip(&["-n", n, "route", "add", "8.8.8.8/32", "dev", "veth0"])?;
        Ok(ns)
    }

    /// `command` run inside the namespace.
    pub fn wrap(&self, command: &Command) -> Command {
        let mut wrapped = Command::new("ip");
        wrapped.args(["netns", "exec", &self.name]);
        wrapped.arg(command.get_program());
        wrapped.args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(v) => wrapped.env(key, v),
                None => wrapped.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let mut command = Command::new("ip");
    command.args(args);
    cmd::run(&mut command)?;
    Ok(())
}

/// Writes the webdriver.json wasm-bindgen-test-runner reads, with a fresh profile dir.
fn webdriver_json(dir: &Path, profile: &Path) -> Result<PathBuf> {
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| format!("\"{s}\"")).collect();
    args.push(format!("\"--user-data-dir={}\"", profile.display()));
    let json = format!(
        "{{\"goog:chromeOptions\":{{\"binary\":\"{CHROMIUM}\",\"args\":[{}]}}}}\n",
        args.join(",")
    );
    let path = dir.join("webdriver.json");
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Builds, then runs `cargo test -p rumor-wasm --target wasm32-unknown-unknown` in
/// headless Chromium (inside a private network namespace when root).
pub fn run_wasm_tests() -> Result<()> {
    let mut build = cmd::cargo();
    build.args([
        "test",
        "-p",
        "rumor-wasm",
        "--target",
        WASM_TARGET,
        "--no-run",
    ]);
    cmd::run(&mut build)?;

    let dir = cmd::workspace_root().join("target/wasm-test");
    let profile = dir.join(format!("chromium-profile-{}", std::process::id()));
    std::fs::create_dir_all(&profile).with_context(|| format!("creating {}", profile.display()))?;
    let webdriver = webdriver_json(&dir, &profile)?;

    let bin = prereq::wasm_bindgen_bin_dir()?;
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let mut test = cmd::cargo();
    test.args([
        "test",
        "--offline",
        "-p",
        "rumor-wasm",
        "--target",
        WASM_TARGET,
    ])
    .env("PATH", path)
    .env(
        "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
        "wasm-bindgen-test-runner",
    )
    .env("CHROMEDRIVER", CHROMEDRIVER)
    .env("WASM_BINDGEN_TEST_WEBDRIVER_JSON", &webdriver)
    .env("WASM_BINDGEN_TEST_TIMEOUT", "120");

    let result = if prereq::is_root() && prereq::on_path("ip") {
        let ns = Netns::create(&format!("rumor-t{}", std::process::id()))?;
        let mut wrapped = ns.wrap(&test);
        println!("    in network namespace: {}", cmd::display(&wrapped));
        let status = cmd::status(&mut wrapped);
        drop(ns);
        status
    } else {
        println!("    not root: running the browser tests without a network namespace");
        cmd::status(&mut test)
    };
    let _ = std::fs::remove_dir_all(&profile);
    let status = result?;
    if !status.success() {
        bail!("the wasm browser tests failed ({status})");
    }
    Ok(())
}

/// Builds what the JavaScript tests need, once per xtask run: the npm package (wasm/pkg),
/// rumor-signal (dev profile) and the JS test dependencies in tests/js/node_modules (`npm ci`
/// when `fresh_deps`, or when they are missing). Returns the server binary's path.
fn prepare_js(fresh_deps: bool) -> Result<PathBuf> {
    static PREPARED: OnceLock<PathBuf> = OnceLock::new();
    if let Some(bin) = PREPARED.get() {
        return Ok(bin.clone());
    }
    crate::wasm::build()?;
    let bin = build_server(false)?;
    npm_ci(fresh_deps)?;
    Ok(PREPARED.get_or_init(|| bin).clone())
}

/// `npm ci` in tests/js: always when `fresh`, otherwise only if playwright-core is missing.
fn npm_ci(fresh: bool) -> Result<()> {
    let js = cmd::workspace_root().join("tests/js");
    let installed = js
        .join("node_modules/playwright-core/package.json")
        .exists();
    if !fresh && installed {
        return Ok(());
    }
    let mut ci = Command::new("npm");
    ci.args(["ci", "--no-audit", "--no-fund"]).current_dir(&js);
    let status = cmd::status(&mut ci)?;
    if !status.success() {
        bail!("`npm ci` in tests/js failed ({status})");
    }
    Ok(())
}

/// Builds rumor-signal (dev or release profile) and returns the binary's path.
///
/// The dev binary comes from `cargo test --workspace --no-run`, which builds it for the
/// server's integration tests: a plain `cargo build -p rumor-signal` unifies dependency
/// features differently (no dev-dependencies) and would compile some 80 crates a second
/// time (5 minutes in CI) right after the test step built them.
fn build_server(release: bool) -> Result<PathBuf> {
    let mut server = cmd::cargo();
    if release {
        server.args([
            "build",
            "-p",
            "rumor-signal",
            "--bin",
            "rumor-signal",
            "--release",
        ]);
    } else {
        server.args(["test", "--workspace", "--no-run"]);
    }
    cmd::run(&mut server)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cmd::workspace_root().join("target"));
    let profile = if release { "release" } else { "debug" };
    let bin = target.join(profile).join("rumor-signal");
    if !bin.is_file() {
        bail!(
            "`{}` did not produce {}",
            cmd::display(&server),
            bin.display()
        );
    }
    Ok(bin)
}

/// Runs `node <args>` in tests/js with the server binary, the package and Chromium in its
/// environment: inside a private network namespace when root (Chromium ignores loopback
/// for WebRTC), directly otherwise.
fn run_node(args: &[&str], server_bin: &Path) -> Result<std::process::ExitStatus> {
    let root = cmd::workspace_root();
    let mut node = Command::new("node");
    node.args(args)
        .current_dir(root.join("tests/js"))
        .env("RUMOR_SIGNAL_BIN", server_bin)
        .env("RUMOR_PKG_DIR", root.join("wasm/pkg"))
        .env("CHROMIUM", CHROMIUM);
    println!("==> {}", cmd::display(&node));
    if prereq::is_root() && prereq::on_path("ip") {
        let ns = Netns::create(&format!("rumor-j{}", std::process::id()))?;
        node.env("RUMOR_TEST_IP", "10.77.0.1");
        let status = cmd::status(&mut ns.wrap(&node));
        drop(ns);
        status
    } else {
        println!(
            "    not root: no network namespace; set RUMOR_TEST_IP to an address of this \
             machine that Chromium offers for WebRTC (default 10.77.0.1)"
        );
        cmd::status(&mut node)
    }
}

/// The JavaScript side: builds the npm package and the server, installs the JS test
/// dependencies (`npm ci`), type-checks `tests/js/usage.ts` against the package's
/// declarations (`tsc --noEmit`), builds the Vite fixture (`tests/js/vite`), then runs
/// `tests/js/e2e.mjs`: two Chromium tabs against a real rumor-signal and its seed peer
/// (inside a private network namespace when root).
pub fn run_js_tests() -> Result<()> {
    let root = cmd::workspace_root();
    let server_bin = prepare_js(true)?;
    let js = root.join("tests/js");
    println!("==> tsc --noEmit -p tests/js");
    let mut tsc = Command::new("node");
    tsc.args(["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."])
        .current_dir(&js);
    let status = cmd::status(&mut tsc)?;
    if !status.success() {
        bail!("the TypeScript declarations do not type-check against tests/js/usage.ts");
    }

    println!("==> vite build (tests/js/vite: the package imported by name into a Vite 7 build)");
    let fixture = js.join("vite");
    // Exactly what the committed lock lists (it names rollup's and esbuild's native
    // packages for every platform, so `npm ci` takes it on any machine and never
    // rewrites it).
    let mut install = Command::new("npm");
    install
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&fixture);
    let status = cmd::status(&mut install)?;
    if !status.success() {
        bail!("`npm ci` in tests/js/vite failed ({status})");
    }
    let out = root.join("target/vite-fixture");
    let mut vite = Command::new("node");
    vite.args([
        "node_modules/vite/bin/vite.js",
        "build",
        "--config",
        "vite.config.js",
    ])
    .current_dir(&fixture);
    let status = cmd::status(&mut vite)?;
    if !status.success() {
        bail!("the Vite fixture in tests/js/vite did not build ({status})");
    }
    let assets: Vec<String> = std::fs::read_dir(out.join("assets"))
        .context("reading the Vite fixture's output")?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if !assets.iter().any(|a| a.ends_with(".wasm")) || !assets.iter().any(|a| a.ends_with(".js")) {
        bail!("the Vite build emitted no .wasm or no .js asset: {assets:?}");
    }

    let status = run_node(&["e2e.mjs"], &server_bin)?;
    if !status.success() {
        bail!("the browser tests in tests/js/e2e.mjs failed ({status})");
    }
    // Seed-system parity from JavaScript: state sync, direct messages, leader, key listeners.
    let status = run_node(&["parity.mjs"], &server_bin)?;
    if !status.success() {
        bail!("the browser tests in tests/js/parity.mjs failed ({status})");
    }
    Ok(())
}

/// Runs `tests/js/tabs.mjs` with `tabs` tabs of the real demo page (www/) in one headless
/// Chromium against a real rumor-signal, checked through what the page shows (joins, a
/// message, closes, a reload, a server restart, a screenshot in target/e2e/demo.png).
pub fn run_tabs_tests(tabs: u32) -> Result<()> {
    let bin = prepare_js(false)?;
    let tabs = tabs.to_string();
    let status = run_node(&["tabs.mjs", "--tabs", &tabs], &bin)?;
    if !status.success() {
        bail!("the many-tab tests in tests/js/tabs.mjs failed ({status})");
    }
    Ok(())
}

/// The `cargo xtask test` step of tests/js/tabs.mjs: 30 tabs, about a minute on a 2-core
/// machine (2026-12-08: four runs in a row passed in 51-56 s; on 2026-11-30 the same step
/// took 3 to 5 minutes and failed two runs of five, so it ran 12 tabs until then).
pub fn run_tabs_step() -> Result<()> {
    run_tabs_tests(30)
}

/// The browser figures of `cargo xtask bench`: `tests/js/tabs.mjs --bench TABS` (tab counts
/// separated by commas, `30,100` for the full bench) against a release rumor-signal; writes
/// target/bench/e2e.json. With `profile_from` (a tab number), the first tab's main thread
/// is also profiled from that tab on (`--profile-from`). Call after building the npm
/// package (`wasm::build`).
pub fn run_e2e_bench(tabs: &str, profile_from: Option<&str>) -> Result<()> {
    for p in [Prereq::Chromium, Prereq::Node] {
        println!("==> ensure {}", p.describe());
        p.ensure()?;
    }
    let root = cmd::workspace_root();
    let bin = build_server(true)?;
    npm_ci(false)?;
    let out = root.join("target/bench/e2e.json");
    let out = out.to_string_lossy();
    let mut args = vec!["tabs.mjs", "--bench", tabs, "--out", &out];
    if let Some(k) = profile_from {
        args.extend(["--profile-from", k]);
    }
    let status = run_node(&args, &bin)?;
    if !status.success() {
        bail!("the browser bench (tests/js/tabs.mjs --bench) failed ({status})");
    }
    Ok(())
}

/// `cargo xtask bench idle`: `tests/js/idle.mjs` (where idle tabs of the demo page and of a
/// bare page spend their CPU) with `args`, against a release rumor-signal; writes
/// target/bench/idle.json. Call after building the npm package (`wasm::build`).
pub fn run_idle_bench(args: &[String]) -> Result<()> {
    for p in [Prereq::Chromium, Prereq::Node] {
        println!("==> ensure {}", p.describe());
        p.ensure()?;
    }
    let bin = build_server(true)?;
    npm_ci(false)?;
    let mut node_args = vec!["idle.mjs"];
    node_args.extend(args.iter().map(String::as_str));
    let status = run_node(&node_args, &bin)?;
    if !status.success() {
        bail!("tests/js/idle.mjs failed ({status})");
    }
    Ok(())
}
