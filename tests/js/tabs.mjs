// Many tabs of the real demo page (www/) against a real rumor-signal, checked through what a
// person sees: the member table, the message log, the status badge and the overlay drawing.
//
// Test mode (`node tabs.mjs [--tabs 30]`; `cargo xtask test` and `cargo xtask tabs` run it
// with 30 tabs):
//   1. N tabs open one after another in one room; each must list the whole group, then every
//      tab must list the same N + 1 members (the tabs and the server's seed peer).
//   2. A message typed into one tab's topic box appears, with its sender, in every other tab.
//   3. A screenshot of one tab is saved as target/e2e/demo.png; the member table and the
//      overlay drawing must be visible and non-empty. The same tab at 390 x 844 (a phone) is
//      saved as target/e2e/demo-phone.png: the page, the member table, the overlay and the
//      topic box must fit the screen's width, and no member's state may be cut short.
//   4. 5 tabs close: every remaining tab stops listing them (the page shows them as left or
//      failed for a minute, or drops them).
//   5. A tab reloads: it comes back with a NEW id (the wasm driver makes the identity key from
//      crypto.getRandomValues at every join and the page does not store it; the name is kept
//      per tab in sessionStorage), the others see the old id leave, and all converge again.
//   6. The server is killed (SIGKILL, by pid) and started again on the same address: while it
//      is away the tabs keep their members and messages still get through; afterwards every tab
//      reconnects its signaling, the old seed peer is gone from every tab, a new tab joins, and
//      every tab lists the same members: the tabs, the new tab and the new seed peer.
//   7. Pages that cannot join show why in the page: one whose signaling address (`?signal=`)
//      has no server behind it, and the second page in a room of a server started with
//      `--max-peers-per-room 1`.
// Figures printed along the way: per tab, page load -> the tab lists every member (ms); per
// closed tab, close -> no other tab lists it (ms).
//
// Bench mode (`node tabs.mjs --bench 30,100 --out FILE`, run by `cargo xtask bench`): for each
// group size a fresh server and browser; tabs open one after another (each measured until it
// lists the whole group), then 10 tabs close one after another (each measured until no tab
// lists it); renderer memory is read from /proc, and the renderers' CPU while the tabs
// opened, by thread. Writes a JSON list, one object per size. `--profile-from K` also samples
// the first tab's main thread with the DevTools profiler from the moment tab K opens, for
// 30 s or until the last tab has opened (what an existing tab spends while others join),
// and saves the whole profile next to the JSON as e2e-first-tab-N.cpuprofile.
//
// Environment: see harness.mjs (RUMOR_SIGNAL_BIN, RUMOR_PKG_DIR, RUMOR_TEST_IP, CHROMIUM).
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join as pathJoin, resolve } from "node:path";
import { parseArgs } from "node:util";
import { chromiumMemory, describe, percentile, profileShares, rendererThreadTicks } from "./figures.mjs";
import { Checks, cleanupAll, closePage, fail, launchBrowser, repoRoot, serverLogTail, startServer } from "./harness.mjs";

const { values: opts } = parseArgs({
  options: {
    tabs: { type: "string", default: "30" },
    bench: { type: "string" },
    out: { type: "string", default: pathJoin(repoRoot, "target/bench/e2e.json") },
    "profile-from": { type: "string" },
  },
});

const ROOM = "e2e-tabs";
const WWW = pathJoin(repoRoot, "www");
const short = (id) => (id ? id.slice(0, 8) : "?");
const LIVE = ["alive", "suspected"]; // the page's states of a member still in the group
const scriptStart = Date.now();
/** Prints an indented line with the seconds since the script started. */
const note = (msg) => console.log(`    [${((Date.now() - scriptStart) / 1000).toFixed(1)} s] ${msg}`);

// ---- in-page probe ---------------------------------------------------------------------------
// Installed in every page before the demo's own script. It watches the member table (rows
// carry data-peer / data-state / data-role) with a MutationObserver and records, for every
// peer id, since when the table lists it live and since when it no longer does. Timings taken
// from it are exact to the render, however slowly the test polls.
function installProbe(liveStates) {
  const liveSince = new Map(); // peerId -> ms since epoch
  const goneSince = new Map();
  const roles = new Map();
  const scan = () => {
    const now = Date.now();
    const seen = new Set();
    for (const tr of document.querySelectorAll("#members tbody tr")) {
      const id = tr.dataset.peer;
      if (!id) continue;
      roles.set(id, tr.dataset.role ?? "");
      if (!liveStates.includes(tr.dataset.state)) continue;
      seen.add(id);
      if (!liveSince.has(id)) {
        liveSince.set(id, now);
        goneSince.delete(id);
      }
    }
    for (const id of [...liveSince.keys()]) {
      if (!seen.has(id)) {
        liveSince.delete(id);
        goneSince.set(id, now);
      }
    }
  };
  const probe = {
    liveSince,
    goneSince,
    roles,
    myId: () => document.getElementById("my-id")?.dataset.peer || "",
    // The live ids with their roles, for messages and set comparisons.
    live: () => [...liveSince.keys()].map((id) => ({ id, role: roles.get(id) ?? "" })),
    // Once the table lists exactly `expected` (plus this tab itself, plus one seed peer not in
    // `expected` when `anySeed`), the time it first did; otherwise null.
    fullView: (expected, anySeed) => {
      const me = probe.myId();
      if (!me) return null;
      const want = new Set(expected);
      want.add(me);
      let at = 0;
      for (const id of want) {
        const t = liveSince.get(id);
        if (t === undefined) return null;
        at = Math.max(at, t);
      }
      const extra = [...liveSince.keys()].filter((id) => !want.has(id));
      if (anySeed) {
        if (extra.length !== 1 || roles.get(extra[0]) !== "seed") return null;
        at = Math.max(at, liveSince.get(extra[0]));
      } else if (extra.length) {
        return null;
      }
      return at;
    },
  };
  window.__rumorProbe = probe;
  document.addEventListener("DOMContentLoaded", () => {
    const tbody = document.querySelector("#members tbody");
    new MutationObserver(scan).observe(tbody, { childList: true, subtree: true });
    scan();
  });
}

/** In the page: how many state cells of the member table are cut short, and whether the
 * longest state ("suspected") fits the column (tried in the first row's cell and put back
 * in the same task). */
function stateColumnFit() {
  const cells = [...document.querySelectorAll("#members td.state")];
  const cut = cells.filter((td) => td.scrollWidth > td.clientWidth).length;
  const td = cells[0];
  if (!td) return { cut, longest: false };
  const text = td.textContent;
  td.textContent = "suspected";
  const longest = td.scrollWidth <= td.clientWidth;
  td.textContent = text;
  return { cut, longest };
}

// ---- tabs ------------------------------------------------------------------------------------

/** One open tab of the demo page. */
class Tab {
  constructor(page, label) {
    this.page = page;
    this.label = label; // "tab 7"
    this.id = ""; // its peer id (a reload gives a new one)
    this.loadedAt = 0; // performance.timeOrigin of its current document
    this.joinMs = null; // page load -> lists the whole group
    this.displayName = ""; // the name the page picked (shown as the sender of its messages)
  }

  get name() {
    return `${this.label} (${short(this.id)})`;
  }
}

/** Shared state of one run: the browser context, the server address, labels for ids. */
class Group {
  constructor(context, addr) {
    this.context = context;
    this.addr = addr;
    this.tabs = []; // open tabs
    this.labels = new Map(); // peerId -> label, for readable messages
    this.pageErrors = [];
    this.consoleErrors = 0;
    this.nextIndex = 0;
  }

  label(id) {
    return `${this.labels.get(id) ?? "?"}(${short(id)})`;
  }

  /** Opens a new tab on the room and waits until it shows its own id (closed again if not). */
  async open() {
    const label = `tab ${this.nextIndex++}`;
    const page = await this.context.newPage();
    const tab = new Tab(page, label);
    page.on("pageerror", (e) => {
      this.pageErrors.push(`[${label}] ${e.message}`);
      console.log(`[${label}] page error: ${e.message}`);
    });
    page.on("console", (m) => {
      // Failed WebSocket reconnects while the server is away log errors: count, do not print.
      if (m.type() === "error") this.consoleErrors += 1;
    });
    try {
      await page.goto(`http://${this.addr}/#${ROOM}`);
      await this.identify(tab, "");
    } catch (e) {
      // A tab that did not load or join is closed, so that it cannot join the group later
      // unseen by the run (its graceful leave runs if it got that far).
      await closePage(page, label).catch(() => {});
      throw e;
    }
    this.tabs.push(tab);
    return tab;
  }

  /** Waits until `tab` shows a peer id other than `oldId`; records it and the load time. */
  async identify(tab, oldId) {
    const handle = await tab.page
      .waitForFunction(
        (oldId) => {
          const id = window.__rumorProbe?.myId();
          return id && id !== oldId && /^[0-9a-f]{64}$/.test(id) ? id : null;
        },
        oldId,
        { timeout: 30000, polling: 100 },
      )
      .catch(async () => {
        const shown = await tab.page.evaluate(() => ({
          status: document.getElementById("status")?.textContent,
          error: document.getElementById("error")?.textContent,
        }));
        fail(`${tab.label} did not join within 30 s: status "${shown.status}", error "${shown.error}"`);
      });
    tab.id = await handle.jsonValue();
    ({ loadedAt: tab.loadedAt, name: tab.displayName } = await tab.page.evaluate(() => ({
      loadedAt: performance.timeOrigin,
      name: document.getElementById("name").value,
    })));
    this.labels.set(tab.id, tab.label);
  }

  async close(tab) {
    this.tabs = this.tabs.filter((t) => t !== tab);
    const at = Date.now();
    await closePage(tab.page, tab.label);
    return at;
  }

  /**
   * Waits until `tab` lists exactly `expected` live (plus itself, plus one seed peer not in
   * `expected` when `anySeed`); returns the time it first did (ms since epoch). Fails with
   * what the tab lists instead.
   */
  async waitFullView(tab, expected, { anySeed = false, timeout }) {
    try {
      const handle = await tab.page.waitForFunction(
        ({ expected, anySeed }) => window.__rumorProbe?.fullView(expected, anySeed) ?? null,
        { expected, anySeed },
        { timeout: Math.max(1, timeout), polling: 200 },
      );
      return await handle.jsonValue();
    } catch (e) {
      if (!/Timeout/i.test(e.message)) throw e;
      const live = await tab.page.evaluate(() => window.__rumorProbe.live()).catch(() => []);
      // What the tab's node itself knows (room.members() and stats), to tell a page bug from
      // a protocol one.
      const node = await tab.page
        .evaluate(() => {
          const r = window.rumorRoom;
          if (!r) return "no room";
          const s = r.stats();
          return `node: ${r.members().length} members, ${s.neighbors} neighbors, ` +
            `connections ${JSON.stringify(s.connections)}, signaling ${s.signaling}`;
        })
        .catch((e) => `node: ${e.message}`);
      const liveIds = new Set(live.map((m) => m.id));
      const want = new Set([...expected, tab.id]);
      const missing = [...want].filter((id) => !liveIds.has(id)).map((id) => this.label(id));
      const extra = live.filter((m) => !want.has(m.id)).map((m) => `${this.label(m.id)}${m.role ? ` [${m.role}]` : ""}`);
      fail(
        `${tab.name} lists ${live.length} live members, expected ${want.size + (anySeed ? 1 : 0)}` +
          `${anySeed ? " (with one seed peer)" : ""}; missing: [${missing.join(", ")}]; ` +
          `unexpected: [${extra.join(", ")}]; ${node}`,
      );
    }
  }

  /** Waits until every open tab lists exactly the open tabs plus `others` (e.g. the seed). */
  async waitConverged(others, timeout, { anySeed = false } = {}) {
    const expected = [...this.tabs.map((t) => t.id), ...others];
    const results = await Promise.allSettled(
      this.tabs.map((t) => this.waitFullView(t, expected, { anySeed, timeout })),
    );
    const failures = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
    if (failures.length) {
      fail(`${failures.length} of ${this.tabs.length} tabs did not converge:\n    ${failures.slice(0, 6).join("\n    ")}` +
        (failures.length > 6 ? `\n    ... and ${failures.length - 6} more` : ""));
    }
    return results.map((r) => r.value);
  }

  /**
   * WebRTC connections the open tabs have opened so far, summed over the tabs: how many
   * failed or were refused, how many were probes or heal attempts, and related counters.
   */
  async dials() {
    const all = await Promise.all(
      this.tabs.map((t) => t.page.evaluate(() => {
        const s = window.rumorRoom?.stats();
        return s ? { dials: s.dials, failed: s.dialFailures, noWelcome: s.welcomeTimeouts, unanswered: s.dialsUnanswered,
          unopened: s.dialsUnopened, closedEarly: s.dialsClosed, probes: s.probeDials, heals: s.healDials,
          handovers: s.handoverDials, evicted: s.evicted,
          refused: s.neighborRefusals, timeouts: s.neighborTimeouts, stalls: s.stalls, farewells: s.farewells,
          snapshots: s.snapshotRecords, nbrs: window.rumorDemo?.renderCounts.nbrs ?? 0 } : null;
      }).catch(() => null)),
    );
    const got = all.filter(Boolean);
    const sum = (k) => got.reduce((a, x) => a + x[k], 0);
    const d = { tabs: got.length, withSnapshot: got.filter((x) => x.snapshots > 0).length };
    for (const k of ["dials", "failed", "noWelcome", "unanswered", "unopened", "closedEarly", "probes", "heals", "handovers", "evicted", "refused", "timeouts", "stalls", "farewells", "snapshots", "nbrs"]) d[k] = sum(k);
    return d;
  }

  /** Prints `dials()` per tab; returns it. */
  async noteDials(when) {
    const d = await this.dials();
    const per = (k) => (d.tabs ? (d[k] / d.tabs).toFixed(1) : "-");
    note(`connections opened ${when}: ${per("dials")} per tab, ${per("refused")} of them refused, ` +
      `${per("failed")} failed or timed out (no WebRTC answer ${per("unanswered")}, answered but not open ${per("unopened")}, ` +
      `closed before open ${per("closedEarly")}, no Welcome after connecting ${per("noWelcome")}), ${per("probes")} probes, ${per("heals")} heal attempts, ${per("handovers")} handovers (evicted ${per("evicted")} times); ` +
      `neighbors dropped for silence: ${per("timeouts")} per tab, stalls ${per("stalls")}, farewells ${per("farewells")} (${d.tabs} tabs); ` +
      `member records taken from snapshots through the server: ${per("snapshots")} per tab; ` +
      `neighbor lists sent (the demo page's \`nbrs\` metadata, each a record update to every member): ${per("nbrs")} per tab`);
    return d;
  }

  /**
   * Waits until no open tab lists any of `ids` live; returns, per id, the time the last tab
   * stopped listing it. Fails naming the tabs that still list some.
   */
  async waitGone(ids, timeout) {
    const results = await Promise.allSettled(
      this.tabs.map((t) =>
        t.page
          .waitForFunction(
            (ids) => {
              const p = window.__rumorProbe;
              return p && ids.every((id) => !p.liveSince.has(id)) ? ids.map((id) => p.goneSince.get(id) ?? 0) : null;
            },
            ids,
            { timeout: Math.max(1, timeout), polling: 200 },
          )
          .then((h) => h.jsonValue()),
      ),
    );
    const stale = [];
    const lastGone = ids.map(() => 0);
    for (const [i, r] of results.entries()) {
      if (r.status === "rejected") stale.push(this.tabs[i].name);
      else r.value.forEach((t, k) => (lastGone[k] = Math.max(lastGone[k], t)));
    }
    if (stale.length) {
      fail(`still listed live after ${Math.round(timeout / 1000)} s by ${stale.length} tabs: ${stale.slice(0, 10).join(", ")}`);
    }
    return lastGone;
  }

  /** What each open tab's table shows for `ids` now: counts of "left", "failed", "absent". */
  async shownAs(ids) {
    const counts = {};
    for (const t of this.tabs) {
      const states = await t.page.evaluate(
        (ids) => ids.map((id) => document.querySelector(`#members tbody tr[data-peer="${id}"]`)?.dataset.state ?? "absent"),
        ids,
      );
      for (const s of states) counts[s] = (counts[s] ?? 0) + 1;
    }
    return counts;
  }

  /**
   * For the tabs whose table shows one of `ids` live: what their node says of it
   * (`room.members()` lists only live members), to tell a page bug from a protocol one.
   */
  async nodeViews(ids) {
    const views = [];
    for (const t of this.tabs) {
      const seen = await t.page
        .evaluate(({ ids, live }) => {
          const rows = ids.filter((id) => live.includes(
            document.querySelector(`#members tbody tr[data-peer="${id}"]`)?.dataset.state));
          const listed = window.rumorRoom?.members() ?? [];
          return rows.map((id) => `${id.slice(0, 8)}: node lists it ${listed.find((m) => m.peerId === id)?.state ?? "not (gone)"}`);
        }, { ids, live: LIVE })
        .catch((e) => [e.message]);
      if (seen.length) views.push(`${t.name}: ${seen.join(", ")}`);
    }
    return views.join("; ") || "no tab shows them live now";
  }

  /** The live seed peers listed by `tab`. */
  async seeds(tab) {
    const live = await tab.page.evaluate(() => window.__rumorProbe.live());
    return live.filter((m) => m.role === "seed").map((m) => m.id);
  }

  /** Types `text` into `tab`'s message box and presses Enter (submits the topic form). */
  async publish(tab, text) {
    await tab.page.fill("#text", text);
    await tab.page.press("#text", "Enter");
  }

  /**
   * Waits until every open tab but `from` shows `text` in its message log; returns the
   * latencies the pages show ("N ms"). Fails naming the tabs without it.
   */
  async waitMessage(from, text, senderName, timeout) {
    const others = this.tabs.filter((t) => t !== from);
    const results = await Promise.allSettled(
      others.map((t) =>
        t.page
          .waitForFunction(
            (text) => {
              const li = [...document.querySelectorAll("#log li")].find((li) => li.textContent.includes(text));
              if (!li) return null;
              const ms = /(\d+) ms/.exec(li.querySelector(".info")?.textContent ?? "");
              return { who: li.querySelector(".who")?.textContent ?? "", ms: ms ? Number(ms[1]) : null };
            },
            text,
            { timeout, polling: 200 },
          )
          .then((h) => h.jsonValue()),
      ),
    );
    const missing = [];
    const wrongSender = [];
    const latencies = [];
    for (const [i, r] of results.entries()) {
      if (r.status === "rejected") missing.push(others[i].name);
      else {
        if (r.value.who !== senderName) wrongSender.push(`${others[i].name} shows "${r.value.who}"`);
        if (r.value.ms !== null) latencies.push(r.value.ms);
      }
    }
    if (missing.length) fail(`"${text}" not shown within ${timeout / 1000} s by ${missing.length} tabs: ${missing.join(", ")}`);
    if (wrongSender.length) fail(`sender should be "${senderName}": ${wrongSender.join(", ")}`);
    return latencies;
  }
}

// ---- one run ---------------------------------------------------------------------------------

/** Starts a server (serving www/) and a browser with the probe installed. */
/** The server's `rumor_signal_wills_released_total` counter, or NaN if it is not there. */
async function willsReleased(addr) {
  const text = await (await fetch(`http://${addr}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("rumor_signal_wills_released_total "));
  return line ? Number(line.split(" ")[1]) : NaN;
}

async function setUp() {
  const server = startServer({ wwwDir: WWW });
  const addr = await server.addr;
  const browser = await launchBrowser({ prefix: "rumor-tabs-" });
  await browser.context.addInitScript(installProbe, LIVE);
  console.log(`rumor-signal at ${addr}; demo page http://${addr}/#${ROOM}`);
  return { server, addr, browser, group: new Group(browser.context, addr) };
}

/**
 * Opens `n` tabs one after another; each is measured from its page load until it lists the
 * whole group (the tabs open so far, itself and the seed). With `strict`, a tab that does not
 * get there within `perTabMs`, or reaching `deadline`, fails the run; otherwise the tab is
 * counted as a miss and the next one opens, and at `deadline` no more tabs open.
 * Without `strict`, a tab whose page does not load (or show its id) within 30 s is closed
 * and counted in `loadFailures` (and as a miss); after 5 such failures in a row no more tabs
 * open. `beforeOpen(i)` is awaited before tab i opens. Returns { seed, misses, loadFailures }.
 */
async function openTabs(group, n, { perTabMs, deadline, strict, beforeOpen = async () => {} }) {
  let seed = null;
  let misses = 0;
  let loadFailures = 0;
  let failuresInARow = 0;
  for (let i = 0; i < n; i++) {
    if (!strict && Date.now() >= deadline) {
      note(`deadline reached: ${group.tabs.length} of ${n} tabs open`);
      break;
    }
    if (failuresInARow >= 5) {
      note(`${failuresInARow} tabs in a row did not load: no more tabs open (${group.tabs.length} of ${n} open)`);
      break;
    }
    await beforeOpen(i);
    let tab;
    try {
      tab = await group.open();
      failuresInARow = 0;
    } catch (e) {
      if (strict) throw e;
      loadFailures += 1;
      failuresInARow += 1;
      misses += 1;
      note(`tab ${i} did not load: ${e.message.split("\n")[0]} (closed; continuing)`);
      continue;
    }
    const expected = group.tabs.map((t) => t.id).concat(seed ? [seed] : []);
    const timeout = Math.max(1000, Math.min(perTabMs, deadline - Date.now()));
    try {
      const at = await group.waitFullView(tab, expected, { anySeed: !seed, timeout });
      tab.joinMs = Math.round(at - tab.loadedAt);
      tab.phases = await phases(tab);
    } catch (e) {
      if (strict) throw e;
      misses += 1;
      note(`${e.message} (continuing)`);
    }
    if (!seed) {
      [seed] = await group.seeds(tab);
      if (seed) group.labels.set(seed, "seed");
    }
    if ((i + 1) % 10 === 0) note(`${i + 1} tabs open`);
  }
  return { seed, misses, loadFailures };
}

/**
 * When each step of `tab`'s page load ended, in ms since its navigation started: the HTML,
 * the page's module, the package's JS and wasm (from Resource Timing), the package ready
 * and the room joined (the demo page's performance marks).
 */
async function phases(tab) {
  return tab.page.evaluate(() => {
    const entry = (suffix) => performance.getEntriesByType("resource").find((e) => e.name.endsWith(suffix));
    const end = (suffix) => entry(suffix)?.responseEnd;
    const mark = (name) => performance.getEntriesByName(name, "mark")[0]?.startTime;
    const round = (v) => (v === undefined ? null : Math.round(v));
    return {
      html: round(performance.getEntriesByType("navigation")[0]?.responseEnd),
      app_js: round(end("/app.js")),
      package_js: round(end("/pkg/rumor.js")),
      wasm: round(end("/pkg/rumor_bg.wasm")),
      ready: round(mark("rumor:ready")),
      joined: round(mark("rumor:joined")),
      wasm_transfer_bytes: entry("/pkg/rumor_bg.wasm")?.transferSize ?? null,
    };
  });
}

/** The median of each phase over the tabs that have phases, as an object. */
function phaseMedians(tabs) {
  const withPhases = tabs.filter((t) => t.phases);
  if (!withPhases.length) return null;
  const keys = [...Object.keys(withPhases[0].phases), "full_view"];
  const value = (t, k) => (k === "full_view" ? t.joinMs : t.phases[k]);
  return Object.fromEntries(keys.map((k) => [k, percentile(withPhases.map((t) => value(t, k)).filter((v) => v !== null), 50)]));
}

// ---- test mode -------------------------------------------------------------------------------

async function runTests(n) {
  const checks = new Checks(`tabs (${n} tabs of the demo page)`);
  let { server, addr, browser, group } = await setUp();
  const figures = { join: [], leave: [] };
  let seed = null;
  const step = async (name, f) => {
    // After a failed step the group is in an unknown state: the later steps are not run.
    if (checks.failures) return checks.skip(name, "an earlier check failed");
    return checks.check(name, f);
  };
  try {
    await step(`${n} tabs join one room and each lists the whole group`, async () => {
      ({ seed } = await openTabs(group, n, { perTabMs: 45000, deadline: Date.now() + 240000, strict: true }));
      if (!seed) fail("no tab lists a seed peer (role=seed)");
      figures.join.push(...group.tabs.map((t) => t.joinMs));
    });

    await step(`every tab lists the same ${n + 1} members (${n} tabs + the seed)`, async () => {
      await group.waitConverged([seed], 90000);
    });
    note(`page load -> lists every member: ${describe(figures.join)}`);
    note(`per tab (ms): ${group.tabs.map((t) => t.joinMs).join(" ")}`);
    note(`page load steps, median ms since navigation: ${JSON.stringify(phaseMedians(group.tabs))}`);
    const joining = await group.noteDials("while joining");

    await step("every tab learned members from a snapshot sent by its first contact through the server", async () => {
      if (joining.withSnapshot !== group.tabs.length) {
        fail(`${joining.withSnapshot} of ${group.tabs.length} tabs took member records from a snapshot`);
      }
    });

    const sender = group.tabs[0];
    await step("a message typed in one tab's topic box appears in every other tab", async () => {
      const text = `hello from ${sender.label} ${Date.now()}`;
      await group.publish(sender, text);
      // Generous: with 30 tabs on two cores a tab's main thread can stall for seconds (the
      // latency itself is a figure, printed below and measured by the bench, not a check).
      await sender.page.waitForFunction((t) => document.querySelector("#log li.mine")?.textContent.includes(t), text, { timeout: 30000 });
      note(`published "${text}" from ${sender.name}`);
      const latencies = await group.waitMessage(sender, text, sender.displayName, 45000);
      if (latencies.length !== group.tabs.length - 1) fail(`only ${latencies.length} tabs show a latency`);
      note(`delivery latency shown by the pages: ${describe(latencies)}`);
    });

    await step("a screenshot shows the member table and the overlay drawing (target/e2e/demo.png)", async () => {
      const page = sender.page;
      const path = pathJoin(repoRoot, "target/e2e/demo.png");
      mkdirSync(dirname(path), { recursive: true });
      // The other tabs' links reach the drawing through their neighbor lists, which a tab
      // sends once its list has settled (2 s without change, at most 10 s after the first
      // change), and the drawing is redrawn at most every second: wait for that (the check
      // below tells if it never comes).
      await page
        .waitForFunction((n) => document.querySelectorAll("svg#overlay line").length >= n, n, { timeout: 20000, polling: 250 })
        .catch(() => {});
      // Generous: a starved renderer (30 tabs on two cores) can take long to paint a frame.
      await page.screenshot({ path, fullPage: true, timeout: 90000 });
      if (statSync(path).size < 10000) fail(`${path} is only ${statSync(path).size} bytes`);
      const shown = await page.evaluate(() => {
        const box = (sel) => {
          const r = document.querySelector(sel)?.getBoundingClientRect();
          return r ? { w: Math.round(r.width), h: Math.round(r.height) } : null;
        };
        const svg = document.querySelector("svg#overlay");
        return {
          table: box("#members"),
          overlay: box("svg#overlay"),
          rows: document.querySelectorAll("#members tbody tr").length,
          dots: svg.querySelectorAll("circle").length,
          lines: svg.querySelectorAll("line").length,
          error: document.getElementById("error").hidden ? "" : document.getElementById("error").textContent,
        };
      });
      const problems = [];
      if (!(await page.locator("#members").isVisible())) problems.push("member table not visible");
      if (!(await page.locator("svg#overlay").isVisible())) problems.push("overlay not visible");
      if (!shown.table?.w || !shown.table?.h) problems.push(`member table box ${JSON.stringify(shown.table)}`);
      if (!shown.overlay?.w || !shown.overlay?.h) problems.push(`overlay box ${JSON.stringify(shown.overlay)}`);
      if (shown.rows !== n + 1) problems.push(`${shown.rows} member rows, expected ${n + 1}`);
      if (shown.dots !== n + 1) problems.push(`${shown.dots} dots in the overlay, expected ${n + 1}`);
      if (shown.lines < n) problems.push(`${shown.lines} lines in the overlay, expected at least ${n}`);
      if (shown.error) problems.push(`error shown: ${shown.error}`);
      const fit = await page.evaluate(stateColumnFit);
      if (fit.cut) problems.push(`${fit.cut} member states cut short`);
      if (!fit.longest) problems.push(`"suspected" does not fit the state column`);
      if (problems.length) fail(problems.join("; "));
      note(`${path}: ${shown.rows} rows, ${shown.dots} dots, ${shown.lines} lines`);
    });

    await step("on a phone-sized screen the page fits its width (target/e2e/demo-phone.png)", async () => {
      const page = sender.page;
      const before = page.viewportSize();
      const path = pathJoin(repoRoot, "target/e2e/demo-phone.png");
      await page.setViewportSize({ width: 390, height: 844 });
      try {
        // Laid out again at the new width before anything is measured.
        await page.waitForFunction(() => window.innerWidth === 390, null, { timeout: 30000 });
        await page.screenshot({ path, fullPage: true, timeout: 90000 });
        const shown = await page.evaluate(() => {
          const right = (sel) => Math.round(document.querySelector(sel)?.getBoundingClientRect().right ?? -1);
          return {
            scroll: document.documentElement.scrollWidth,
            width: window.innerWidth,
            table: right("#members"),
            overlay: right("svg#overlay"),
            topic: right("#log"),
          };
        });
        const fit = await page.evaluate(stateColumnFit);
        const problems = [];
        if (shown.scroll > shown.width) problems.push(`the page is ${shown.scroll} px wide on a ${shown.width} px screen`);
        for (const k of ["table", "overlay", "topic"]) {
          if (shown[k] < 0) problems.push(`no ${k}`);
          else if (shown[k] > shown.width) problems.push(`the ${k} reaches ${shown[k]} px on a ${shown.width} px screen`);
        }
        if (fit.cut) problems.push(`${fit.cut} member states cut short`);
        if (!fit.longest) problems.push(`"suspected" does not fit the state column`);
        for (const sel of ["#members", "svg#overlay"]) {
          if (!(await page.locator(sel).isVisible())) problems.push(`${sel} not visible`);
        }
        if (problems.length) fail(problems.join("; "));
        note(`${path}: ${shown.width} px wide, member table, overlay and topic box within it`);
      } finally {
        if (before) await page.setViewportSize(before);
      }
    });

    await step("5 tabs close and every remaining tab stops listing them", async () => {
      // 5 tabs spread over the group (never tab 0, the sender above), fewer in a tiny group.
      const count = Math.min(5, group.tabs.length - 2);
      const closing = Array.from({ length: count }, (_, k) => group.tabs[1 + Math.floor((k * (group.tabs.length - 1)) / count)]);
      const ids = closing.map((t) => t.id);
      const closedAt = await Promise.all(closing.map((t) => group.close(t)));
      const lastGone = await group.waitGone(ids, 60000);
      const ms = lastGone.map((t, k) => Math.max(0, t - closedAt[k]));
      figures.leave.push(...ms);
      await group.waitConverged([seed], 60000);
      const shown = await group.shownAs(ids);
      note(`close -> no other tab lists it (ms): ${ms.join(" ")}`);
      note(`the remaining tabs show the closed ones as: ${JSON.stringify(shown)}`);
      const { farewells } = await group.dials();
      note(`farewells of closed tabs taken in through the server by the remaining tabs: ${farewells}`);
      // Every closed tab left a will with the server (its farewell made in advance), which
      // the server relays to the seed when the tab's WebSocket ends.
      const wills = await willsReleased(addr);
      note(`wills released by the server so far: ${wills}`);
      if (!(wills >= count)) fail(`the server released ${wills} wills for ${count} closed tabs`);
      const stillLive = LIVE.reduce((s, k) => s + (shown[k] ?? 0), 0);
      if (stillLive) fail(`still shown live: ${JSON.stringify(shown)}; ${await group.nodeViews(ids)}`);
    });

    await step("a reloaded tab comes back with a new id and the group converges again", async () => {
      const tab = group.tabs[1];
      const oldId = tab.id;
      const name = tab.displayName;
      await tab.page.reload();
      await group.identify(tab, oldId);
      // The identity key is made at each join (crypto.getRandomValues) and not stored.
      if (tab.id === oldId) fail("the reloaded tab kept its id; update the docs (README, tabs.mjs) if intended");
      if (tab.displayName !== name) fail(`the tab's name changed on reload: "${name}" -> "${tab.displayName}"`);
      const at = await group.waitFullView(tab, group.tabs.map((t) => t.id).concat(seed), { timeout: 60000 });
      tab.joinMs = Math.round(at - tab.loadedAt);
      await group.waitGone([oldId], 60000);
      await group.waitConverged([seed], 60000);
      note(`${short(oldId)} -> ${short(tab.id)}; reload -> lists every member: ${tab.joinMs} ms; ` +
        `the others show the old id as ${JSON.stringify(await group.shownAs([oldId]))}`);
    });

    let oldSeed = seed;
    await step("with the server killed, every tab keeps its members and messages get through", async () => {
      note(`kill -KILL ${server.proc.pid} (rumor-signal)`);
      await server.stop("SIGKILL");
      // Every page notices: its status badge leaves "connected".
      await Promise.all(
        group.tabs.map((t) =>
          t.page
            .waitForFunction(() => document.getElementById("status").dataset.signaling !== "connected", null, { timeout: 20000, polling: 200 })
            .catch(() => fail(`${t.name} still shows signaling connected 20 s after the server died`)),
        ),
      );
      const ids = group.tabs.map((t) => t.id);
      for (const t of group.tabs) {
        const live = new Set((await t.page.evaluate(() => window.__rumorProbe.live())).map((m) => m.id));
        const missing = ids.filter((id) => !live.has(id));
        if (missing.length) fail(`${t.name} lost members while the server is away: ${missing.map((id) => group.label(id)).join(", ")}`);
      }
      const from = group.tabs[2];
      const text = `while the server is away ${Date.now()}`;
      await group.publish(from, text);
      await group.waitMessage(from, text, from.displayName, 45000);
    });

    await step("the server restarts on the same address and every tab reconnects its signaling", async () => {
      server = startServer({ listen: addr, wwwDir: WWW });
      await server.addr;
      const started = Date.now();
      const results = await Promise.allSettled(
        group.tabs.map((t) =>
          t.page.waitForFunction(() => document.getElementById("status").dataset.signaling === "connected", null, { timeout: 60000, polling: 200 }),
        ),
      );
      const stuck = results.flatMap((r, i) => (r.status === "rejected" ? [group.tabs[i].name] : []));
      if (stuck.length) fail(`not reconnected within 60 s: ${stuck.join(", ")}`);
      note(`all ${group.tabs.length} tabs reconnected within ${Date.now() - started} ms of the restart`);
    });

    await step("the old seed peer is gone from every tab", async () => {
      await group.waitGone([oldSeed], 60000);
      note(`the tabs show the old seed as ${JSON.stringify(await group.shownAs([oldSeed]))}`);
    });

    await step("a new tab joins after the restart and every tab lists the same members", async () => {
      const tab = await group.open();
      const at = await group.waitFullView(tab, group.tabs.map((t) => t.id), { anySeed: true, timeout: 60000 }).catch(async (e) => {
        const live = await tab.page.evaluate(() => window.__rumorProbe.live());
        if (live.every((m) => m.id === tab.id || m.role === "seed")) {
          fail(`the group is split: the new tab reached only the restarted server's seed peer, which ` +
            `none of the existing tabs is connected to. ${e.message}`);
        }
        throw e;
      });
      tab.joinMs = Math.round(at - tab.loadedAt);
      [seed] = await group.seeds(tab);
      if (!seed || seed === oldSeed) fail(`the new tab lists seed ${short(seed)}, expected the restarted server's new seed`);
      group.labels.set(seed, "new seed");
      await group.waitConverged([seed], 60000);
      note(`new tab lists every member after ${tab.joinMs} ms; every tab lists ${group.tabs.length + 1} members`);
      const text = `after the restart ${Date.now()}`;
      await group.publish(tab, text);
      await group.waitMessage(tab, text, tab.displayName, 45000);
    });

    // Independent of the steps before: always run. Pages outside the group, so that the
    // check below does not count their errors.
    await checks.check("a page that cannot join says why in the page: no server there, a full room", async () => {
      const problems = [];
      const errorShown = async (page, what) => {
        try {
          await page.waitForFunction(() => !document.getElementById("error").hidden && document.getElementById("error").textContent, null, { timeout: 30000, polling: 200 });
          return await page.evaluate(() => document.getElementById("error").textContent);
        } catch (e) {
          problems.push(`${what}: no error shown in the page (${e.message.split("\n")[0]})`);
          return "";
        }
      };
      const opened = [];
      const full = startServer({ wwwDir: WWW, extraArgs: ["--max-peers-per-room", "1"] });
      try {
        // Both pages come from this server, whatever became of the group's.
        const fullAddr = await full.addr;
        // The signaling address (?signal=) at a port where nothing listens.
        const noServer = await browser.context.newPage();
        opened.push(noServer);
        await noServer.goto(`http://${fullAddr}/?signal=${encodeURIComponent(`ws://${fullAddr.split(":")[0]}:1/ws`)}#nowhere`);
        const shown = await errorShown(noServer, "no server");
        if (shown && !/Could not join room "nowhere"[\s\S]*Rumor\.join/.test(shown)) problems.push(`no server: the page shows ${JSON.stringify(shown)}`);
        if (shown) note(`no server: ${JSON.stringify(shown.split("\n")[1] ?? shown)}`);
        // A room that takes one client: the second page is turned away.
        const first = await browser.context.newPage();
        opened.push(first);
        await first.goto(`http://${fullAddr}/#small`);
        await first.waitForFunction(() => window.rumorRoom, null, { timeout: 30000 });
        const second = await browser.context.newPage();
        opened.push(second);
        await second.goto(`http://${fullAddr}/#small`);
        const turned = await errorShown(second, "full room");
        if (turned && !/full/i.test(turned)) problems.push(`full room: the page shows ${JSON.stringify(turned)}`);
        if (turned) note(`full room: ${JSON.stringify(turned.split("\n")[1] ?? turned)}`);
      } finally {
        for (const p of opened) await closePage(p).catch(() => {});
        await full.stop();
      }
      if (problems.length) fail(problems.join("; "));
    });

    // Independent of the steps before: always run.
    await checks.check("no tab shows an error or threw an uncaught error", async () => {
      const shown = [];
      for (const t of group.tabs) {
        const err = await t.page.evaluate(() => (document.getElementById("error").hidden ? "" : document.getElementById("error").textContent));
        if (err) shown.push(`${t.name}: ${err}`);
      }
      if (shown.length || group.pageErrors.length) fail([...shown, ...group.pageErrors].join("; "));
    });
  } finally {
    await cleanupAll();
  }
  console.log(`figures (${n} tabs): page load -> lists every member: ${describe(figures.join.filter((x) => x !== null))}`);
  console.log(`figures (${n} tabs): tab close -> no other tab lists it: ${describe(figures.leave)}`);
  console.log(`(console errors logged by the pages: ${group.consoleErrors}, e.g. failed reconnects while the server was away)`);
  const ok = checks.summary();
  if (!ok) console.log("rumor-signal log (tail):\n" + serverLogTail(40));
  return ok;
}

// ---- bench mode ------------------------------------------------------------------------------

const JOIN_WAIT_MS = 10000; // bench: how long a new tab may take to list the whole group
const OPEN_DEADLINE_MS = 20 * 60000; // bench: no more tabs open after this
const LEAVE_WAIT_MS = 30000; // bench: how long a closed tab may stay listed

/**
 * The renderers' CPU between two `rendererThreadTicks` readings `seconds` apart: in all, and
 * by thread name (the main threads are "chromium"), in cores, the largest first.
 */
function rendererThreads(before, after, seconds) {
  const cores = (ticks) => Math.round((ticks / 100 / seconds) * 100) / 100; // USER_HZ = 100
  const rows = [...after].map(([name, t]) => [name, Math.max(0, t - (before.get(name) ?? 0))]).sort((a, b) => b[1] - a[1]);
  return {
    renderer_cores_while_joining: cores(rows.reduce((a, [, t]) => a + t, 0)),
    renderer_threads_cores_while_joining: Object.fromEntries(rows.filter(([, t]) => cores(t) >= 0.01).map(([name, t]) => [name, cores(t)])),
  };
}

/**
 * `--profile-from K`: the DevTools profiler on the first tab's main thread from just before
 * tab K opens, for at most 30 s (`stop()` ends it sooner and returns the self time by
 * category, or null if it never started).
 */
class MainThreadProfile {
  /** `from`: the tab count at which sampling starts; `file`: where the whole profile goes. */
  constructor(from, file) {
    this.from = from === undefined ? null : Number(from);
    this.file = file;
    this.cdp = null;
    this.startedAt = 0;
    this.seconds = 0;
    this.timer = null;
    this.stopping = null;
  }

  async beforeOpen(i, group) {
    if (this.cdp || this.from === null || i !== this.from || !group.tabs.length) return;
    this.cdp = await group.tabs[0].page.context().newCDPSession(group.tabs[0].page);
    await this.cdp.send("Profiler.enable");
    await this.cdp.send("Profiler.setSamplingInterval", { interval: 1000 });
    await this.cdp.send("Profiler.start");
    this.startedAt = Date.now();
    this.timer = setTimeout(() => this.stop(), 30000);
  }

  stop() {
    if (this.cdp && !this.stopping) {
      clearTimeout(this.timer);
      this.stopping = this.cdp.send("Profiler.stop").then(({ profile }) => {
        this.seconds = (Date.now() - this.startedAt) / 1000;
        // The whole profile too, for DevTools (Performance panel: load profile).
        mkdirSync(dirname(this.file), { recursive: true });
        writeFileSync(this.file, JSON.stringify(profile));
        return profileShares(profile).slice(0, 15);
      }, (e) => {
        note(`profile of the first tab lost: ${e.message}`);
        return null;
      });
    }
    return this.stopping ?? Promise.resolve(null);
  }
}

/** One bench run of `n` tabs; returns the JSON object for target/bench/e2e.json. */
async function benchRun(n) {
  console.log(`==> e2e bench: ${n} tabs`);
  const started = Date.now();
  const { browser, group } = await setUp();
  const result = {
    tabs: n,
    join_to_full_view_ms_p50: null,
    join_to_full_view_ms_p99: null,
    leave_seen_by_all_ms_p50: null,
    leave_seen_by_all_ms_p99: null,
    rss_per_tab_mb: null,
    converged: false,
    notes: [],
  };
  try {
    // Each tab gets JOIN_WAIT_MS to list the whole group (10x the target of 1 s); opening
    // stops after OPEN_DEADLINE_MS.
    const profiler = new MainThreadProfile(opts["profile-from"], pathJoin(dirname(resolve(opts.out)), `e2e-first-tab-${n}.cpuprofile`));
    const ticksBefore = rendererThreadTicks(browser.profile);
    const openedAt = Date.now();
    let opened;
    try {
      opened = await openTabs(group, n, {
        perTabMs: JOIN_WAIT_MS, deadline: Date.now() + OPEN_DEADLINE_MS, strict: false,
        beforeOpen: (i) => profiler.beforeOpen(i, group),
      });
    } finally {
      // Also when opening failed: where the tabs' CPU went is what tells why.
      Object.assign(result, rendererThreads(ticksBefore, rendererThreadTicks(browser.profile), (Date.now() - openedAt) / 1000));
      note(`renderers while the tabs opened: ${result.renderer_cores_while_joining} cores; by thread (cores): ${JSON.stringify(result.renderer_threads_cores_while_joining)}`);
      const shares = await profiler.stop();
      if (shares) {
        result.first_tab_profile_ms = shares;
        note(`the first tab's main thread over ${profiler.seconds.toFixed(0)} s from tab ${profiler.from} on (self ms): ${shares.map((x) => `${x.cat} ${x.ms}`).join("; ")}; whole profile in ${profiler.file}`);
      }
    }
    const { seed, misses, loadFailures } = opened;
    // A tab that missed counts as JOIN_WAIT_MS (a lower bound), so that misses raise the p99;
    // so does a tab that did not load at all.
    const join = group.tabs.map((t) => t.joinMs ?? JOIN_WAIT_MS).concat(Array(loadFailures).fill(JOIN_WAIT_MS));
    result.join_to_full_view_ms_p50 = percentile(join, 50);
    result.join_to_full_view_ms_p99 = percentile(join, 99);
    result.join_samples = join.length;
    result.join_misses = misses;
    result.tabs_opened = group.tabs.length;
    result.page_load_failures = loadFailures;
    if (group.tabs.length + loadFailures < n) {
      result.notes.push(`only ${group.tabs.length + loadFailures} of ${n} tabs tried, ${group.tabs.length} of them ` +
        `open (no more after ${OPEN_DEADLINE_MS / 60000} minutes or 5 pages in a row that did not load)`);
    }
    if (loadFailures) {
      result.notes.push(`${loadFailures} tabs did not load and show their id within 30 s (closed again; ` +
        `counted as misses)`);
    }
    if (misses) {
      result.notes.push(`${misses} of ${join.length} tabs did not list the whole group within ` +
        `${JOIN_WAIT_MS / 1000} s of loading (counted as ${JOIN_WAIT_MS} ms)` +
        (loadFailures ? `, ${loadFailures} of them because the page did not load` : ""));
    }
    note(`page load -> lists every member: ${describe(join)}`);
    result.page_load_steps_ms_p50 = phaseMedians(group.tabs);
    note(`page load steps, median ms since navigation: ${JSON.stringify(result.page_load_steps_ms_p50)}`);
    try {
      const t0 = Date.now();
      await group.waitConverged([seed], 60000 + 1000 * n);
      result.converged = true;
      note(`all ${group.tabs.length} tabs list the same ${group.tabs.length + 1} members (${Date.now() - t0} ms after the last tab opened)`);
    } catch (e) {
      result.notes.push(`not converged: ${e.message.split("\n")[0]}`);
      note(`${e.message}`);
    }
    const d = await group.noteDials("while joining");
    if (d.tabs) {
      const per = (k) => Math.round((d[k] / d.tabs) * 10) / 10;
      result.dials_per_tab = per("dials");
      result.refused_dials_per_tab = per("refused");
      result.failed_dials_per_tab = per("failed");
      result.unwelcomed_dials_per_tab = per("noWelcome");
      result.unanswered_dials_per_tab = per("unanswered");
      result.unopened_dials_per_tab = per("unopened");
      result.closed_early_dials_per_tab = per("closedEarly");
      result.probe_dials_per_tab = per("probes");
      result.heal_dials_per_tab = per("heals");
      result.handover_dials_per_tab = per("handovers");
      result.evicted_per_tab = per("evicted");
      result.silence_drops_per_tab = per("timeouts");
      result.stalls_per_tab = per("stalls");
      result.neighbor_list_updates_per_tab = per("nbrs");
    }
    const mem = chromiumMemory(browser.profile);
    const perTab = (kb) => Math.round((kb / 1024 / group.tabs.length) * 10) / 10;
    result.rss_per_tab_mb = perTab(mem.rendererRssKb); // renderer VmRSS summed, / tabs
    result.pss_per_tab_mb = perTab(mem.rendererPssKb); // renderer PSS summed, / tabs
    result.chromium_rss_per_tab_mb = perTab(mem.totalRssKb); // every Chromium process
    result.chromium_pss_per_tab_mb = perTab(mem.totalPssKb);
    result.renderer_processes = mem.renderers;
    note(`memory: ${mem.renderers} renderer processes, VmRSS ${(mem.rendererRssKb / 1024).toFixed(0)} MB, ` +
      `PSS ${(mem.rendererPssKb / 1024).toFixed(0)} MB; all ${mem.processes} Chromium processes: ` +
      `VmRSS ${(mem.totalRssKb / 1024).toFixed(0)} MB, PSS ${(mem.totalPssKb / 1024).toFixed(0)} MB`);
    // Tabs close one after another, each measured until no remaining tab lists it.
    const leave = [];
    const shownAs = {}; // how the other tabs show the closed ones: left / failed / absent
    for (let k = 0; k < 10 && group.tabs.length > 2; k++) {
      const tab = group.tabs[1 + ((k * 7) % (group.tabs.length - 1))];
      const closedAt = await group.close(tab);
      try {
        const [gone] = await group.waitGone([tab.id], LEAVE_WAIT_MS);
        leave.push(Math.max(0, gone - closedAt));
        for (const [state, count] of Object.entries(await group.shownAs([tab.id]))) {
          shownAs[state] = (shownAs[state] ?? 0) + count;
        }
      } catch (e) {
        leave.push(LEAVE_WAIT_MS); // a lower bound, as for joins
        result.leave_misses = (result.leave_misses ?? 0) + 1;
        result.notes.push(`${tab.name} closed: ${e.message}; their nodes: ${await group.nodeViews([tab.id])}`);
      }
    }
    result.closed_tabs_shown_as = shownAs;
    result.leave_seen_by_all_ms_p50 = percentile(leave, 50);
    result.leave_seen_by_all_ms_p99 = percentile(leave, 99);
    result.leave_samples = leave.length;
    note(`tab close -> no other tab lists it: ${describe(leave)}; shown as ${JSON.stringify(shownAs)}`);
  } catch (e) {
    if (result.join_to_full_view_ms_p50 === null && group.tabs.length) {
      // Failed while opening tabs: keep the join figures of the tabs opened so far.
      const join = group.tabs.map((t) => t.joinMs ?? JOIN_WAIT_MS);
      result.join_to_full_view_ms_p50 = percentile(join, 50);
      result.join_to_full_view_ms_p99 = percentile(join, 99);
      result.join_samples = join.length;
      result.tabs_opened = group.tabs.length;
      result.notes.push(`join figures of the ${group.tabs.length} tabs opened before the failure`);
    }
    result.notes.push(`run failed: ${e.message}`);
    note(`run failed: ${e.message}`);
  } finally {
    await cleanupAll();
  }
  result.run_seconds = Math.round((Date.now() - started) / 1000);
  return result;
}

// ---- main ------------------------------------------------------------------------------------

let ok;
try {
  if (opts.bench) {
    const sizes = opts.bench.split(",").map(Number);
    const results = [];
    for (const n of sizes) results.push(await benchRun(n));
    const out = resolve(opts.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(results, null, 2) + "\n");
    console.log(`e2e figures saved in ${out}`);
    ok = true;
  } else {
    ok = await runTests(Number(opts.tabs));
  }
} catch (e) {
  console.log(`error: ${e?.stack ?? e}`);
  ok = false;
} finally {
  await cleanupAll();
}
process.exit(ok ? 0 : 1);
