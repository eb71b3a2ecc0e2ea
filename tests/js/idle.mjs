// Where an idle tab's CPU goes: figures for tuning, not a test (`cargo xtask test` does not
// run it).
//
// `node idle.mjs [--tabs 20] [--seconds 20] [--page demo,bare]`: for each page kind, a fresh
// rumor-signal and headless Chromium; `--tabs` tabs join one room one after another (each
// waits until its node lists the whole group); after 10 s of quiet, the CPU time of every
// Chromium process is read from /proc over `--seconds` seconds, and one tab's main thread is
// sampled with the DevTools profiler over the same window. `demo` is the demo page (www/),
// `bare` a page that only joins through the npm package (tests/js/www/e2e.html) and shows
// nothing, so the two side by side tell the page's share from the protocol's; `demo=DIR`
// the demo page served from DIR instead of www/ (say, an older copy, to compare), `bare=DIR`
// the bare page with the npm package built into DIR (say, with other protocol settings).
// Writes target/bench/idle.json.
//
// Environment: see harness.mjs (RUMOR_SIGNAL_BIN, RUMOR_PKG_DIR, RUMOR_TEST_IP, CHROMIUM).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join as pathJoin, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chromiumProcesses, profileShares } from "./figures.mjs";
import { cleanupAll, launchBrowser, repoRoot, startServer } from "./harness.mjs";

const { values: opts } = parseArgs({
  options: {
    tabs: { type: "string", default: "20" },
    seconds: { type: "string", default: "20" },
    page: { type: "string", default: "demo,bare" },
    out: { type: "string", default: pathJoin(repoRoot, "target/bench/idle.json") },
  },
});
const ROOM = "idle";
const TICKS_PER_S = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in these
const started = Date.now();
const note = (msg) => console.log(`    [${((Date.now() - started) / 1000).toFixed(1)} s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** CPU ticks (user + system) and kind of every process of the browser whose profile is `profile`. */
function cpuByProcess(profile) {
  const out = new Map();
  for (const [pid, p] of chromiumProcesses(profile)) {
    const kind = /--type=([a-z-]+)/.exec(p.cmd)?.[1] ?? "browser";
    const sub = /--utility-sub-type=([a-zA-Z.]+)/.exec(p.cmd)?.[1];
    out.set(pid, { kind: sub ? `${kind}:${sub.split(".")[0]}` : kind, ticks: p.ticks });
  }
  return out;
}

async function run(page, tabs, seconds) {
  // `demo=DIR` serves another copy of the demo page (an older one, to compare side by side),
  // `bare=DIR` another build of the package.
  const [kind, dir] = page.split("=");
  const www = kind === "bare" ? pathJoin(repoRoot, "tests/js/www") : resolve(repoRoot, dir ?? "www");
  const pkg = kind === "bare" && dir ? { pkg: resolve(repoRoot, dir) } : {};
  console.log(`==> idle: ${tabs} tabs of the ${page} page`);
  const server = startServer({ wwwDir: www, ...pkg });
  const addr = await server.addr;
  const browser = await launchBrowser({ prefix: "rumor-idle-" });
  const pages = [];
  try {
    for (let i = 0; i < tabs; i++) {
      const page = await browser.context.newPage();
      if (kind === "demo") {
        await page.goto(`http://${addr}/#${ROOM}`);
      } else {
        await page.goto(`http://${addr}/e2e.html`);
        await page.waitForFunction(() => window.rumorReady);
        await page.evaluate(async ({ url, room, name }) => {
          window.rumorRoom = await window.Rumor.join({ url, room, meta: { name }, iceServers: [] });
        }, { url: `ws://${addr}/ws`, room: ROOM, name: `tab ${i}` });
      }
      pages.push(page);
      // Each tab waits until its node lists the whole group (the tabs so far and the seed).
      await page
        .waitForFunction((n) => window.rumorRoom?.stats().members >= n, i + 2, { timeout: 30000, polling: 100 })
        .catch(() => note(`tab ${i} did not list ${i + 2} members within 30 s`));
    }
    note(`${tabs} tabs open; 10 s of quiet`);
    await sleep(10000);
    const cdp = await browser.context.newCDPSession(pages[0]);
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 1000 });
    await cdp.send("Profiler.start");
    const pageCounts = () => Promise.all(pages.map((p) => p.evaluate(() => {
      const s = window.rumorRoom?.stats() ?? {};
      return {
        ...(window.rumorDemo?.renderCounts ?? {}),
        timeouts: s.neighborTimeouts, dials: s.dials, failed: s.dialFailures, refused: s.neighborRefusals,
        probes: s.probeDials, heals: s.healDials, stalls: s.stalls,
        lost: s.neighborsLost, evictions: s.evictions, evicted: s.evicted,
        messagesOut: s.messagesOut, bytesOut: s.bytesOut,
      };
    }).catch(() => ({}))));
    const countsBefore = await pageCounts();
    const before = cpuByProcess(browser.profile);
    const t0 = Date.now();
    await sleep(seconds * 1000);
    const after = cpuByProcess(browser.profile);
    const wall = (Date.now() - t0) / 1000;
    const { profile } = await cdp.send("Profiler.stop");
    const countsAfter = await pageCounts();
    // Per tab and minute over the window: what the page rebuilt (demo page only), the room
    // events it handled, the group's churn (neighbors dropped for silence, dials), and the
    // protocol messages and bytes it sent.
    const rate = (k) => {
      const total = countsAfter.reduce((a, c, i) => a + ((c[k] ?? 0) - (countsBefore[i]?.[k] ?? 0)), 0);
      return Math.round((total / tabs / wall) * 60 * 100) / 100;
    };
    const perTabPerMinute = Object.fromEntries(["table", "overlay", "events", "timeouts", "dials", "failed", "refused", "probes", "heals", "stalls", "lost", "evictions", "evicted", "messagesOut", "bytesOut"].map((k) => [k, rate(k)]));
    const byKind = {};
    for (const [pid, p] of after) {
      const used = (p.ticks - (before.get(pid)?.ticks ?? p.ticks)) / TICKS_PER_S;
      byKind[p.kind] ??= { processes: 0, cpu_s: 0 };
      byKind[p.kind].processes += 1;
      byKind[p.kind].cpu_s += used;
    }
    const renderer = byKind.renderer ?? { processes: 0, cpu_s: 0 };
    const stats = await Promise.all(pages.map((p) => p.evaluate(() => window.rumorRoom?.stats()).catch(() => null)));
    const members = stats.filter(Boolean).map((s) => s.members);
    const msgs = stats.filter(Boolean).reduce((a, s) => a + s.messagesIn, 0);
    const result = {
      page,
      tabs,
      seconds: wall,
      // All renderers' CPU over the tabs (a few renderers more than tabs exist, near idle).
      renderer_cpu_percent_per_tab: Math.round((renderer.cpu_s / wall / tabs) * 1000) / 10,
      cpu_percent_by_process_kind: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, Math.round((v.cpu_s / wall) * 1000) / 10])),
      members_listed_min: Math.min(...members),
      messages_in_per_tab: Math.round(msgs / Math.max(1, members.length)),
      one_tab_profile_ms: profileShares(profile).slice(0, 15),
      per_tab_per_minute: perTabPerMinute,
    };
    note(`renderer CPU per tab: ${result.renderer_cpu_percent_per_tab}% of one core; by process kind (% of one core): ${JSON.stringify(result.cpu_percent_by_process_kind)}`);
    note(`per tab and minute: ${JSON.stringify(perTabPerMinute)} (table/overlay: rebuilds of the demo page's member table and drawing; events: room events; timeouts: neighbors dropped for silence)`);
    note(`one tab's main thread over ${wall.toFixed(0)} s (self ms): ${result.one_tab_profile_ms.map((x) => `${x.cat} ${x.ms}`).join("; ")}`);
    return result;
  } finally {
    await browser.close();
    await server.stop();
  }
}

const results = [];
try {
  for (const kind of opts.page.split(",")) {
    if (!/^(demo|bare)(=.+)?$/.test(kind)) throw new Error(`--page takes demo, demo=DIR, bare and/or bare=DIR, not ${kind}`);
    results.push(await run(kind, Number(opts.tabs), Number(opts.seconds)));
  }
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, JSON.stringify(results, null, 2) + "\n");
  console.log(`wrote ${opts.out}`);
} finally {
  await cleanupAll();
}
