//! `cargo xtask wasm`: the npm package in `wasm/pkg/`.
//!
//! Builds rumor-wasm for wasm32 with the size-tuned `wasm-release` profile, shrinks the
//! module with `wasm-opt -Oz`, runs `wasm-bindgen --target web`, shrinks its output again
//! (wasm-bindgen's glue functions and what they call), writes
//! package.json (exports map with types) and the README, then reports the sizes (raw and
//! gzip) and saves them in `target/bench/wasm.json`. With `--sizes` it then reports where
//! the bytes go ([`crate::wasm_sizes`]).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::cmd;
use crate::prereq::{self, Prereq, WASM_TARGET};

/// The package's name on npm.
const PACKAGE: &str = "rumor-gossip";
/// Base name of the generated files (`rumor.js`, `rumor_bg.wasm`, `rumor.d.ts`).
const OUT_NAME: &str = "rumor";
/// rustc's output for rumor-wasm in the `wasm-release` profile, from the workspace root.
const RUSTC_OUTPUT: &str = "target/wasm32-unknown-unknown/wasm-release/rumor_wasm.wasm";
/// What the wasm32 target of this toolchain emits, so wasm-opt accepts and keeps it.
const WASM_OPT_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// Sizes of the built package, in bytes.
pub struct Sizes {
    /// `rumor_bg.wasm`.
    pub wasm: u64,
    /// `rumor_bg.wasm`, gzip -9.
    pub wasm_gzip: u64,
    /// `rumor.js`.
    pub js: u64,
    /// `rumor.js`, gzip -9.
    pub js_gzip: u64,
}

/// Prints where the package's bytes go (`cargo xtask wasm --sizes`), from the build
/// [`build`] left behind: its steps again with the function names kept, then
/// [`crate::wasm_sizes::report`]. wasm-bindgen runs before wasm-opt, as in the package's last
/// step, so that its exported shims count as they are shipped.
pub fn size_report() -> Result<()> {
    let root = cmd::workspace_root();
    let dir = root.join("target/wasm-sizes");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    println!("==> wasm-bindgen --keep-debug, wasm-opt -Oz -g (names kept, for the size report)");
    wasm_bindgen(&root.join(RUSTC_OUTPUT), &dir, "named", true)?;
    let named = dir.join("named_opt.wasm");
    wasm_opt(&dir.join("named_bg.wasm"), &named, true)?;
    crate::wasm_sizes::report(&named)
}

/// `wasm-opt -Oz` (binaryen from xtask/tools) from `input` to `output`, with the function
/// names kept if `keep_names`.
fn wasm_opt(input: &Path, output: &Path, keep_names: bool) -> Result<()> {
    let mut command = Command::new("node");
    command.arg(prereq::wasm_opt_bin()).arg("-Oz");
    if keep_names {
        command.arg("-g");
    }
    cmd::run(
        command
            .args(WASM_OPT_FEATURES)
            .arg(input)
            .arg("-o")
            .arg(output),
    )
}

/// `wasm-bindgen --target web` of `input` into `out_dir` as `out_name`, with the names
/// and debug information kept if `keep_debug`.
fn wasm_bindgen(input: &Path, out_dir: &Path, out_name: &str, keep_debug: bool) -> Result<()> {
    let mut command = Command::new(prereq::wasm_bindgen_bin_dir()?.join("wasm-bindgen"));
    command.args(["--target", "web", "--out-name", out_name]);
    if keep_debug {
        command.arg("--keep-debug");
    }
    cmd::run(command.arg("--out-dir").arg(out_dir).arg(input))
}

/// Builds the package; see the module docs.
pub fn build() -> Result<Sizes> {
    for p in [Prereq::WasmTarget, Prereq::WasmBindgenCli, Prereq::Binaryen] {
        println!("==> ensure {}", p.describe());
        p.ensure()?;
    }
    let root = cmd::workspace_root();
    println!("==> cargo build -p rumor-wasm --target {WASM_TARGET} --profile wasm-release");
    cmd::run(cmd::cargo().args([
        "build",
        "-p",
        "rumor-wasm",
        "--target",
        WASM_TARGET,
        "--profile",
        "wasm-release",
    ]))?;
    let input = root.join(RUSTC_OUTPUT);
    let pkg = root.join("wasm/pkg");
    if pkg.exists() {
        std::fs::remove_dir_all(&pkg).with_context(|| format!("removing {}", pkg.display()))?;
    }
    // Once before wasm-bindgen, so that it sees only the imports and exports still used
    // (the JS glue is then ~80 B smaller), and once after, over the glue functions it adds.
    println!("==> wasm-opt -Oz");
    let optimized = root.join("target/wasm32-unknown-unknown/wasm-release/rumor_wasm.opt.wasm");
    wasm_opt(&input, &optimized, false)?;
    println!("==> wasm-bindgen --target web");
    wasm_bindgen(&optimized, &pkg, OUT_NAME, false)?;
    let wasm = pkg.join(format!("{OUT_NAME}_bg.wasm"));
    println!("==> wasm-opt -Oz (wasm-bindgen's output)");
    let bound = root.join("target/wasm32-unknown-unknown/wasm-release/rumor_wasm.bound.wasm");
    std::fs::rename(&wasm, &bound).context("moving wasm-bindgen's output aside")?;
    wasm_opt(&bound, &wasm, false)?;
    // wasm-bindgen writes a .gitignore of `*`, which would keep npm from packing anything.
    let _ = std::fs::remove_file(pkg.join(".gitignore"));
    std::fs::write(pkg.join("package.json"), package_json())?;
    std::fs::copy(root.join("wasm/README.md"), pkg.join("README.md"))
        .context("copying wasm/README.md")?;

    let js = pkg.join(format!("{OUT_NAME}.js"));
    let sizes = Sizes {
        wasm: size(&wasm)?,
        wasm_gzip: gzip_size(&wasm)?,
        js: size(&js)?,
        js_gzip: gzip_size(&js)?,
    };
    println!(
        "    {}: wasm {} B ({} B gzip), js {} B ({} B gzip); total {} B gzip",
        pkg.display(),
        sizes.wasm,
        sizes.wasm_gzip,
        sizes.js,
        sizes.js_gzip,
        sizes.wasm_gzip + sizes.js_gzip
    );
    let bench = root.join("target/bench");
    std::fs::create_dir_all(&bench)?;
    std::fs::write(
        bench.join("wasm.json"),
        format!(
            "{{\"wasm_bytes\":{},\"wasm_gzip_bytes\":{},\"js_bytes\":{},\"js_gzip_bytes\":{}}}\n",
            sizes.wasm, sizes.wasm_gzip, sizes.js, sizes.js_gzip
        ),
    )?;
    println!("    sizes saved in target/bench/wasm.json");
    Ok(sizes)
}

fn package_json() -> String {
    let version = env!("CARGO_PKG_VERSION");
    format!(
        r#"{{
  "name": "{PACKAGE}",
  "version": "{version}",
  "description": "Rumor in the browser: group membership, metadata and topic messages by gossip over WebRTC data channels.",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "./{OUT_NAME}.js",
  "module": "./{OUT_NAME}.js",
  "types": "./{OUT_NAME}.d.ts",
  "exports": {{
    ".": {{
      "types": "./{OUT_NAME}.d.ts",
      "import": "./{OUT_NAME}.js"
    }},
    "./{OUT_NAME}_bg.wasm": "./{OUT_NAME}_bg.wasm"
  }},
  "files": [
    "{OUT_NAME}.js",
    "{OUT_NAME}.d.ts",
    "{OUT_NAME}_bg.wasm",
    "{OUT_NAME}_bg.wasm.d.ts",
    "README.md"
  ],
  "sideEffects": false
}}
"#
    )
}

fn size(path: &Path) -> Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

/// Bytes of `gzip -9` of the file.
fn gzip_size(path: &Path) -> Result<u64> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut child = Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("could not start gzip")?;
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    writer.join().expect("writer thread")?;
    if !out.status.success() {
        bail!("gzip failed ({})", out.status);
    }
    Ok(out.stdout.len() as u64)
}
