//! `Deserialize` for [`ServerMessage`], [`PeerSignal`] and [`ErrorCode`], written out
//! rather than derived.
//!
//! A derived internally tagged enum (`#[serde(tag = "kind")]`) first buffers the whole
//! object in serde's generic `Content` tree, because the tag may come after the fields,
//! then reads it again as the variant: nested inside another tagged message, as a relayed
//! `data` is, that took 16 KB of code in the browser package. These read the object once:
//! every field the message can have, whatever its kind, then build the kind named by the
//! tag (`kind`, `type`). Missing, repeated and unknown-kind errors are serde's usual ones; fields of no
//! kind are ignored; a field of another kind than the one named must still have its own
//! type. [`ErrorCode`] is read by its wire name ([`ErrorCode::as_str`]), the one list of them.

use core::fmt;
use core::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Unexpected, Visitor};

use crate::{ErrorCode, MemberInfo, PeerSignal, ServerLimits, ServerMessage};

/// The kinds of [`PeerSignal`], as named on the wire.
const KINDS: &[&str] = &["offer", "answer", "candidate", "farewell", "members"];

/// A key of a [`PeerSignal`] object.
enum Field {
    Kind,
    Session,
    Sdp,
    Candidate,
    SdpMid,
    SdpMLineIndex,
    Record,
    Records,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        field_name(deserializer, |name| match name {
            "kind" => Field::Kind,
            "session" => Field::Session,
            "sdp" => Field::Sdp,
            "candidate" => Field::Candidate,
            "sdpMid" => Field::SdpMid,
            "sdpMLineIndex" => Field::SdpMLineIndex,
            "record" => Field::Record,
            "records" => Field::Records,
            _ => Field::Other,
        })
    }
}

/// Reads an object key and names it with `field` (one enum of known keys per message).
fn field_name<'de, D: Deserializer<'de>, F>(
    deserializer: D,
    field: impl Fn(&str) -> F,
) -> Result<F, D::Error> {
    struct Names<N>(N);
    impl<F, N: Fn(&str) -> F> Visitor<'_> for Names<N> {
        type Value = F;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a field name")
        }
        fn visit_str<E: de::Error>(self, name: &str) -> Result<F, E> {
            Ok((self.0)(name))
        }
    }
    deserializer.deserialize_identifier(Names(field))
}

/// Fills `slot` with the map's next value; a second one for the same key is an error.
fn fill<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

/// `value`, or serde's missing-field error for `name`.
fn need<T, E: de::Error>(value: Option<T>, name: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(name))
}

impl<'de> Deserialize<'de> for PeerSignal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SignalVisitor;
        impl<'de> Visitor<'de> for SignalVisitor {
            type Value = PeerSignal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a PeerSignal object tagged by \"kind\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PeerSignal, A::Error> {
                let mut kind: Option<String> = None;
                let mut session: Option<u64> = None;
                let mut sdp: Option<String> = None;
                let mut candidate: Option<String> = None;
                let mut sdp_mid: Option<Option<String>> = None;
                let mut sdp_mline_index: Option<Option<u16>> = None;
                let mut record: Option<String> = None;
                let mut records: Option<String> = None;
                while let Some(key) = map.next_key::<Field>()? {
                    match key {
                        Field::Kind => fill(&mut map, &mut kind, "kind")?,
                        Field::Session => fill(&mut map, &mut session, "session")?,
                        Field::Sdp => fill(&mut map, &mut sdp, "sdp")?,
                        Field::Candidate => fill(&mut map, &mut candidate, "candidate")?,
                        Field::SdpMid => fill(&mut map, &mut sdp_mid, "sdpMid")?,
                        Field::SdpMLineIndex => {
                            fill(&mut map, &mut sdp_mline_index, "sdpMLineIndex")?
                        }
                        Field::Record => fill(&mut map, &mut record, "record")?,
                        Field::Records => fill(&mut map, &mut records, "records")?,
                        Field::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let kind = need(kind, "kind")?;
                Ok(match kind.as_str() {
                    "offer" => PeerSignal::Offer {
                        session: need(session, "session")?,
                        sdp: need(sdp, "sdp")?,
                    },
                    "answer" => PeerSignal::Answer {
                        session: need(session, "session")?,
                        sdp: need(sdp, "sdp")?,
                    },
                    "candidate" => PeerSignal::Candidate {
                        session: need(session, "session")?,
                        candidate: need(candidate, "candidate")?,
                        sdp_mid: sdp_mid.flatten(),
                        sdp_mline_index: sdp_mline_index.flatten(),
                    },
                    "farewell" => PeerSignal::Farewell {
                        record: need(record, "record")?,
                    },
                    "members" => PeerSignal::Members {
                        records: need(records, "records")?,
                    },
                    other => return Err(de::Error::unknown_variant(other, KINDS)),
                })
            }
        }
        deserializer.deserialize_map(SignalVisitor)
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
            .ok_or_else(|| {
                de::Error::invalid_value(Unexpected::Str(&name), &"a signaling error code")
            })
    }
}

/// The kinds of [`ServerMessage`], as named on the wire.
const TYPES: &[&str] = &["hello", "joined", "signal", "pong", "error"];

/// A key of a [`ServerMessage`] object.
enum ServerField {
    Type,
    Version,
    Nonce,
    Limits,
    Features,
    Room,
    Peer,
    Members,
    From,
    Data,
    Code,
    Message,
    To,
    Other,
}

impl<'de> Deserialize<'de> for ServerField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        field_name(deserializer, |name| match name {
            "type" => ServerField::Type,
            "version" => ServerField::Version,
            "nonce" => ServerField::Nonce,
            "limits" => ServerField::Limits,
            "features" => ServerField::Features,
            "room" => ServerField::Room,
            "peer" => ServerField::Peer,
            "members" => ServerField::Members,
            "from" => ServerField::From,
            "data" => ServerField::Data,
            "code" => ServerField::Code,
            "message" => ServerField::Message,
            "to" => ServerField::To,
            _ => ServerField::Other,
        })
    }
}

/// A `nonce`: text in a hello, a number in a pong.
enum Nonce {
    Text(String),
    Number(u64),
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NonceVisitor;
        impl Visitor<'_> for NonceVisitor {
            type Value = Nonce;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a nonce (text or a number)")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Nonce, E> {
                Ok(Nonce::Text(text.into()))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Nonce, E> {
                Ok(Nonce::Number(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Nonce, E> {
                u64::try_from(n)
                    .map(Nonce::Number)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(n), &self))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Nonce, E> {
                // A JavaScript number beyond 2^53 (the browser package's reader hands whole
                // numbers up to 2^53 over as integers) or any float: taken when it is a whole
                // number a u64 holds.
                if n >= 0.0 && n.fract() == 0.0 && n < 18_446_744_073_709_551_616.0 {
                    Ok(Nonce::Number(n as u64))
                } else {
                    Err(E::invalid_value(Unexpected::Float(n), &self))
                }
            }
        }
        deserializer.deserialize_any(NonceVisitor)
    }
}

impl<'de, D: Deserialize<'de>> Deserialize<'de> for ServerMessage<D> {
    fn deserialize<De: Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        struct MessageVisitor<D>(PhantomData<D>);
        impl<'de, D: Deserialize<'de>> Visitor<'de> for MessageVisitor<D> {
            type Value = ServerMessage<D>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a signaling server message tagged by \"type\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut kind: Option<String> = None;
                let mut version: Option<u32> = None;
                let mut nonce: Option<Nonce> = None;
                let mut limits: Option<ServerLimits> = None;
                let mut features: Option<Vec<String>> = None;
                let mut room: Option<String> = None;
                let mut peer: Option<String> = None;
                let mut members: Option<Vec<MemberInfo>> = None;
                let mut from: Option<String> = None;
                let mut data: Option<D> = None;
                let mut code: Option<ErrorCode> = None;
                let mut message: Option<String> = None;
                let mut to: Option<Option<String>> = None;
                while let Some(key) = map.next_key::<ServerField>()? {
                    match key {
                        ServerField::Type => fill(&mut map, &mut kind, "type")?,
                        ServerField::Version => fill(&mut map, &mut version, "version")?,
                        ServerField::Nonce => fill(&mut map, &mut nonce, "nonce")?,
                        ServerField::Limits => fill(&mut map, &mut limits, "limits")?,
                        ServerField::Features => fill(&mut map, &mut features, "features")?,
                        ServerField::Room => fill(&mut map, &mut room, "room")?,
                        ServerField::Peer => fill(&mut map, &mut peer, "peer")?,
                        ServerField::Members => fill(&mut map, &mut members, "members")?,
                        ServerField::From => fill(&mut map, &mut from, "from")?,
                        ServerField::Data => fill(&mut map, &mut data, "data")?,
                        ServerField::Code => fill(&mut map, &mut code, "code")?,
                        ServerField::Message => fill(&mut map, &mut message, "message")?,
                        ServerField::To => fill(&mut map, &mut to, "to")?,
                        ServerField::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let kind = need(kind, "type")?;
                Ok(match kind.as_str() {
                    "hello" => ServerMessage::Hello {
                        version: need(version, "version")?,
                        nonce: match need(nonce, "nonce")? {
                            Nonce::Text(text) => text,
                            Nonce::Number(n) => {
                                return Err(de::Error::invalid_type(
                                    Unexpected::Unsigned(n),
                                    &"a nonce as text",
                                ))
                            }
                        },
                        limits: need(limits, "limits")?,
                        features: features.unwrap_or_default(),
                    },
                    "joined" => ServerMessage::Joined {
                        room: need(room, "room")?,
                        peer: need(peer, "peer")?,
                        members: need(members, "members")?,
                    },
                    "signal" => ServerMessage::Signal {
                        from: need(from, "from")?,
                        data: need(data, "data")?,
                    },
                    "pong" => ServerMessage::Pong {
                        nonce: match need(nonce, "nonce")? {
                            Nonce::Number(n) => n,
                            Nonce::Text(text) => {
                                return Err(de::Error::invalid_type(
                                    Unexpected::Str(&text),
                                    &"a nonce as a number",
                                ))
                            }
                        },
                    },
                    "error" => ServerMessage::Error {
                        code: need(code, "code")?,
                        message: need(message, "message")?,
                        to: to.flatten(),
                    },
                    other => return Err(de::Error::unknown_variant(other, TYPES)),
                })
            }
        }
        deserializer.deserialize_map(MessageVisitor(PhantomData))
    }
}
