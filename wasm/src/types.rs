//! The TypeScript declarations of the JS API (carried into the generated `.d.ts`) and the
//! typed `JsValue` wrappers that let wasm-bindgen name those types in signatures.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options of `Rumor.join`. */
export interface JoinOptions {
  /** The rumor-signal WebSocket URL, e.g. `ws://localhost:8080/ws` (`http(s)://host:port` works too). */
  url: string;
  /** Room name: 1 to 64 characters from `A-Z a-z 0-9 - _ .`. */
  room: string;
  /** Metadata every member sees (string keys and values). */
  meta?: Record<string, string>;
  /** `RTCConfiguration.iceServers`; default none (`[]`). */
  iceServers?: RTCIceServer[];
  /** Give up joining after this many milliseconds (default 15000). */
  timeoutMs?: number;
  /** WebRTC neighbors kept at most (HyParView's active view; default 5). Others are
   * reached through them. */
  maxNeighbors?: number;
}

/** A member of the room as this page sees it. */
export interface Member {
  /** The member's id: its ed25519 public key as 64 hex characters. */
  peerId: string;
  /** `alive`, or `suspect` while someone has lost contact with it. */
  state: "alive" | "suspect";
  meta: Record<string, string>;
  topics: string[];
  incarnation: number;
  /** True for this page's own member. */
  self: boolean;
}

/** Payloads of the events of `Room.on`. */
export interface RoomEventMap {
  /** A member appeared (or came back). */
  join: Member;
  /** A member left gracefully (`left`) or was declared failed (`failed`). */
  leave: { peerId: string; reason: "left" | "failed" };
  /** A member changed its metadata (`keys`), or was suspected (`state: "suspect"`). */
  update: { member: Member; keys: string[] };
  /** A message on a subscribed topic. `text` is set when `data` is valid UTF-8. */
  message: { topic: string; from: string; seq: number; data: Uint8Array; text?: string; hops: number };
  /** A direct WebRTC neighbor came (`up: true`) or went (`up: false`). */
  neighbor: { peerId: string; up: boolean };
  /** A message another member sent to this page with `room.send`. */
  direct: { from: string; data: Uint8Array; text?: string };
  /** The leader (lowest id among live members that are candidates) changed. */
  leader: { peerId: string | null };
}

/** A request from another member, as `room.onRequest`'s handler gets it. */
export interface RequestEvent {
  from: string;
  data: Uint8Array;
  /** Set when `data` is valid UTF-8. */
  text?: string;
}

/** The application's side of state sync (pull model); see `room.setStateSync`. */
export interface StateSyncHandler {
  /** What to ask a neighbor with, e.g. a digest of this page's state. */
  request(): Uint8Array | string;
  /** The answer to a neighbor's request, e.g. what it lacks; nothing to send nothing. */
  answer(from: string, request: Uint8Array): Uint8Array | string | null | undefined;
  /** Takes in a neighbor's answer to this page's request. */
  merge(from: string, response: Uint8Array): void;
}

/** Names of the events of `Room.on`. */
export type RoomEventName = keyof RoomEventMap;

/** What `Room.stats()` returns. */
export interface RoomStats {
  peerId: string;
  members: number;
  neighbors: number;
  connections: { open: number; connecting: number; closing: number };
  signaling: "connected" | "connecting" | "closed";
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  delivered: number;
  decodeErrors: number;
  /** WebRTC connections this page opened (each a whole handshake). */
  dials: number;
  /** Of those, dials that failed, timed out or closed before the other side answered. */
  dialFailures: number;
  /** Of those, connections that opened but brought no answer to this page's hello. */
  welcomeTimeouts: number;
  /** Of the failed dials, attempts that got no WebRTC answer within the dial timeout. */
  dialsUnanswered: number;
  /** Of the failed dials, attempts answered whose channel did not open in time. */
  dialsUnopened: number;
  /** Of the failed dials, attempts whose connection closed or failed before opening. */
  dialsClosed: number;
  /** Of the dials, probes of members a failed neighbor had been watching. */
  probeDials: number;
  /** Of the dials, attempts to reach a member declared failed (to heal a split group). */
  healDials: number;
  /** Of the dials, connections to the new member a neighbor dropped this page for. */
  handoverDials: number;
  /** Of those, neighbor requests the other side refused (a handshake for nothing). */
  neighborRefusals: number;
  /** Neighbors this page dropped (and suspected) because they fell silent. */
  neighborTimeouts: number;
  /** Neighbors lost because their connection closed or failed (also suspected). */
  neighborsLost: number;
  /** Neighbors this page dropped to make room for a new one. */
  evictions: number;
  /** Times a neighbor dropped this page to make room for a new one. */
  evicted: number;
  /** Leaving members' farewells this page took in through the signaling server. */
  farewells: number;
  /** Member records this page learned from snapshots sent through the signaling server
   * when it joined (before its first connection was up). */
  snapshotRecords: number;
  /** Times this page found its own timers late by seconds (a busy or hidden tab) and
   * gave its neighbors a fresh timeout instead of suspecting them. */
  stalls: number;
}

export interface Room {
  /** Calls `listener` for every `event`. */
  on<K extends RoomEventName>(event: K, listener: (payload: RoomEventMap[K]) => void): void;
  /** Removes a listener added with `on`. */
  off<K extends RoomEventName>(event: K, listener: (payload: RoomEventMap[K]) => void): void;
  /** Sends `data` to one member (neighbor or not, routed through the group). Resolves
   * when it acknowledged; rejects when it is unknown or did not answer within 5 s. */
  send(peerId: string, data: Uint8Array | string): Promise<void>;
  /** Sends a request to one member; resolves with its response (from its `onRequest`
   * handler), rejects when it is unknown or did not answer within 5 s. */
  request(peerId: string, data: Uint8Array | string): Promise<Uint8Array>;
  /** Answers requests from other members with what `handler` returns (or resolves to);
   * `null` removes the handler. */
  onRequest(
    handler:
      | ((request: RequestEvent) => Uint8Array | string | Promise<Uint8Array | string>)
      | null,
  ): void;
  /** Registers the application's state sync: every second, and with every new neighbor,
   * the room sends `handler.request()` to a neighbor, which answers with
   * `handler.answer(..)`, which this page takes in with `handler.merge(..)`. `null` stops
   * it. The handler runs synchronously inside the room: it must not call room methods. */
  setStateSync(handler: StateSyncHandler | null): void;
  /** The current leader's id, or `null` when no live member is a candidate. */
  leader(): string | null;
  /** Calls `listener` whenever a member joins with `key` set or changes it; returns a
   * function that removes the listener. */
  onKeyChange(key: string, listener: (member: Member, value: string) => void): () => void;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `JoinOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "JoinOptions")]
    pub type JoinOptions;
    /// `Member[]` in TypeScript.
    #[wasm_bindgen(typescript_type = "Member[]")]
    pub type MemberArray;
    /// `RoomStats` in TypeScript.
    #[wasm_bindgen(typescript_type = "RoomStats")]
    pub type RoomStatsJs;
    /// `Uint8Array | string` in TypeScript.
    #[wasm_bindgen(typescript_type = "Uint8Array | string")]
    pub type Payload;
}
