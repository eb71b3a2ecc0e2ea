//! # rumor-signal-proto
//!
//! The messages between a Rumor peer and the `rumor-signal` server, as JSON text frames
//! over a WebSocket (`GET /ws`). Both the server and every driver (the native one in
//! `rumor-signal`, the browser one in `rumor-wasm`) import these types, so there is exactly
//! one definition of the protocol. docs/signaling.md describes it for people.
//!
//! A session, in short:
//!
//! 1. The server sends [`ServerMessage::Hello`] with [`PROTOCOL_VERSION`] and a fresh nonce.
//! 2. The client sends [`ClientMessage::Join`]: a room name, its `PeerId` (hex ed25519 public
//!    key) and its signature over [`join_challenge`]`(nonce)`.
//! 3. The server answers [`ServerMessage::Joined`] with some current members to contact
//!    (the room's seed peer first), or an [`ServerMessage::Error`] and a close.
//! 4. Either way after that, [`ClientMessage::Signal`] `{ to, data }` is relayed to `to` in the
//!    same room as [`ServerMessage::Signal`] `{ from, data }`, `from` stamped by the server.
//!
//! `data` is opaque to the server. Rumor's drivers put a [`PeerSignal`] in it (SDP offers,
//! answers and trickled ICE candidates for one WebRTC session).
//!
//! This crate depends on serde only, so it builds for `wasm32-unknown-unknown`.

#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

mod decode;

/// Version of the signaling protocol, sent in [`ServerMessage::Hello`]. A client that does
/// not know this version should close the connection.
pub const PROTOCOL_VERSION: u32 = 1;

/// The feature a server lists in [`ServerMessage::Hello`]`::features` when it accepts
/// [`ClientMessage::Will`]. Servers from before wills list nothing, and answer a `will` with
/// a fatal `unknown_type`, so a client sends wills only to a server that lists this.
pub const FEATURE_WILL: &str = "will";

/// Members a client's [`ClientMessage::Will`] is relayed to when the room has no seed peer.
pub const WILL_RECIPIENTS: usize = 3;

/// Most [`PeerSignal::Members`] a driver sends to one newcomer (each holds up to one
/// rumor-core message of records, 16 KiB by default, so this is a few hundred members);
/// anti-entropy over the connection brings the rest.
pub const MEMBERS_MAX_SIGNALS: usize = 4;

/// Bytes in a server nonce (sent as 64 lowercase hex characters).
pub const NONCE_LEN: usize = 32;

/// The bytes a client signs to prove its `PeerId`: the ASCII text
/// `rumor-signal/1 join ` followed by the nonce exactly as the server sent it (hex).
///
/// ```
/// assert_eq!(rumor_signal_proto::join_challenge("ab01"), b"rumor-signal/1 join ab01".to_vec());
/// ```
pub fn join_challenge(nonce_hex: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + nonce_hex.len());
    out.extend_from_slice(b"rumor-signal/1 join ");
    out.extend_from_slice(nonce_hex.as_bytes());
    out
}

/// A message from a client to the server. JSON object tagged by `"type"`.
///
/// `D` is the type of the relayed `data`: any JSON for the server; a driver that only
/// speaks to Rumor peers may use [`PeerSignal`] (same JSON), so that a `data` it cannot
/// read fails the whole message instead of needing a JSON tree type (the browser package
/// carries no `serde_json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage<D = serde_json::Value> {
    /// Join a room, proving ownership of `peer`. Sent once, after [`ServerMessage::Hello`].
    Join {
        /// Room name: 1 to 64 bytes of ASCII letters, digits, `-`, `_` and `.`.
        room: String,
        /// The client's `PeerId`: its ed25519 public key as 64 lowercase hex characters.
        peer: String,
        /// ed25519 signature over [`join_challenge`]`(nonce)`, 128 hex characters.
        signature: String,
    },
    /// Relay `data` to the member `to` of the same room.
    Signal {
        /// The recipient's `PeerId` (64 hex characters).
        to: String,
        /// Anything; relayed unchanged. Rumor drivers send a [`PeerSignal`].
        data: D,
    },
    /// Left with the server for when this connection ends: the server keeps the last one
    /// sent and, when the connection closes for any reason but the server shutting down,
    /// relays `data` as [`ServerMessage::Signal`] from this client to the room's seed peer
    /// (with no seed peer, to up to [`WILL_RECIPIENTS`] other members). Only after `join`,
    /// and only to a server that lists [`FEATURE_WILL`] in its hello.
    /// Rumor drivers leave a [`PeerSignal::Farewell`] here, so that a tab that is closed
    /// without getting its goodbye out is still seen to leave.
    Will {
        /// Anything; relayed unchanged. Rumor drivers send a [`PeerSignal::Farewell`].
        data: D,
    },
    /// Keep-alive from clients that cannot send WebSocket pings (browsers); answered by
    /// [`ServerMessage::Pong`] with the same `nonce`. Counts toward the rate limit.
    Ping {
        /// Echoed back.
        #[serde(default)]
        nonce: u64,
    },
}

/// A message from the server to a client. JSON object tagged by `"type"`; `D` is the type
/// of relayed `data`, as in [`ClientMessage`]. Read in one pass (`Deserialize` written out,
/// as for [`PeerSignal`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<D = serde_json::Value> {
    /// First message on every connection.
    Hello {
        /// [`PROTOCOL_VERSION`] of the server.
        version: u32,
        /// Fresh random nonce (64 hex characters) to sign with [`join_challenge`].
        nonce: String,
        /// Limits the client must respect.
        limits: ServerLimits,
        /// Optional client messages this server accepts (within [`PROTOCOL_VERSION`]), such
        /// as [`FEATURE_WILL`]. Empty when absent (servers from before the list).
        #[serde(default)]
        features: Vec<String>,
    },
    /// The join succeeded.
    Joined {
        /// The room joined.
        room: String,
        /// The client's own `PeerId`, as verified.
        peer: String,
        /// Some current members to contact (the seed peer first, when the server runs one),
        /// never the client itself. Empty when the client is alone.
        members: Vec<MemberInfo>,
    },
    /// A relayed signal; `from` is set by the server and is always a member of the room.
    Signal {
        /// The sender's `PeerId` (64 hex characters).
        from: String,
        /// What the sender put in [`ClientMessage::Signal`]`::data`, unchanged.
        data: D,
    },
    /// Answer to [`ClientMessage::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// Something was refused. If [`ErrorCode::is_fatal`], the server closes the connection
    /// right after with [`ErrorCode::close_code`].
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// A sentence a person can act on.
        message: String,
        /// For [`ErrorCode::UnknownPeer`]: the `to` of the signal that could not be delivered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
    },
}

/// Limits announced in [`ServerMessage::Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerLimits {
    /// Largest text frame accepted, in bytes.
    pub max_frame_bytes: usize,
    /// Messages per second allowed on average per connection.
    pub max_msgs_per_sec: u32,
    /// Messages allowed in a burst above the average rate.
    pub burst: u32,
    /// Milliseconds allowed between connecting and a successful join.
    pub handshake_timeout_ms: u64,
    /// Milliseconds of silence (no frame at all, pongs included) after which the server closes.
    pub idle_timeout_ms: u64,
}

/// One room member in [`ServerMessage::Joined`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// The member's `PeerId` (64 hex characters).
    pub peer: String,
    /// `"seed"` for the server's own seed peer, `"peer"` for everyone else.
    pub role: String,
}

/// Why the server refused something. Serialized in snake_case (`"bad_json"`, ...); read by
/// the same names ([`ErrorCode::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A text frame that is not JSON, or JSON that is not a valid message. Fatal.
    BadJson,
    /// A JSON object whose `type` is not a known client message. Fatal.
    UnknownType,
    /// A binary frame: only text frames are spoken. Fatal.
    BinaryFrame,
    /// A frame larger than `max_frame_bytes`. Fatal.
    FrameTooLarge,
    /// A message that is well-formed but invalid (bad hex, bad room name). Fatal.
    BadRequest,
    /// `signal` before `join`, or a second `join`. Fatal.
    BadState,
    /// The signature does not verify for that `PeerId` over the nonce challenge. Fatal.
    BadSignature,
    /// Another connection in the room already uses this `PeerId`. Fatal.
    PeerIdInUse,
    /// The room already has `max_peers_per_room` clients. Fatal.
    RoomFull,
    /// The server already has `max_rooms` rooms. Fatal.
    TooManyRooms,
    /// The server already holds `max_connections` connections. Fatal.
    ServerFull,
    /// More messages than the rate limit allows. Fatal.
    RateLimited,
    /// No successful `join` within the handshake timeout. Fatal.
    HandshakeTimeout,
    /// Nothing received within the idle timeout. Fatal.
    IdleTimeout,
    /// The client did not read fast enough and its send queue filled. Fatal (sent on a
    /// best-effort basis: the socket is usually too full to carry it).
    SlowReader,
    /// The `to` of a signal is not a member of the sender's room. Not fatal.
    UnknownPeer,
    /// The server is shutting down. Fatal.
    ShuttingDown,
}

impl ErrorCode {
    /// True when the server closes the connection after sending this error.
    pub fn is_fatal(self) -> bool {
        !matches!(self, ErrorCode::UnknownPeer)
    }

    /// The WebSocket close code the server closes with after this error
    /// (RFC 6455 §7.4.1 codes, 4xxx for the ones the RFC lacks).
    pub fn close_code(self) -> u16 {
        match self {
            ErrorCode::BadJson | ErrorCode::UnknownType | ErrorCode::BadRequest => 1007,
            ErrorCode::BinaryFrame => 1003,
            ErrorCode::FrameTooLarge => 1009,
            ErrorCode::BadState | ErrorCode::BadSignature | ErrorCode::PeerIdInUse => 1008,
            ErrorCode::RoomFull | ErrorCode::TooManyRooms | ErrorCode::ServerFull => 1013,
            ErrorCode::RateLimited => 4029,
            ErrorCode::HandshakeTimeout => 4008,
            ErrorCode::IdleTimeout => 4000,
            ErrorCode::SlowReader => 4001,
            ErrorCode::UnknownPeer => 1000,
            ErrorCode::ShuttingDown => 1001,
        }
    }

    /// Every code, for documentation and metrics.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::BadJson,
        ErrorCode::UnknownType,
        ErrorCode::BinaryFrame,
        ErrorCode::FrameTooLarge,
        ErrorCode::BadRequest,
        ErrorCode::BadState,
        ErrorCode::BadSignature,
        ErrorCode::PeerIdInUse,
        ErrorCode::RoomFull,
        ErrorCode::TooManyRooms,
        ErrorCode::ServerFull,
        ErrorCode::RateLimited,
        ErrorCode::HandshakeTimeout,
        ErrorCode::IdleTimeout,
        ErrorCode::SlowReader,
        ErrorCode::UnknownPeer,
        ErrorCode::ShuttingDown,
    ];

    /// The snake_case name used on the wire and as the `reason` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::BinaryFrame => "binary_frame",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::BadState => "bad_state",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::PeerIdInUse => "peer_id_in_use",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::ServerFull => "server_full",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::HandshakeTimeout => "handshake_timeout",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::SlowReader => "slow_reader",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::ShuttingDown => "shutting_down",
        }
    }
}

/// What Rumor drivers put in a signal's `data`: one step of setting up the WebRTC
/// connection for one session between two peers. JSON object tagged by `"kind"`.
///
/// Every connection attempt has a `session` number chosen by the offerer; answers and
/// candidates carry it so that late messages of an abandoned attempt are ignored.
/// The offerer creates one ordered, reliable data channel labelled [`DATA_CHANNEL_LABEL`]
/// before its offer; the answerer receives it in-band (`ondatachannel`). (Not a negotiated
/// channel: webrtc-rs 0.21.1 loses a message that arrives on a negotiated channel right as
/// the SCTP association comes up.)
///
/// Read in one pass over the object (the `Deserialize` impl is written out in this crate:
/// a derived one buffers the object first, which costs the browser package 16 KB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PeerSignal {
    /// An SDP offer opening session `session`.
    Offer {
        /// Chosen by the offerer; any number (kept below 2^53 for JavaScript).
        session: u64,
        /// The offer's SDP text.
        sdp: String,
    },
    /// The SDP answer to the offer of `session`.
    Answer {
        /// The session answered.
        session: u64,
        /// The answer's SDP text.
        sdp: String,
    },
    /// One trickled ICE candidate for `session` (as in `RTCIceCandidateInit`).
    Candidate {
        /// The session this candidate belongs to.
        session: u64,
        /// The candidate attribute, e.g. `candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host`.
        candidate: String,
        /// `sdpMid` of the candidate, if any.
        #[serde(default, rename = "sdpMid")]
        sdp_mid: Option<String>,
        /// `sdpMLineIndex` of the candidate, if any.
        #[serde(default, rename = "sdpMLineIndex")]
        sdp_mline_index: Option<u16>,
    },
    /// The sender is leaving the group: its signed leaving record (rumor-core's
    /// `Node::farewell`), sent through the server as well as over its connections because a
    /// closing browser tab may die before its data channels flush, and left with the server
    /// in advance as a [`ClientMessage::Will`]. Not tied to a session.
    Farewell {
        /// The farewell's bytes as lowercase hex.
        record: String,
    },
    /// Part of the sender's member table (one message of rumor-core's
    /// `Node::member_snapshot`: records signed by their owners), sent by the answerer of an
    /// offer from a peer it does not know yet, so that a newcomer lists the group before
    /// its first connection is up. Not tied to a session; drivers that do not know this
    /// kind ignore it.
    Members {
        /// The snapshot message's bytes as lowercase hex.
        records: String,
    },
}

impl PeerSignal {
    /// A [`PeerSignal::Farewell`] carrying `bytes`.
    ///
    /// ```
    /// use rumor_signal_proto::PeerSignal;
    /// let signal = PeerSignal::farewell(&[1, 0xab]);
    /// assert_eq!(signal, PeerSignal::Farewell { record: "01ab".into() });
    /// assert_eq!(signal.farewell_bytes(), Some(vec![1, 0xab]));
    /// ```
    pub fn farewell(bytes: &[u8]) -> PeerSignal {
        PeerSignal::Farewell {
            record: hex::encode(bytes),
        }
    }

    /// The bytes of a [`PeerSignal::Farewell`]; `None` for other signals or bad hex.
    pub fn farewell_bytes(&self) -> Option<Vec<u8>> {
        match self {
            PeerSignal::Farewell { record } => hex::decode(record).ok(),
            _ => None,
        }
    }

    /// A [`PeerSignal::Members`] carrying `bytes`.
    ///
    /// ```
    /// use rumor_signal_proto::PeerSignal;
    /// let signal = PeerSignal::members(&[2, 0xcd]);
    /// assert_eq!(signal, PeerSignal::Members { records: "02cd".into() });
    /// assert_eq!(signal.members_bytes(), Some(vec![2, 0xcd]));
    /// assert_eq!(PeerSignal::farewell(&[2]).members_bytes(), None);
    /// ```
    pub fn members(bytes: &[u8]) -> PeerSignal {
        PeerSignal::Members {
            records: hex::encode(bytes),
        }
    }

    /// The bytes of a [`PeerSignal::Members`]; `None` for other signals or bad hex.
    pub fn members_bytes(&self) -> Option<Vec<u8>> {
        match self {
            PeerSignal::Members { records } => hex::decode(records).ok(),
            _ => None,
        }
    }
}

/// Label of the one data channel Rumor peers open per connection (created by the offerer).
pub const DATA_CHANNEL_LABEL: &str = "rumor";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_round_trip_with_documented_shape() {
        let join = ClientMessage::Join {
            room: "lobby".into(),
            peer: "ab".repeat(32),
            signature: "cd".repeat(64),
        };
        let text = serde_json::to_string(&join).unwrap();
        assert!(
            text.starts_with(r#"{"type":"join","room":"lobby""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<ClientMessage>(&text).unwrap(), join);

        let sig: ClientMessage =
            serde_json::from_str(r#"{"type":"signal","to":"x","data":{"a":1}}"#).unwrap();
        assert_eq!(
            sig,
            ClientMessage::Signal {
                to: "x".into(),
                data: serde_json::json!({"a": 1})
            }
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"nope"}"#).is_err());
    }

    #[test]
    fn server_error_shape_and_codes() {
        let e: ServerMessage = ServerMessage::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            to: None,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"error","code":"rate_limited","message":"slow down"}"#
        );
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!((1000..5000).contains(&code.close_code()));
        }
        assert!(!ErrorCode::UnknownPeer.is_fatal());
        assert!(ErrorCode::BadSignature.is_fatal());
    }

    /// A hello from a server older than the feature list still parses (no features, so no
    /// wills), and an older client's view of a newer hello ignores the list.
    #[test]
    fn hello_features_are_optional_both_ways() {
        let limits = r#"{"max_frame_bytes":65536,"max_msgs_per_sec":50,"burst":200,"handshake_timeout_ms":10000,"idle_timeout_ms":30000}"#;
        let old = format!(r#"{{"type":"hello","version":1,"nonce":"ab","limits":{limits}}}"#);
        match serde_json::from_str::<ServerMessage>(&old).unwrap() {
            ServerMessage::Hello { features, .. } => assert!(features.is_empty()),
            other => panic!("{other:?}"),
        }
        let new = format!(
            r#"{{"type":"hello","version":1,"nonce":"ab","limits":{limits},"features":["will","x"]}}"#
        );
        match serde_json::from_str::<ServerMessage>(&new).unwrap() {
            ServerMessage::Hello { features, .. } => {
                assert_eq!(features, vec![FEATURE_WILL.to_string(), "x".to_string()])
            }
            other => panic!("{other:?}"),
        }
        // What a client built before the list would parse the new hello as.
        #[derive(serde::Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum OldServerMessage {
            #[allow(dead_code)]
            Hello {
                version: u32,
                nonce: String,
                limits: ServerLimits,
            },
        }
        assert!(serde_json::from_str::<OldServerMessage>(&new).is_ok());
    }

    #[test]
    fn peer_signal_shape() {
        let c = PeerSignal::Candidate {
            session: 7,
            candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["kind"], "candidate");
        assert_eq!(v["sdpMid"], "0");
        assert_eq!(serde_json::from_value::<PeerSignal>(v).unwrap(), c);
    }

    /// The written-out reader takes what the derived one took: the tag anywhere, `null` or
    /// missing optional fields, unknown fields ignored; and refuses anything but such an
    /// object with the fields of its kind.
    #[test]
    fn peer_signals_are_read_in_any_field_order_and_bad_ones_refused() {
        let read = |text: &str| serde_json::from_str::<PeerSignal>(text);
        assert_eq!(
            read(r#"{"sdp":"v=0","session":3,"kind":"answer","extra":[1]}"#).unwrap(),
            PeerSignal::Answer {
                session: 3,
                sdp: "v=0".into()
            }
        );
        let candidate = PeerSignal::Candidate {
            session: 1,
            candidate: "c".into(),
            sdp_mid: None,
            sdp_mline_index: None,
        };
        assert_eq!(
            read(r#"{"kind":"candidate","session":1,"candidate":"c","sdpMid":null}"#).unwrap(),
            candidate
        );
        assert_eq!(
            read(r#"{"kind":"candidate","session":1,"candidate":"c"}"#).unwrap(),
            candidate
        );
        for signal in [
            PeerSignal::Offer {
                session: 9,
                sdp: "o".into(),
            },
            PeerSignal::farewell(&[1, 2]),
            PeerSignal::members(&[3]),
        ] {
            let text = serde_json::to_string(&signal).unwrap();
            assert_eq!(read(&text).unwrap(), signal, "{text}");
        }
        let error = |text: &str| read(text).unwrap_err().to_string();
        assert!(error(r#"{"kind":"offer","session":1}"#).contains("missing field `sdp`"));
        assert!(error(r#"{"session":1,"sdp":"x"}"#).contains("missing field `kind`"));
        assert!(error(r#"{"kind":"nope"}"#).contains("unknown variant `nope`"));
        assert!(error(r#"{"kind":"farewell","record":"a","record":"b"}"#)
            .contains("duplicate field `record`"));
        assert!(read(r#"{"kind":"offer","session":"1","sdp":"x"}"#).is_err());
        assert!(read(r#"["offer",1,"x"]"#).is_err());

        // Nested in a server message, as a driver reads a relayed signal.
        let relayed =
            r#"{"type":"signal","from":"ab","data":{"session":2,"kind":"offer","sdp":"s"}}"#;
        assert_eq!(
            serde_json::from_str::<ServerMessage<PeerSignal>>(relayed).unwrap(),
            ServerMessage::Signal {
                from: "ab".into(),
                data: PeerSignal::Offer {
                    session: 2,
                    sdp: "s".into()
                }
            }
        );
        let foreign = r#"{"type":"signal","from":"ab","data":{"a":1}}"#;
        assert!(serde_json::from_str::<ServerMessage<PeerSignal>>(foreign).is_err());
    }

    #[test]
    fn server_messages_are_read_back_in_any_field_order() {
        let limits = ServerLimits {
            max_frame_bytes: 65_536,
            max_msgs_per_sec: 50,
            burst: 200,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
        };
        let messages: [ServerMessage; 6] = [
            ServerMessage::Hello {
                version: 1,
                nonce: "ab".into(),
                limits,
                features: vec![FEATURE_WILL.into()],
            },
            ServerMessage::Joined {
                room: "r".into(),
                peer: "p".into(),
                members: vec![MemberInfo {
                    peer: "s".into(),
                    role: "seed".into(),
                }],
            },
            ServerMessage::Signal {
                from: "f".into(),
                data: serde_json::json!({"any": [1, "json"]}),
            },
            ServerMessage::Pong { nonce: u64::MAX },
            ServerMessage::Error {
                code: ErrorCode::UnknownPeer,
                message: "m".into(),
                to: Some("t".into()),
            },
            ServerMessage::Error {
                code: ErrorCode::RoomFull,
                message: "m".into(),
                to: None,
            },
        ];
        for message in messages {
            let text = serde_json::to_string(&message).unwrap();
            assert_eq!(
                serde_json::from_str::<ServerMessage>(&text).unwrap(),
                message
            );
            // Keys in sorted order (serde_json's map), so the tag is no longer first.
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).unwrap();
            let reordered = serde_json::to_string(&object).unwrap();
            assert!(!reordered.starts_with(r#"{"type""#), "{reordered}");
            assert_eq!(
                serde_json::from_str::<ServerMessage>(&reordered).unwrap(),
                message,
                "{reordered}"
            );
        }
        let read = |text: &str| serde_json::from_str::<ServerMessage>(text);
        assert!(read(r#"{"type":"pong","nonce":"1"}"#).is_err());
        assert!(read(r#"{"type":"pong","nonce":-1}"#).is_err());
        assert!(read(r#"{"type":"joined","room":"r","peer":"p"}"#)
            .unwrap_err()
            .to_string()
            .contains("missing field `members`"));
        assert!(read(r#"{"type":"newer","x":1}"#)
            .unwrap_err()
            .to_string()
            .contains("unknown variant `newer`"));
    }

    #[test]
    fn error_codes_are_read_by_their_wire_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
        assert!(serde_json::from_str::<ErrorCode>(r#""BadJson""#).is_err());
        assert!(serde_json::from_str::<ErrorCode>("3").is_err());
    }
}
