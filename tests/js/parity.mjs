// Browser test of the seed-system parity features of the rumor-gossip package, against a
// real rumor-signal: pages keep a shared counter map in sync through the state-sync pull
// handler; a page sends a message and a request to a member that is not its neighbor and
// gets the acknowledgement and the response; leader, per-key listeners and broadcast work
// from JavaScript.
//
// Run by `cargo xtask test` inside a private network namespace (DESIGN §5), with
// RUMOR_SIGNAL_BIN, RUMOR_PKG_DIR and RUMOR_TEST_IP, like e2e.mjs.
import { dirname, join as pathJoin } from "node:path";
import { fileURLToPath } from "node:url";
import { Checks, cleanupAll, fail, launchBrowser, serverLogTail, startServer } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const server = startServer({ wwwDir: pathJoin(here, "www") });
const addr = await server.addr;
console.log(`rumor-signal at ${addr}`);
const { context } = await launchBrowser({ prefix: "rumor-parity-" });
const url = `ws://${addr}/ws`;
const checks = new Checks("parity");
const check = (name, f) => checks.check(name, f);
const pageErrors = [];

async function openPage(label) {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(`[${label}] ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`[${label}] console: ${m.text()}`);
  });
  await page.goto(`http://${addr}/e2e.html`);
  await page.waitForFunction(() => window.rumorReady === true, null, { timeout: 10000 });
  return page;
}

/** Joins `room` in `page` as `name`; keeps the room, its neighbors and events in `window`. */
async function join(page, room, name, extra = {}) {
  return page.evaluate(
    async ({ url, room, name, extra }) => {
      const r = await Rumor.join({ url, room, meta: { name }, iceServers: [], ...extra });
      window.rooms ??= {};
      window.rooms[room] = r;
      r.neighbors = new Set();
      r.on("neighbor", (n) => (n.up ? r.neighbors.add(n.peerId) : r.neighbors.delete(n.peerId)));
      r.directs = [];
      r.on("direct", (d) => r.directs.push({ from: d.from, text: d.text }));
      r.broadcasts = [];
      r.on("message", (m) => r.broadcasts.push({ topic: m.topic, from: m.from, text: m.text }));
      r.leaders = [];
      r.on("leader", (l) => r.leaders.push(l.peerId));
      return r.peerId;
    },
    { url, room, name, extra },
  );
}

/** Waits until `f(arg)` is truthy in `page`; on timeout fails with what `show(arg)` returns. */
async function waitIn(page, f, arg, show, timeout = 30000) {
  await page.waitForFunction(f, arg, { timeout, polling: 100 }).catch(async () => {
    fail(JSON.stringify(await page.evaluate(show, arg)));
  });
}

try {
  const pages = [await openPage("p1"), await openPage("p2"), await openPage("p3"), await openPage("p4")];
  const names = ["p1", "p2", "p3", "p4"];

  await check("three pages keep a shared counter map in sync through the pull handler", async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await join(pages[i], "sync", names[i]));
    for (let i = 0; i < 3; i++) {
      await pages[i].evaluate((name) => {
        // A grow-only map of counters: request = my map, answer = entries the asker lacks,
        // merge = the larger value of each counter.
        const map = (window.counters = {});
        const enc = (o) => JSON.stringify(o);
        window.rooms.sync.setStateSync({
          request: () => enc(map),
          answer: (from, req) => {
            const theirs = JSON.parse(new TextDecoder().decode(req));
            const newer = Object.fromEntries(Object.entries(map).filter(([k, v]) => !(theirs[k] >= v)));
            return Object.keys(newer).length ? enc(newer) : null;
          },
          merge: (from, resp) => {
            for (const [k, v] of Object.entries(JSON.parse(new TextDecoder().decode(resp)))) {
              map[k] = Math.max(map[k] ?? 0, v);
            }
          },
        });
        let n = 0;
        const tick = () => {
          map[name] = ++n;
          if (n < 3) setTimeout(tick, 300);
        };
        tick();
      }, names[i]);
    }
    for (const page of pages.slice(0, 3)) {
      await waitIn(
        page,
        () => JSON.stringify(Object.entries(window.counters).sort()) === JSON.stringify([["p1", 3], ["p2", 3], ["p3", 3]]),
        null,
        () => ({ counters: window.counters, stats: window.rooms.sync.stats() }),
      );
    }
    // A handler missing a method is refused with a clear Error.
    const msg = await pages[0].evaluate(() => {
      try {
        window.rooms.sync.setStateSync({ request: () => "" });
        return "no error";
      } catch (e) {
        return e.message;
      }
    });
    if (!/setStateSync: the handler needs a function `answer`/.test(msg)) fail(msg);
    for (const page of pages.slice(0, 3)) await page.evaluate(() => window.rooms.sync.leave());
  });

  // Four pages that keep at most two WebRTC neighbors each: some pairs are not neighbors.
  const ids = [];
  await check("four pages with at most two neighbors each form one group", async () => {
    for (let i = 0; i < 4; i++) ids.push(await join(pages[i], "route", names[i], { maxNeighbors: 2 }));
    for (const page of pages) {
      await waitIn(
        page,
        () => window.rooms.route.members().length === 5,
        null,
        () => window.rooms.route.members().map((m) => [m.meta.name ?? m.meta.role, m.state]),
        60000,
      );
    }
    // The WebRTC links (every one has a page at one end, so the pages' neighbor lists give
    // them all) must join the four pages and the seed into one piece, twice in a row half
    // a second apart: views of two slots close into full cliques that the members outside
    // must break open (OverlayConfig::fill_escalate_after), which takes seconds.
    const links = async () => {
      const edges = [];
      for (let i = 0; i < 4; i++) {
        for (const n of await pages[i].evaluate(() => [...window.rooms.route.neighbors])) edges.push([ids[i], n]);
      }
      return edges;
    };
    const pieces = (edges) => {
      const parent = new Map();
      const find = (x) => (parent.get(x) ?? x) === x ? x : find(parent.get(x));
      for (const [a, b] of edges) parent.set(find(a), find(b));
      return new Set([...ids, ...edges.flat()].map(find)).size;
    };
    const start = Date.now();
    let streak = 0;
    let edges = [];
    while (streak < 2) {
      edges = await links();
      const whole = pieces(edges) === 1 && new Set(edges.flat()).size === 5;
      streak = whole ? streak + 1 : 0;
      if (Date.now() - start > 30000) {
        fail(`the overlay is not one piece after 30 s: ${JSON.stringify(edges.map((e) => e.map((x) => x.slice(0, 6))))}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    console.log(`     one overlay ${Date.now() - start} ms after every page listed 5 members`);
  });

  await check("a page sends a message and a request to a member that is not its neighbor", async () => {
    // Find a page and a non-neighbor page.
    let pair = null;
    for (let a = 0; a < 4 && !pair; a++) {
      const nb = await pages[a].evaluate(() => [...window.rooms.route.neighbors]);
      for (let b = 0; b < 4 && !pair; b++) if (b !== a && !nb.includes(ids[b])) pair = [a, b, nb];
    }
    if (!pair) fail("every page is a neighbor of every other: maxNeighbors was not applied");
    const [a, b, nb] = pair;
    console.log(`     ${names[a]} (neighbors ${nb.map((x) => x.slice(0, 6)).join(",")}) -> ${names[b]} (${ids[b].slice(0, 6)})`);
    await pages[b].evaluate(() => {
      window.rooms.route.onRequest(async (req) => `answer to ${req.text} from ${req.from.slice(0, 6)}`);
    });
    const out = await pages[a].evaluate(async (to) => {
      const room = window.rooms.route;
      await room.send(to, "direct hello");
      const resp = await room.request(to, "question");
      return new TextDecoder().decode(resp);
    }, ids[b]);
    const want = `answer to question from ${ids[a].slice(0, 6)}`;
    if (out !== want) fail(`response ${JSON.stringify(out)}, wanted ${JSON.stringify(want)}`);
    await waitIn(
      pages[b],
      (from) => window.rooms.route.directs.some((d) => d.from === from && d.text === "direct hello"),
      ids[a],
      () => window.rooms.route.directs,
      5000,
    );
  });

  await check("send and request to unknown members reject with clear Errors", async () => {
    const r = await pages[0].evaluate(async () => {
      const outcome = (p) => p.then(() => "no error", (e) => e.message);
      const room = window.rooms.route;
      return {
        badId: await outcome(room.send("nope", "x")),
        unknown: await outcome(room.request("ab".repeat(32), "x")),
        self: await outcome(room.send(room.peerId, "x")),
      };
    });
    if (!/room\.send: "nope" is not a member id/.test(r.badId)) fail(`badId: ${r.badId}`);
    if (!/room\.request: no live member .* is known/.test(r.unknown)) fail(`unknown: ${r.unknown}`);
    if (!/room\.send: a direct message needs another member/.test(r.self)) fail(`self: ${r.self}`);
  });

  await check("leader, per-key listeners and broadcast work from JavaScript", async () => {
    for (const page of pages) {
      await page.evaluate(() => {
        window.keyChanges = [];
        window.rooms.route.onKeyChange("status", (m, v) => window.keyChanges.push([m.meta.name, v]));
      });
    }
    await pages[2].evaluate(() => window.rooms.route.setCandidate(true));
    await pages[3].evaluate(() => window.rooms.route.setCandidate(true));
    const want = [ids[2], ids[3]].sort()[0];
    await pages[1].evaluate(() => window.rooms.route.setMeta("status", "busy"));
    await pages[0].evaluate(() => window.rooms.route.broadcast("to all"));
    for (const [i, page] of pages.entries()) {
      await waitIn(
        page,
        (want) => window.rooms.route.leader() === want && window.rooms.route.leaders.at(-1) === want,
        want,
        () => ({ leader: window.rooms.route.leader(), events: window.rooms.route.leaders }),
        20000,
      );
      if (i === 1) continue; // its own key change is not an event
      await waitIn(
        page,
        () => window.keyChanges.some(([n, v]) => n === "p2" && v === "busy"),
        null,
        () => window.keyChanges,
        20000,
      );
      if (i === 0) continue; // a broadcast is not delivered to its sender
      await waitIn(
        page,
        (from) => window.rooms.route.broadcasts.some((m) => m.topic === "_all" && m.from === from && m.text === "to all"),
        ids[0],
        () => window.rooms.route.broadcasts,
        20000,
      );
    }
  });

  await check("with no candidate left, leader() and the leader event say null", async () => {
    await pages[2].evaluate(() => window.rooms.route.setCandidate(false));
    await pages[3].evaluate(() => window.rooms.route.setCandidate(false));
    for (const page of pages) {
      await waitIn(
        page,
        () => window.rooms.route.leader() === null && window.rooms.route.leaders.at(-1) === null,
        null,
        () => ({ leader: window.rooms.route.leader(), events: window.rooms.route.leaders }),
        20000,
      );
    }
  });

  await check("no uncaught errors in the pages", async () => {
    if (pageErrors.length) fail(pageErrors.join("; "));
  });
} finally {
  await cleanupAll();
}
if (!checks.summary()) {
  console.log("rumor-signal log (tail):\n" + serverLogTail(30));
  process.exit(1);
}
