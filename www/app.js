// The Rumor demo page: join a room (from the URL hash), show the members, the overlay,
// messages and stats. Plain ES module over the npm package served at /pkg/.
import init, { Rumor } from "/pkg/rumor.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const SIGNAL_URL = params.get("signal") ?? `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const ICE_SERVERS = params.getAll("stun").map((urls) => ({ urls }));
const GONE_KEEP_MS = 60_000; // how long left/failed members stay listed
const NBRS_KEY = "nbrs"; // metadata key: this tab's neighbors (short ids), for others' drawings
const SVG_NS = "http://www.w3.org/2000/svg";

let room = null; // the joined Room
let joining = null; // the current join attempt (a token)
const members = new Map(); // peerId -> { peerId, meta, topics, state, since, self }
const neighbors = new Set(); // this tab's direct WebRTC neighbors
const topics = new Set();
let lastStats = null;
// How often the page rebuilt its two big parts, handled room events and sent its neighbor
// list: read by the benchmarks (tests/js/idle.mjs, tabs.mjs) and handy in the console.
const renderCounts = { table: 0, overlay: 0, events: 0, nbrs: 0 };
window.rumorDemo = { renderCounts };

// ---- helpers ---------------------------------------------------------------------------

const short = (id) => (id ? id.slice(0, 8) : "?");
const nameOf = (m) => m?.meta?.name || (m?.meta?.role === "seed" ? "seed (server)" : short(m?.peerId));
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}
// Coarse on purpose: a cell's text (and so the page's layout) changes at most every 5 s,
// then every minute, which keeps dozens of open tabs cheap.
function ago(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s - (s % 5)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}
function fmtBytes(n) {
  if (n < 1024) return `${n.toFixed(0)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}
function setStatus(text, kind = "") {
  const s = $("status");
  if (s.textContent !== text) s.textContent = text;
  if (s.className !== `status ${kind}`) s.className = `status ${kind}`;
}
function roomFromHash() {
  const r = decodeURIComponent(location.hash.slice(1));
  return /^[A-Za-z0-9._-]{1,64}$/.test(r) ? r : "lobby";
}
// The name is kept per tab (sessionStorage: it survives a reload of the tab, and each new
// tab gets its own), so that several tabs of one browser do not all show the same name.
const NAME_KEY = "rumor-demo-name";
function saveName(name) {
  try { sessionStorage.setItem(NAME_KEY, name); } catch { /* storage disabled: not kept */ }
}
function defaultName() {
  let saved = null;
  try { saved = sessionStorage.getItem(NAME_KEY); } catch { /* storage disabled */ }
  if (saved) return saved;
  const animals = ["otter", "heron", "lynx", "finch", "panda", "koala", "marten", "ibis", "wombat", "gecko"];
  return `${animals[Math.floor(Math.random() * animals.length)]}-${Math.floor(Math.random() * 100)}`;
}

// ---- state from events -----------------------------------------------------------------

function upsert(m, state) {
  const old = members.get(m.peerId);
  // The node's states, as the page names them ("suspect" is shown as "suspected").
  const s = state ?? ({ suspect: "suspected", left: "left", failed: "failed" }[m.state] ?? "alive");
  members.set(m.peerId, {
    peerId: m.peerId,
    meta: m.meta ?? old?.meta ?? {},
    topics: m.topics ?? old?.topics ?? [],
    self: m.self ?? old?.self ?? false,
    state: s,
    since: old && old.state === s ? old.since : Date.now(),
  });
}

function syncFromRoom() {
  if (!room) return;
  let list;
  try {
    list = room.members();
  } catch {
    return;
  }
  const live = new Set();
  for (const m of list) {
    live.add(m.peerId);
    const old = members.get(m.peerId);
    const state = m.state === "suspect" ? "suspected" : "alive";
    if (!old || old.state !== state || JSON.stringify(old.meta) !== JSON.stringify(m.meta)) upsert(m);
    else Object.assign(old, { meta: m.meta, topics: m.topics });
  }
  // Members the node no longer lists but no leave event reached us for: mark them gone.
  for (const m of members.values()) {
    if (!live.has(m.peerId) && (m.state === "alive" || m.state === "suspected")) {
      m.state = "failed";
      m.since = Date.now();
    }
  }
  for (const [id, m] of members) {
    if ((m.state === "left" || m.state === "failed") && Date.now() - m.since > GONE_KEEP_MS) members.delete(id);
  }
}

// Share this tab's neighbor list in its metadata so every tab can draw the whole overlay,
// not only its own links. Every change is a signed record update that every member checks
// and draws, so a group of n tabs pays n times for each one. So the list goes out once it
// has stayed the same for NBRS_QUIET_MS (a join moves several links of a few tabs within a
// second or two: one update each, not one per link), at the latest NBRS_MAX_WAIT_MS after
// the first change not yet sent (links that never settle are still shown), and not at all
// when it is back to what was sent last.
const NBRS_QUIET_MS = 2000;
const NBRS_MAX_WAIT_MS = 10_000;
let nbrsTimer = null;
let nbrsChangedAt = 0; // the first change not yet sent (Date.now())
let nbrsSent = ""; // the list as last sent
function publishNeighbors() {
  const now = Date.now();
  if (nbrsTimer === null) nbrsChangedAt = now;
  else clearTimeout(nbrsTimer);
  const wait = Math.min(NBRS_QUIET_MS, Math.max(0, nbrsChangedAt + NBRS_MAX_WAIT_MS - now));
  nbrsTimer = setTimeout(() => {
    nbrsTimer = null;
    const list = [...neighbors].map(short).sort().join(",");
    if (!room || list === nbrsSent) return;
    try {
      room.setMeta(NBRS_KEY, list);
      nbrsSent = list;
      renderCounts.nbrs += 1;
    } catch (e) {
      console.warn("setMeta(nbrs):", e);
    }
  }, wait);
}

// ---- join ------------------------------------------------------------------------------

async function join() {
  const roomName = roomFromHash();
  const name = $("name").value.trim() || defaultName();
  saveName(name);
  $("room").value = roomName;
  $("share").href = `#${roomName}`;
  $("share").textContent = location.href.split("#")[0] + "#" + roomName;
  if (room) {
    try { room.leave(); } catch { /* already left */ }
    room = null;
  }
  members.clear();
  neighbors.clear();
  topics.clear();
  clearTimeout(nbrsTimer);
  nbrsTimer = null;
  nbrsSent = "";
  $("log").replaceChildren();
  showError("");
  setStatus(`joining ${roomName}…`);
  const token = {};
  joining = token;
  let r;
  try {
    r = await Rumor.join({ url: SIGNAL_URL, room: roomName, meta: { name }, iceServers: ICE_SERVERS });
  } catch (e) {
    if (joining !== token) return;
    setStatus("not connected", "bad");
    showError(`Could not join room "${roomName}" at ${SIGNAL_URL}:\n${e?.message ?? e}\n\n` +
      "Is the server running (cargo xtask demo)? Reload the page or press Join to retry.");
    render();
    return;
  }
  if (joining !== token) {
    r.leave();
    return;
  }
  performance.mark("rumor:joined");
  room = r;
  window.rumorRoom = r; // for the browser console and the end-to-end tests
  document.title = `Rumor · ${roomName} · ${name}`;
  for (const name of ["join", "update", "leave", "neighbor"]) r.on(name, () => { renderCounts.events += 1; });
  r.on("join", (m) => { upsert(m); requestRender(); });
  r.on("update", ({ member }) => { upsert(member); requestRender(); });
  r.on("leave", ({ peerId, reason }) => {
    const m = members.get(peerId);
    if (m) { m.state = reason; m.since = Date.now(); }
    neighbors.delete(peerId);
    requestRender();
  });
  r.on("neighbor", ({ peerId, up }) => {
    if (up) neighbors.add(peerId); else neighbors.delete(peerId);
    publishNeighbors();
    requestRender();
  });
  r.on("message", onMessage);
  subscribe($("topic").value.trim() || "chat");
  syncFromRoom();
  setStatus(`in room ${roomName}`, "ok");
  render();
}

function subscribe(topic) {
  if (!room || topics.has(topic)) return;
  room.subscribe(topic);
  topics.add(topic);
  $("topics").textContent = [...topics].join(", ");
}

// ---- messages --------------------------------------------------------------------------

function logMessage({ topic, who, text, info, mine }) {
  const li = el("li", { class: mine ? "mine" : "" },
    el("span", { class: "who" }, who), `: ${text}`,
    el("span", { class: "info" }, `#${topic}${info ? " · " + info : ""}`));
  const log = $("log");
  log.prepend(li);
  while (log.children.length > 200) log.lastChild.remove();
}

function onMessage(msg) {
  let body = null;
  try { body = JSON.parse(msg.text ?? ""); } catch { /* not ours: show as text */ }
  const sender = members.get(msg.from);
  const who = sender ? nameOf(sender) : (body?.name ?? short(msg.from));
  const text = typeof body?.text === "string" ? body.text : (msg.text ?? `(${msg.data.length} bytes)`);
  const parts = [];
  if (typeof body?.t === "number") parts.push(`${Math.max(0, Date.now() - body.t)} ms`);
  parts.push(`${msg.hops} hop${msg.hops === 1 ? "" : "s"}`);
  logMessage({ topic: msg.topic, who, text, info: parts.join(" · ") });
}

$("publish-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!room) return showError("Not in a room yet: join first.");
  const topic = $("topic").value.trim();
  const text = $("text").value;
  if (!topic || !text) return;
  try {
    subscribe(topic);
    room.publish(topic, JSON.stringify({ t: Date.now(), name: $("name").value.trim(), text }));
    logMessage({ topic, who: "you", text, info: "sent", mine: true });
    $("text").value = "";
    showError("");
  } catch (e) {
    showError(`Could not publish: ${e?.message ?? e}`);
  }
});

$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const r = $("room").value.trim();
  const name = $("name").value.trim();
  if (r === roomFromHash() && room) {
    // Same room: only the name changed; no need to rejoin.
    saveName(name);
    try { room.setMeta("name", name); } catch (e) { showError(`Could not rename: ${e?.message ?? e}`); }
    render();
    return;
  }
  if (`#${r}` !== location.hash) location.hash = r; // hashchange rejoins
  else join();
});
window.addEventListener("hashchange", () => join());

// ---- rendering -------------------------------------------------------------------------

const STATE_ORDER = { alive: 0, suspected: 1, failed: 2, left: 3 };

// Room events can arrive by the dozen while a group forms: they ask for a render with
// requestRender(). The first after a quiet spell is drawn as soon as the events of the same
// moment are in (a member table from a snapshot arrives as one batch); later ones wait
// until RENDER_MS after the last draw. The parts of the page only change in the DOM when
// what they show changed, so that many tabs of the page stay cheap.
const RENDER_MS = 50;
let renderTimer = null;
let renderedAt = -Infinity;
function requestRender() {
  if (renderTimer === null) {
    renderTimer = setTimeout(render, Math.max(0, renderedAt + RENDER_MS - performance.now()));
  }
}

/** Sets `node`'s text, touching the DOM only when it differs. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function render() {
  clearTimeout(renderTimer);
  renderTimer = null;
  renderedAt = performance.now();
  // A hidden tab draws nothing: it catches up when it is shown (visibilitychange below).
  // With many tabs of the page open, only the one in front pays for drawing.
  if (document.hidden) return;
  const me = room ? members.get(room.peerId) : null;
  setText($("my-name"), me ? nameOf(me) : $("name").value);
  setText($("my-id"), room ? short(room.peerId) : "–");
  const myId = $("my-id");
  const id = room?.peerId ?? "";
  if (myId.dataset.peer !== id) {
    myId.title = id;
    myId.dataset.peer = id;
  }
  renderMembers();
  requestOverlay();
}

// The drawing changes when anything in it changed. While a group forms, members, states
// and links change many times a second in every tab; redrawing each time cost a quarter of
// a tab's CPU with 20 tabs joining one after another on one machine. So it is redrawn at
// most once per overlayMs(): at once when the last redraw is older, otherwise when that
// time is up. The pause grows with the group (every member's link changes redraw every
// tab's drawing, so a larger group changes it more often, and each redraw costs more).
const OVERLAY_MS = 1000;
const overlayMs = () => Math.min(3 * OVERLAY_MS, Math.max(OVERLAY_MS, members.size * 25));
let overlayAt = 0; // when the drawing was last redrawn (Date.now())
let overlayTimer = null;
function requestOverlay() {
  const wait = overlayAt + overlayMs() - Date.now();
  if (wait <= 0) {
    renderOverlay();
  } else if (overlayTimer === null) {
    overlayTimer = setTimeout(() => {
      overlayTimer = null;
      if (!document.hidden) renderOverlay();
    }, wait);
  }
}

let membersKey = ""; // what the table's rows show, but for the "since" column
// The "since" column moves on every SINCE_MS, all rows at once: a cell whose text changes
// lays the table out and repaints it, and rows changing each at its own moment did that
// every second in every open tab (see docs/benchmarks.md, idle tabs).
const SINCE_MS = 4000;
let sinceAt = 0; // when the column was last brought up to date (Date.now())

function renderMembers() {
  const rows = [...members.values()].sort((a, b) =>
    (b.self - a.self) || (STATE_ORDER[a.state] - STATE_ORDER[b.state]) || nameOf(a).localeCompare(nameOf(b)));
  const now = Date.now();
  const tbody = $("members").tBodies[0];
  const metaOf = (m) => {
    const meta = Object.entries(m.meta).filter(([k]) => k !== NBRS_KEY && k !== "name")
      .map(([k, v]) => `${k}=${v}`);
    if (m.topics.length) meta.push(`topics: ${m.topics.join(", ")}`);
    if (neighbors.has(m.peerId)) meta.push("neighbor");
    return meta.join(" · ");
  };
  const metas = rows.map(metaOf);
  const key = rows.map((m, i) => `${m.peerId} ${m.state} ${m.self} ${nameOf(m)} ${metas[i]}`).join("\n");
  const live = rows.filter((m) => m.state === "alive" || m.state === "suspected").length;
  setText($("member-count"), `${live} live${rows.length > live ? `, ${rows.length - live} gone` : ""}`);
  if (key === membersKey) {
    // Same rows: only the "since" column moves on.
    if (now - sinceAt < SINCE_MS) return;
    sinceAt = now;
    rows.forEach((m, i) => setText(tbody.rows[i].cells[3], ago(now - m.since)));
    return;
  }
  membersKey = key;
  sinceAt = now;
  renderCounts.table += 1;
  tbody.replaceChildren(...rows.map((m, i) => {
    const gone = m.state === "left" || m.state === "failed";
    // data-* attributes: stable hooks for tests and tools (full id, state, role).
    return el("tr", {
      class: `${m.self ? "self" : ""} ${gone ? "gone" : ""}`,
      "data-peer": m.peerId, "data-state": m.state, "data-role": m.meta.role ?? "",
    },
      el("td", {}, nameOf(m) + (m.self ? " (you)" : "")),
      el("td", {}, el("code", { title: m.peerId }, short(m.peerId))),
      el("td", { class: `state ${m.state}` }, m.state),
      el("td", {}, ago(now - m.since)),
      el("td", { class: "meta" }, metas[i]));
  }));
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

let dotsKey = ""; // what the drawing's dots show: members, states and names
let edgesKey = ""; // what its lines show: the links

function renderOverlay() {
  const root = $("overlay");
  const list = [...members.values()].sort((a, b) => a.peerId.localeCompare(b.peerId));
  if (!list.length) {
    dotsKey = edgesKey = "";
    root.replaceChildren(svg("text", { x: 200, y: 200, "text-anchor": "middle", class: "empty" },
      room ? "waiting for members…" : "not connected"));
    return;
  }
  const n = list.length;
  // Labels: horizontal around a small group; along the radius (so that neighbors' labels do
  // not overlap) for a larger one, on a smaller circle to leave them room; none past 60.
  const labels = n <= 12 ? "around" : n <= 60 ? "radial" : "none";
  const r = n === 1 ? 0 : labels === "radial" ? 118 : 150;
  const pos = new Map();
  list.forEach((m, i) => {
    const a = (2 * Math.PI * i) / n - Math.PI / 2;
    pos.set(m.peerId, { x: 200 + r * Math.cos(a), y: 200 + r * Math.sin(a), a });
  });
  const byShort = new Map(list.map((m) => [short(m.peerId), m.peerId]));
  const edges = new Map(); // "a|b" -> mine?
  const add = (a, b, mine) => {
    if (!pos.has(a) || !pos.has(b) || a === b) return;
    const key = a < b ? `${a}|${b}` : `${b}|${a}`;
    edges.set(key, edges.get(key) || mine);
  };
  const myId = room?.peerId;
  for (const m of list) {
    if (m.self || m.state === "left" || m.state === "failed") continue;
    for (const s of (m.meta[NBRS_KEY] ?? "").split(",")) if (byShort.has(s)) add(m.peerId, byShort.get(s), false);
  }
  if (myId) for (const p of neighbors) add(myId, p, true);
  const dKey = list.map((m) => `${m.peerId} ${m.state} ${m.self} ${nameOf(m)}`).join("\n");
  const eKey = [...edges].map(([k, mine]) => `${k} ${mine}`).sort().join("\n");
  if (dKey === dotsKey && eKey === edgesKey) return; // nothing moved
  overlayAt = Date.now();
  renderCounts.overlay += 1;
  // Two layers: the links under the dots. Most changes in a settled group are links (a
  // member's neighbors changed), which leave the dots as they are.
  let [linesLayer, dotsLayer] = root.children;
  if (root.children.length !== 2 || linesLayer.id !== "overlay-links") {
    linesLayer = svg("g", { id: "overlay-links" });
    dotsLayer = svg("g", { id: "overlay-dots" });
    root.replaceChildren(linesLayer, dotsLayer);
    dotsKey = edgesKey = "";
  }
  // Dots move when members come or go, and the lines with them.
  if (eKey !== edgesKey || dKey !== dotsKey) {
    edgesKey = eKey;
    const lines = [];
    for (const [key, mine] of [...edges].sort((x, y) => x[1] - y[1])) {
      const [a, b] = key.split("|").map((id) => pos.get(id));
      lines.push(svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: `edge ${mine ? "mine" : ""}` }));
    }
    linesLayer.replaceChildren(...lines);
  }
  if (dKey === dotsKey) return;
  dotsKey = dKey;
  const nodes = [];
  const dotR = n > 60 ? 4 : n > 25 ? 6 : 9;
  for (const m of list) {
    const p = pos.get(m.peerId);
    const g = svg("g", {});
    g.append(svg("title", {}, `${nameOf(m)} (${short(m.peerId)}) — ${m.state}`));
    g.append(svg("circle", { cx: p.x, cy: p.y, r: m.self ? dotR + 2 : dotR, class: `dot ${m.state} ${m.self ? "self" : ""}` }));
    if (labels === "around") {
      const lx = 200 + (r + 22) * Math.cos(p.a), ly = 200 + (r + 22) * Math.sin(p.a);
      const anchor = n === 1 ? "middle" : Math.abs(Math.cos(p.a)) < 0.3 ? "middle" : Math.cos(p.a) > 0 ? "start" : "end";
      g.append(svg("text", { x: n === 1 ? 200 : lx, y: n === 1 ? 230 : ly + 4, "text-anchor": anchor }, nameOf(m)));
    } else if (labels === "radial") {
      const lx = 200 + (r + dotR + 6) * Math.cos(p.a), ly = 200 + (r + dotR + 6) * Math.sin(p.a);
      const left = Math.cos(p.a) < 0; // flip the left half so that no label reads upside down
      const deg = (p.a * 180) / Math.PI + (left ? 180 : 0);
      const name = nameOf(m);
      g.append(svg("text", {
        x: lx, y: ly, "text-anchor": left ? "end" : "start", "dominant-baseline": "central",
        transform: `rotate(${deg.toFixed(1)} ${lx.toFixed(1)} ${ly.toFixed(1)})`,
      }, name.length > 14 ? `${name.slice(0, 13)}…` : name));
    }
    nodes.push(g);
  }
  dotsLayer.replaceChildren(...nodes);
}

function renderStats() {
  if (document.hidden) return;
  if (!room) {
    $("stats").replaceChildren();
    return;
  }
  let s;
  try { s = room.stats(); } catch { return; }
  const now = performance.now();
  const rate = (k) => {
    if (!lastStats) return 0;
    const dt = (now - lastStats.at) / 1000;
    return dt > 0 ? Math.max(0, (s[k] - lastStats.s[k]) / dt) : 0;
  };
  const rows = [
    ["Neighbors", s.neighbors],
    ["Members", s.members],
    ["Connections", `${s.connections.open} open${s.connections.connecting ? `, ${s.connections.connecting} connecting` : ""}`],
    ["Signaling", s.signaling],
    ["Messages in /s", rate("messagesIn").toFixed(1)],
    ["Messages out /s", rate("messagesOut").toFixed(1)],
    ["Bytes in /s", fmtBytes(rate("bytesIn"))],
    ["Bytes out /s", fmtBytes(rate("bytesOut"))],
    ["Delivered", s.delivered],
    ["Decode errors", s.decodeErrors],
    ["Connections opened", `${s.dials}${s.neighborRefusals ? ` (${s.neighborRefusals} refused)` : ""}`],
  ];
  lastStats = { at: now, s };
  const dl = $("stats");
  if (dl.children.length === rows.length) rows.forEach(([, v], i) => setText(dl.children[i].lastChild, String(v)));
  else dl.replaceChildren(...rows.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, String(v)))));
  if ($("status").dataset.signaling !== s.signaling) $("status").dataset.signaling = s.signaling;
  if (s.signaling !== "connected") setStatus(`signaling ${s.signaling}`, "bad");
  else setStatus(`in room ${roomFromHash()}`, "ok");
}

// ---- start -----------------------------------------------------------------------------

window.addEventListener("error", (e) => showError(`Page error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => showError(`Page error: ${e.reason?.message ?? e.reason}`));

$("name").value = defaultName();
$("room").value = roomFromHash();
render();
try {
  await init();
  performance.mark("rumor:ready"); // package loaded (marks let a page's timeline be read back)
} catch (e) {
  setStatus("failed to load", "bad");
  showError(`Could not load the Rumor package from /pkg/: ${e?.message ?? e}\nBuild it with cargo xtask wasm (cargo xtask demo does).`);
  throw e;
}
// Events keep the member list up to date; every 5 s it is also checked against the node's
// (members it no longer lists without a leave event reaching the page are marked gone).
// The stats panel shows rates over 2 s: each redraw of it is a new frame of the page to
// lay out, paint and composite, in every open tab.
let ticks = 0;
setInterval(() => {
  if (ticks % 5 === 0) syncFromRoom();
  render();
  if (ticks % 2 === 0) renderStats();
  ticks += 1;
}, 1000);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) { render(); renderStats(); }
});
await join();
