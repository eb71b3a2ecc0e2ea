//! [`KeyListeners`]: callbacks per metadata key, for drivers and applications that want
//! `on_key_change(key, cb)` rather than matching on [`Event`]s themselves.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use litemap::LiteMap;

use crate::event::Event;
use crate::membership::Member;

/// A callback told the member whose key changed, the key and its new value.
pub type KeyCallback = Box<dyn FnMut(&Member, &str, &str)>;

/// Callbacks per metadata key, fed with the node's events.
///
/// ```
/// use rumor_core::KeyListeners;
/// let mut keys = KeyListeners::default();
/// keys.on_key_change("status", |member, _key, value| println!("{}: {value}", member.id));
/// // for every Output::Event(event) drained from the node: keys.handle_event(&event);
/// ```
#[derive(Default)]
pub struct KeyListeners {
    listeners: LiteMap<String, Vec<KeyCallback>>,
}

impl KeyListeners {
    /// Calls `callback` whenever a member joins with `key` set or changes `key`.
    pub fn on_key_change(
        &mut self,
        key: impl Into<String>,
        callback: impl FnMut(&Member, &str, &str) + 'static,
    ) {
        self.listeners
            .entry(key.into())
            .or_default()
            .push(Box::new(callback));
    }

    /// Removes every callback for `key`.
    pub fn off_key_change(&mut self, key: &str) {
        self.listeners.remove(key);
    }

    /// Runs the callbacks an event concerns (member joins and metadata updates).
    pub fn handle_event(&mut self, event: &Event) {
        let (member, keys): (&Member, Vec<&String>) = match event {
            Event::MemberJoined(m) => (m, m.meta.keys().collect()),
            Event::MemberUpdated { member, keys } => (member, keys.iter().collect()),
            _ => return,
        };
        for key in keys {
            let (Some(callbacks), Some(value)) =
                (self.listeners.get_mut(key.as_str()), member.meta.get(key))
            else {
                continue;
            };
            for cb in callbacks.iter_mut() {
                cb(member, key, value);
            }
        }
    }
}
