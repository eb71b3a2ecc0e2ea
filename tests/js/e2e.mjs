// Browser test of the rumor-gossip package against a real rumor-signal (with its seed
// peer): two tabs join one room, see each other and the seed with their metadata, exchange
// a message, one leaves and the other sees it; bad input rejects with clear Errors.
//
// Run by `cargo xtask test` inside a private network namespace (DESIGN §5), with
// RUMOR_SIGNAL_BIN (the server binary), RUMOR_PKG_DIR (wasm/pkg) and RUMOR_TEST_IP.
import { dirname, join as pathJoin } from "node:path";
import { fileURLToPath } from "node:url";
import { Checks, cleanupAll, closePage, fail, ip, launchBrowser, serverLogTail, startServer } from "./harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));

// The server serves the tiny test page in tests/js/www; restarted on the same address below.
let server = startServer({ wwwDir: pathJoin(here, "www") });
const addr = await server.addr;
console.log(`rumor-signal at ${addr}`);
const { context } = await launchBrowser({ prefix: "rumor-e2e-" });

const url = `ws://${addr}/ws`;
const checks = new Checks("browser");
const check = (name, f) => checks.check(name, f);
const pageErrors = [];

async function openPage(label) {
  const page = await context.newPage();
  page.on("pageerror", (e) => {
    pageErrors.push(`[${label}] ${e.message}`);
    console.log(`[${label}] page error: ${e.message}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error") console.log(`[${label}] console: ${m.text()}`);
  });
  await page.goto(`http://${addr}/e2e.html`);
  await page.waitForFunction(() => window.rumorReady === true, null, { timeout: 10000 });
  return page;
}

async function join(page, name) {
  return page.evaluate(
    async ({ url, name }) => {
      const room = await Rumor.join({ url, room: "e2e", meta: { name }, iceServers: [] });
      window.room = room;
      window.got = [];
      window.left = [];
      room.on("message", (m) => window.got.push({ topic: m.topic, text: m.text, from: m.from, len: m.data.length }));
      room.on("leave", (e) => window.left.push(e));
      room.subscribe("chat");
      return room.peerId;
    },
    { url, name },
  );
}

try {
  const p1 = await openPage("p1");
  const p2 = await openPage("p2");
  let id1, id2;
  await check("two pages join one room through the server", async () => {
    id1 = await join(p1, "p1");
    id2 = await join(p2, "p2");
    if (!/^[0-9a-f]{64}$/.test(id1) || id1 === id2) fail(`bad peer ids ${id1} ${id2}`);
  });

  await check("each page sees the other and the seed with their metadata", async () => {
    for (const [page, other] of [[p1, "p2"], [p2, "p1"]]) {
      await page
        .waitForFunction(
          (other) => {
            const ms = window.room.members();
            return (
              ms.some((m) => m.meta.role === "seed") &&
              ms.some((m) => m.meta.name === other && m.topics.includes("chat")) &&
              ms.some((m) => m.self)
            );
          },
          other,
          { timeout: 20000, polling: 100 },
        )
        .catch(async () => fail(`members seen: ${JSON.stringify(await page.evaluate(() => window.room.members()))}`));
    }
  });

  await check("a message published in one page arrives in the other", async () => {
    const seq = await p1.evaluate(() => window.room.publish("chat", "hello from p1"));
    if (typeof seq !== "number") fail(`publish returned ${seq}`);
    await p2.waitForFunction(() => window.got.some((m) => m.text === "hello from p1"), null, { timeout: 10000 });
    const got = await p2.evaluate(() => window.got);
    if (got[0].from !== id1 || got[0].topic !== "chat" || got[0].len !== 13) fail(JSON.stringify(got));
  });

  await check("stats() reports neighbors and signaling state", async () => {
    const s = await p2.evaluate(() => window.room.stats());
    if (s.peerId !== id2 || s.signaling !== "connected" || s.neighbors < 1 || s.members < 3) fail(JSON.stringify(s));
  });

  await check("bad input rejects with clear Errors", async () => {
    const results = await p2.evaluate(async ({ ip }) => {
      const outcome = async (f) => {
        try {
          await f();
          return "no error";
        } catch (e) {
          return `${e instanceof Error ? "Error" : typeof e}: ${e.message}`;
        }
      };
      return {
        unreachable: await outcome(() => Rumor.join({ url: `ws://${ip}:47999/ws`, room: "x", timeoutMs: 8000 })),
        malformed: await outcome(() => Rumor.join({ url: "not a url", room: "x" })),
        badRoom: await outcome(() => Rumor.join({ url: `ws://${ip}:47999/ws`, room: "no spaces" })),
        numberMeta: await outcome(() => Rumor.join({ url: `ws://${ip}:47999/ws`, room: "x", meta: { n: 5 } })),
        arrayMeta: await outcome(() => Rumor.join({ url: `ws://${ip}:47999/ws`, room: "x", meta: ["a"] })),
        oversized: await outcome(() => window.room.publish("chat", new Uint8Array(300 * 1024))),
        badEvent: await outcome(() => window.room.on("nope", () => {})),
      };
    }, { ip });
    const expect = {
      unreachable: /^Error: Rumor\.join: .*(could not join|no answer)/,
      malformed: /^Error: Rumor\.join: invalid signaling URL/,
      badRoom: /^Error: Rumor\.join: room .* is invalid/,
      numberMeta: /^Error: Rumor\.join: options\.meta must be an object of string keys and string values/,
      arrayMeta: /^Error: Rumor\.join: options\.meta must be an object of string keys and string values/,
      oversized: /^Error: room\.publish: payload of 307200 bytes exceeds the maximum/,
      badEvent: /^Error: unknown event "nope"/,
    };
    for (const [k, re] of Object.entries(expect)) {
      if (!re.test(results[k])) fail(`${k}: ${results[k]}`);
    }
  });

  await check("while the server is away the pages keep gossiping, then reconnect", async () => {
    await server.stop("SIGTERM");
    await p2.waitForFunction(() => window.room.stats().signaling !== "connected", null, { timeout: 10000 });
    await p1.evaluate(() => window.room.publish("chat", "while the server is away"));
    await p2.waitForFunction(() => window.got.some((m) => m.text === "while the server is away"), null, { timeout: 10000 });
    server = startServer({ listen: addr, wwwDir: pathJoin(here, "www") }); // same port: the pages reconnect with backoff
    await server.addr;
    for (const page of [p1, p2]) {
      await page
        .waitForFunction(() => window.room.stats().signaling === "connected", null, { timeout: 15000, polling: 100 })
        .catch(async () => fail(`stats after restart: ${JSON.stringify(await page.evaluate(() => window.room.stats()))}`));
    }
  });

  await check("a room freed without leave() stops quietly", async () => {
    const result = await p2.evaluate(async (url) => {
      const extra = await Rumor.join({ url, room: "e2e-free", iceServers: [] });
      extra.free();
      await new Promise((r) => setTimeout(r, 1500));
      return "done";
    }, url);
    if (result !== "done") fail(result);
  });

  await check("a page that closes is seen leaving by the other", async () => {
    await closePage(p1, "p1");
    await p2
      .waitForFunction((id1) => window.left.some((e) => e.peerId === id1), id1, { timeout: 15000, polling: 100 })
      .catch(async () => fail(`leave events: ${JSON.stringify(await p2.evaluate(() => window.left))}`));
    const gone = await p2.evaluate((id1) => !window.room.members().some((m) => m.peerId === id1), id1);
    if (!gone) fail("the closed page is still listed in members()");
  });

  await check("calls after leave() throw a clear Error", async () => {
    const msg = await p2.evaluate(() => {
      window.room.leave();
      try {
        window.room.publish("chat", "late");
        return "no error";
      } catch (e) {
        return e.message;
      }
    });
    if (!/this room was left/.test(msg)) fail(msg);
  });
  await check("no uncaught errors in the pages", async () => {
    if (pageErrors.length) fail(pageErrors.join("; "));
  });
} finally {
  await cleanupAll(); // the browser (and its profile), then the server
}
if (!checks.summary()) {
  console.log("rumor-signal log (tail):\n" + serverLogTail(30));
  process.exit(1);
}
console.log("all browser checks passed");
