// What the browser test scripts (e2e.mjs, tabs.mjs) share: starting rumor-signal on a free
// port (and again on the same address), launching Debian's Chromium through playwright-core
// with the DESIGN §5 flags, a pass/fail check runner, and cleanup of every process started
// here even when a script fails or is interrupted.
//
// Environment (set by `cargo xtask test`; defaults suit a run from tests/js/):
//   RUMOR_SIGNAL_BIN  the rumor-signal binary     (default target/debug/rumor-signal)
//   RUMOR_PKG_DIR     the npm package, wasm/pkg   (default wasm/pkg)
//   RUMOR_TEST_IP     the address the server binds and offers for WebRTC (default 10.77.0.1,
//                     the private network namespace xtask makes)
//   CHROMIUM          the browser binary          (default /usr/bin/chromium)
//   RUMOR_SERVER_LOG  a file to append everything the servers print to (for debugging)
//   RUMOR_CHROMIUM_ARGS  more Chromium switches, separated by spaces (for experiments, such
//                     as `--renderer-process-limit=6`)
import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join as pathJoin, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const repoRoot = resolve(here, "../..");
/** The address the server listens on and offers for WebRTC. */
export const ip = process.env.RUMOR_TEST_IP ?? "10.77.0.1";
const signalBin = process.env.RUMOR_SIGNAL_BIN ?? pathJoin(repoRoot, "target/debug/rumor-signal");
const pkgDir = process.env.RUMOR_PKG_DIR ?? pathJoin(repoRoot, "wasm/pkg");

/** Throws an Error with `message` (for use inside checks). */
export function fail(message) {
  throw new Error(message);
}

// ---- cleanup -------------------------------------------------------------------------------
// Servers and browsers started here are stopped when the script ends, however it ends:
// normally (the scripts' `finally`), on an uncaught error, or on SIGINT/SIGTERM.

const servers = new Set(); // running rumor-signal child processes
const cleanups = new Set(); // async cleanups (browsers, temp dirs)

process.on("exit", () => {
  // Synchronous last resort: no server outlives this process.
  for (const proc of servers) proc.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    console.log(`${signal}: stopping the servers and browsers started by this test`);
    await cleanupAll();
    process.exit(130);
  });
}

/** Runs every registered cleanup (browsers, servers); safe to call more than once. */
export async function cleanupAll() {
  for (const f of [...cleanups]) {
    cleanups.delete(f);
    await f().catch(() => {});
  }
  // Servers get SIGTERM (a graceful shutdown), then SIGKILL after 5 s.
  await Promise.all(
    [...servers].map((proc) => new Promise((resolve) => {
      const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
      proc.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      proc.kill("SIGTERM");
    })),
  );
}

// ---- rumor-signal --------------------------------------------------------------------------

let allServerLogs = "";
// The server's own events at info; its WebRTC stack (webrtc-rs, whose warnings are routine
// per-connection chatter such as ICE's "no candidate pairs yet") only at error.
const LOG_FILTER = "info,rtc=error,rtc_ice=error,rtc_dtls=error,rtc_sctp=error";

/** The last `lines` lines of everything every server started here printed. */
export function serverLogTail(lines = 30) {
  return allServerLogs.split("\n").slice(-lines).join("\n");
}

/**
 * Starts rumor-signal on `listen` (`ip:0` picks a free port; pass the address of an earlier
 * run to restart on the same one), serving `wwwDir` at / and the npm package (`pkg`, by
 * default RUMOR_PKG_DIR) at /pkg/.
 * Returns `{ proc, addr, stop }`: `addr` resolves to "ip:port" once the server listens;
 * `stop(signal)` kills it by pid and resolves once it has exited.
 */
export function startServer({ listen = `${ip}:0`, wwwDir, pkg = pkgDir, extraArgs = [] }) {
  const proc = spawn(
    signalBin,
    ["--listen", listen, "--www-dir", wwwDir, "--pkg-dir", pkg, "--rtc-ip", ip, "--log", LOG_FILTER, ...extraArgs],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } },
  );
  servers.add(proc);
  const exited = new Promise((r) => proc.once("exit", (code, signal) => {
    servers.delete(proc);
    r({ code, signal });
  }));
  let log = ""; // until the server says where it listens
  let listening = false;
  const addr = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rumor-signal did not start within 20 s:\n${log}`)), 20000);
    const onData = (chunk) => {
      // Keep the last 256 kB of everything (the tail is printed when a test fails).
      allServerLogs = (allServerLogs + chunk).slice(-256 * 1024);
      if (process.env.RUMOR_SERVER_LOG) appendFileSync(process.env.RUMOR_SERVER_LOG, chunk);
      if (listening) return;
      log += chunk;
      const m = log.replace(/\x1b\[[0-9;]*m/g, "").match(/on http:\/\/([0-9.]+:\d+)/);
      if (m) {
        listening = true;
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", onData);
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`rumor-signal exited (${code}):\n${log}`));
    });
  });
  addr.catch(() => {}); // a late exit is reported by whoever awaits `addr`, not as unhandled
  const stop = async (signal = "SIGTERM") => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    return exited;
  };
  return { proc, addr, stop, exited };
}

// ---- Chromium ------------------------------------------------------------------------------

/**
 * Launches headless Chromium with a fresh temporary profile and the DESIGN §5 flags.
 * Returns `{ context, profile, close }`; `close()` closes the browser and removes the profile.
 */
export async function launchBrowser({ prefix = "rumor-e2e-" } = {}) {
  // Playwright passes its own --disable-features list and a second one would replace it:
  // merge ours into its list.
  const require = createRequire(import.meta.url);
  const { chromiumSwitches } = require(pathJoin(here, "node_modules/playwright-core/lib/server/chromium/chromiumSwitches.js"));
  const defaultDisable = chromiumSwitches(false).find((a) => a.startsWith("--disable-features="));
  const profile = mkdtempSync(pathJoin(tmpdir(), prefix));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    ignoreDefaultArgs: defaultDisable ? [defaultDisable] : [],
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // AutofillServerCommunication: without it Chromium asks content-autofill.googleapis.com
      // about every page with a form (the demo page's room and name fields), about 9 requests
      // per page load that cannot get out of the namespace; tests send nothing outside.
      `${defaultDisable ?? "--disable-features="},WebRtcHideLocalIpsWithMdns,AutofillServerCommunication`,
      ...(process.env.RUMOR_CHROMIUM_ARGS ?? "").split(/\s+/).filter(Boolean),
    ],
  });
  const close = async () => {
    cleanups.delete(close);
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  cleanups.add(close);
  return { context, profile, close };
}

/**
 * Closes `page` without running its beforeunload handlers (its pagehide handler, the
 * graceful leave, still runs). Chromium sometimes acknowledges a close without closing the
 * page, and `page.close()` then never settles (microsoft/playwright#42068; seen here once in
 * three runs of 30 tabs): after 5 s the close is sent again over CDP, up to three times,
 * then this fails instead of hanging the test.
 */
export async function closePage(page, label = "page") {
  const closed = page.close({ runBeforeUnload: false }).then(() => true, () => true);
  for (let attempt = 1; attempt <= 3; attempt++) {
    const done = await Promise.race([closed, new Promise((r) => setTimeout(() => r(false), 5000))]);
    if (done || page.isClosed()) return;
    console.log(`    ${label}: not closed 5 s after the close; sending it again (${attempt}/3)`);
    try {
      const cdp = await page.context().newCDPSession(page);
      const { targetInfo } = await cdp.send("Target.getTargetInfo");
      await cdp.send("Target.closeTarget", { targetId: targetInfo.targetId });
    } catch {
      // the page went away meanwhile: the next round sees it closed
    }
  }
  if (!(await Promise.race([closed, new Promise((r) => setTimeout(() => r(false), 5000))])) && !page.isClosed()) {
    fail(`${label} did not close within 20 s (Chromium ignored four close requests)`);
  }
}

// ---- checks --------------------------------------------------------------------------------

/** Runs named checks, counting passes and failures; `summary()` prints the count line. */
export class Checks {
  constructor(label) {
    this.label = label;
    this.passes = 0;
    this.failures = 0;
  }

  /** Runs `f`; a throw is a failure, reported with its message. Returns whether it passed. */
  async check(name, f) {
    const started = Date.now();
    try {
      await f();
      this.passes += 1;
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
      return true;
    } catch (e) {
      this.failures += 1;
      console.log(`FAIL ${name}: ${e?.message ?? e}`);
      return false;
    }
  }

  /** Counts a check that could not run because an earlier one failed. */
  skip(name, why) {
    this.failures += 1;
    console.log(`FAIL ${name}: not run (${why})`);
  }

  /** Prints `<label>: N passed, M failed`; true when nothing failed. */
  summary() {
    console.log(`${this.label}: ${this.passes} passed, ${this.failures} failed`);
    return this.failures === 0;
  }
}
