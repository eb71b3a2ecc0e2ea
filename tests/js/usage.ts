// Type-checks the rumor-gossip declarations (`tsc --noEmit -p tests/js`): every call of the
// API as an application writes it, plus misuses that must not compile.
import init, {
  Rumor,
  type Member,
  type RequestEvent,
  type Room,
  type RoomEventMap,
  type RoomStats,
  type StateSyncHandler,
} from "rumor-gossip";

export async function demo(): Promise<void> {
  await init();
  const room: Room = await Rumor.join({
    url: "ws://localhost:8080/ws",
    room: "lobby",
    meta: { name: "alice" },
    iceServers: [{ urls: "stun:stun.example.org" }],
  });
  const id: string = room.peerId;
  const members: Member[] = room.members();
  const names: string[] = members.map((m) => m.meta["name"] ?? id.slice(0, 8));
  room.on("join", (m) => console.log(m.peerId, m.meta, m.topics, m.state === "alive", names));
  room.on("leave", (e) => console.log(e.peerId, e.reason === "left" || e.reason === "failed"));
  room.on("update", (e) => console.log(e.member.meta, e.keys.join(",")));
  const onMessage = (m: RoomEventMap["message"]) => {
    const bytes: Uint8Array = m.data;
    const text: string | undefined = m.text;
    console.log(m.topic, m.from, m.seq + m.hops, bytes.length, text);
  };
  room.on("message", onMessage);
  room.off("message", onMessage);
  room.on("neighbor", (n) => console.log(n.peerId, n.up ? "up" : "down"));
  room.setMeta("status", "here");
  room.subscribe("chat");
  const seq: number = room.publish("chat", "hello");
  room.publish("chat", new Uint8Array([1, 2, 3]));
  // Seed-system parity: direct messages, request/response, state sync, leader, key listeners.
  room.on("direct", (d) => console.log(d.from, d.data.length, d.text));
  room.on("leader", (l) => console.log(l.peerId === null ? "no leader" : l.peerId));
  const other: string = members[0]?.peerId ?? "";
  await room.send(other, "hi");
  const answer: Uint8Array = await room.request(other, new Uint8Array([1]));
  room.onRequest(async (req: RequestEvent) => `echo ${req.text ?? req.data.length} from ${req.from}`);
  room.onRequest(null);
  const map: Record<string, number> = {};
  const sync: StateSyncHandler = {
    request: () => JSON.stringify(map),
    answer: (from: string, req: Uint8Array) => (req.length ? JSON.stringify({ from }) : null),
    merge: (_from: string, resp: Uint8Array) => console.log(resp.length),
  };
  room.setStateSync(sync);
  room.setStateSync(null);
  room.setCandidate(true);
  const leader: string | null = room.leader();
  const off: () => void = room.onKeyChange("status", (m: Member, v: string) => console.log(m.peerId, v));
  off();
  room.addSeed(other);
  const bseq: number = room.broadcast("to everyone");
  console.log(answer.length, leader, bseq);
  const stats: RoomStats = room.stats();
  console.log(seq, stats.neighbors, stats.connections.open, stats.signaling);
  room.leave();

  // Misuses the declarations must reject.
  // @ts-expect-error: not an event name
  room.on("joined", () => {});
  // @ts-expect-error: the payload of "leave" has no `meta`
  room.on("leave", (e) => console.log(e.meta));
  // @ts-expect-error: numbers are not payloads
  room.publish("chat", 42);
  // @ts-expect-error: a request answers with bytes, not void
  const wrong: void = await room.request(other, "x");
  // @ts-expect-error: a state-sync handler needs `merge`
  room.setStateSync({ request: () => "", answer: () => null });
  // @ts-expect-error: `room` is required
  await Rumor.join({ url: "ws://localhost:8080/ws" });
}
