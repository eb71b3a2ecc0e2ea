//! Values crossing between Rust and JavaScript: members, events and messages become the
//! plain JS objects the API documents ([`crate::types`]); payload arguments become bytes.

use js_sys::Uint8Array;
use rumor_core::{Event, Member, MemberState, PeerId};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::driver::Driver;
use crate::sys::error;

/// A member as JS sees it (`Member` in the TypeScript declarations).
#[derive(Serialize)]
pub(crate) struct JsMember<'a> {
    #[serde(rename = "peerId")]
    peer_id: String,
    state: &'static str,
    #[serde(serialize_with = "as_object")]
    meta: &'a rumor_core::LiteMap<String, String>,
    topics: Vec<&'a str>,
    incarnation: f64,
    #[serde(rename = "self")]
    is_self: bool,
}

/// `meta` as a JS object, also when empty (litemap writes an empty map as a sequence to
/// human-readable formats, which would reach JS as `[]`).
fn as_object<S: serde::Serializer>(
    meta: &&rumor_core::LiteMap<String, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(meta.iter())
}

/// `m` as JS sees it; `me` marks this page's own entry.
pub(crate) fn js_member<'a>(m: &'a Member, me: &PeerId) -> JsMember<'a> {
    JsMember {
        peer_id: m.id.to_hex(),
        state: match m.state {
            MemberState::Suspect => "suspect",
            MemberState::Alive => "alive",
            MemberState::Failed => "failed",
            MemberState::Left => "left",
        },
        meta: &m.meta,
        topics: m.topics.iter().map(String::as_str).collect(),
        incarnation: m.incarnation as f64,
        is_self: m.id == *me,
    }
}

/// `value` as a plain JS value (maps as objects, `None` as `null`); `undefined` if it
/// cannot be one.
pub(crate) fn to_js<T: Serialize>(value: &T) -> JsValue {
    crate::jsvalue::to_value(value, &JsValue::NULL).unwrap_or(JsValue::UNDEFINED)
}

/// `{ from, data, text? }`: bytes from a member (a direct message or a request), with
/// `text` set when they are valid UTF-8.
pub(crate) fn from_member_js(from: &PeerId, data: &[u8]) -> JsValue {
    #[derive(Serialize)]
    struct FromMember<'a> {
        from: String,
        data: Bytes<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<&'a str>,
    }
    to_js(&FromMember {
        from: from.to_hex(),
        data: Bytes(data),
        text: std::str::from_utf8(data).ok(),
    })
}

/// Bytes that reach JS as a `Uint8Array`.
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// A node event as the name and payload of the JS event it raises; `None` for events
/// JS does not see.
pub(crate) fn event_to_js(driver: &Driver, event: Event) -> Option<(&'static str, JsValue)> {
    let me = driver.id();
    Some(match event {
        Event::MemberJoined(m) => ("join", to_js(&js_member(&m, &me))),
        Event::MemberUpdated { member, keys } => {
            #[derive(Serialize)]
            struct Update<'a> {
                member: JsMember<'a>,
                keys: Vec<String>,
            }
            let update = Update {
                member: js_member(&member, &me),
                keys,
            };
            ("update", to_js(&update))
        }
        Event::MemberSuspected(id) => {
            let member = driver.with(|s| s.node().member(&id))?;
            #[derive(Serialize)]
            struct Update<'a> {
                member: JsMember<'a>,
                keys: [&'static str; 0],
            }
            let mut m = js_member(&member, &me);
            m.state = "suspect";
            (
                "update",
                to_js(&Update {
                    member: m,
                    keys: [],
                }),
            )
        }
        Event::MemberLeft(id) | Event::MemberFailed(id) => {
            #[derive(Serialize)]
            struct Leave {
                #[serde(rename = "peerId")]
                peer_id: String,
                reason: &'static str,
            }
            let reason = if matches!(event, Event::MemberLeft(_)) {
                "left"
            } else {
                "failed"
            };
            let leave = Leave {
                peer_id: id.to_hex(),
                reason,
            };
            ("leave", to_js(&leave))
        }
        Event::Message {
            topic,
            from,
            seq,
            data,
            hops,
        } => {
            #[derive(Serialize)]
            struct Message<'a> {
                topic: &'a str,
                from: String,
                seq: f64,
                data: Bytes<'a>,
                #[serde(skip_serializing_if = "Option::is_none")]
                text: Option<&'a str>,
                hops: u16,
            }
            let msg = Message {
                topic: &topic,
                from: from.to_hex(),
                seq: seq as f64,
                data: Bytes(&data),
                text: std::str::from_utf8(&data).ok(),
                hops,
            };
            ("message", to_js(&msg))
        }
        Event::Direct { from, data } => ("direct", from_member_js(&from, &data)),
        Event::LeaderChanged(leader) => {
            #[derive(Serialize)]
            struct Leader {
                #[serde(rename = "peerId")]
                peer_id: Option<String>,
            }
            let leader = Leader {
                peer_id: leader.map(|l| l.to_hex()),
            };
            ("leader", to_js(&leader))
        }
        // Settled by the direct-message module before conversion.
        Event::Request { .. }
        | Event::Response { .. }
        | Event::Delivered { .. }
        | Event::DirectFailed { .. } => return None,
        Event::NeighborUp(id) | Event::NeighborDown(id) => {
            #[derive(Serialize)]
            struct Neighbor {
                #[serde(rename = "peerId")]
                peer_id: String,
                up: bool,
            }
            let up = matches!(event, Event::NeighborUp(_));
            (
                "neighbor",
                to_js(&Neighbor {
                    peer_id: id.to_hex(),
                    up,
                }),
            )
        }
    })
}

/// The bytes of a payload argument: a `Uint8Array`, or a string sent as UTF-8.
pub(crate) fn payload_bytes(data: &JsValue, what: &str) -> Result<Vec<u8>, JsValue> {
    if let Some(text) = data.as_string() {
        Ok(text.into_bytes())
    } else if let Some(array) = data.dyn_ref::<Uint8Array>() {
        Ok(array.to_vec())
    } else {
        Err(error(format!(
            "{what}: data must be a Uint8Array or a string"
        )))
    }
}
