// Figures for tests/js/tabs.mjs and idle.mjs: percentiles of samples, DevTools profiles by
// category, and the memory and CPU of one Chromium (its browser process and all its
// descendants) read from /proc.

import { readdirSync, readFileSync } from "node:fs";

/** Nearest-rank percentile of `values` (null when empty). */
export function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function describe(values) {
  if (!values.length) return "no samples";
  return `p50 ${percentile(values, 50)} ms, p99 ${percentile(values, 99)} ms, max ${Math.max(...values)} ms (n=${values.length})`;
}

/**
 * Memory of the Chromium whose profile is `profile`: the browser process (found by its
 * --user-data-dir), then all its descendants. Returns MB summed over the renderer processes
 * (the tabs) and over all of them, both as VmRSS (/proc/PID/status: shared pages such as
 * the Chromium binary count once per process) and as PSS (/proc/PID/smaps_rollup: shared
 * pages split between the processes sharing them, so the sum is the real footprint).
 */
export function chromiumMemory(profile) {
  const procs = new Map(); // pid -> { ppid, cmd, rssKb, pssKb }
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, "utf8");
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]);
      const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      // Chromium rewrites its child processes' titles: the arguments may be one string.
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ");
      let pssKb = 0;
      try {
        pssKb = Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/smaps_rollup`, "utf8"))?.[1] ?? 0);
      } catch {
        // no smaps_rollup (old kernel): PSS stays 0
      }
      procs.set(Number(name), { ppid, cmd, rssKb, pssKb });
    } catch {
      // the process ended meanwhile
    }
  }
  const family = browserFamily(procs, profile);
  const sum = { renderers: 0, processes: family.size, rendererRssKb: 0, rendererPssKb: 0, totalRssKb: 0, totalPssKb: 0 };
  for (const pid of family) {
    const p = procs.get(pid);
    sum.totalRssKb += p.rssKb;
    sum.totalPssKb += p.pssKb;
    if (p.cmd.includes("--type=renderer")) {
      sum.renderers += 1;
      sum.rendererRssKb += p.rssKb;
      sum.rendererPssKb += p.pssKb;
    }
  }
  return sum;
}

/**
 * The pids, among `procs` (pid -> { ppid, cmd }), of the Chromium whose profile is
 * `profile`: its browser process (found by its --user-data-dir) and all its descendants.
 */
export function browserFamily(procs, profile) {
  const family = new Set(
    [...procs].filter(([, p]) => p.cmd.includes(`--user-data-dir=${profile}`) && !p.cmd.includes("--type=")).map(([pid]) => pid),
  );
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!family.has(pid) && family.has(p.ppid)) {
        family.add(pid);
        grew = true;
      }
    }
  }
  return family;
}

/**
 * A wasm function's category: `wasm`, or with a package built with its names kept (say,
 * `wasm-opt -g`), `wasm <crate>` from the function's Rust path (`wasm curve25519_dalek`).
 */
function wasmCategory(name) {
  const crate = /^\$?(?:<)?([A-Za-z_][A-Za-z0-9_]*)::/.exec(name)?.[1];
  return crate ? `wasm ${crate}` : "wasm";
}

/** Sums a DevTools CPU profile's self time (ms) by category. */
export function profileShares(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMs = new Map();
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (dt[i + 1] ?? 0) / 1000;
    const f = byId.get(profile.samples[i]).callFrame;
    let cat;
    if (f.functionName.startsWith("(")) cat = f.functionName; // (idle), (program), (garbage collector)
    else if (f.url.endsWith(".wasm") || /^(\$|wasm-function)/.test(f.functionName)) cat = wasmCategory(f.functionName);
    else if (f.url.includes("/pkg/")) cat = "package JS glue";
    else if (f.url.includes("app.js")) cat = `app.js ${f.functionName || "(anonymous)"}`;
    else cat = f.url ? `other JS (${f.url.split("/").pop()})` : `native ${f.functionName}`;
    selfMs.set(cat, (selfMs.get(cat) ?? 0) + ms);
  }
  return [...selfMs].sort((a, b) => b[1] - a[1]).map(([cat, ms]) => ({ cat, ms: Math.round(ms) }));
}

/** User + system CPU ticks (USER_HZ) from the text of a /proc/PID/stat or /proc/PID/task/TID/stat. */
function statTicks(stat) {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * The processes of the Chromium whose profile is `profile` (see `browserFamily`), read from
 * /proc: pid -> { cmd, ticks } (its command line, and its CPU ticks so far).
 */
export function chromiumProcesses(profile) {
  const procs = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ");
      procs.set(Number(name), { ppid, cmd, ticks: statTicks(stat) });
    } catch {
      // the process ended meanwhile
    }
  }
  const family = new Map();
  for (const pid of browserFamily(procs, profile)) family.set(pid, procs.get(pid));
  return family;
}

/**
 * CPU ticks (user + system, USER_HZ) of every thread of the renderer processes of the
 * Chromium whose profile is `profile`, summed by thread name (digits at the end dropped, so
 * that numbered pool threads add up): the renderers' main threads show as "chromium" (the
 * process name), the others as Chromium names them (ThreadPoolForeg, WebRTC_W_and_N,
 * Compositor...). Two readings subtracted tell where the tabs' CPU went in between.
 */
export function rendererThreadTicks(profile) {
  const byThread = new Map();
  for (const [pid, p] of chromiumProcesses(profile)) {
    if (!p.cmd.includes("--type=renderer")) continue;
    let tids = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim().replace(/\d+$/, "");
        const ticks = statTicks(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"));
        byThread.set(comm, (byThread.get(comm) ?? 0) + ticks);
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  return byThread;
}
