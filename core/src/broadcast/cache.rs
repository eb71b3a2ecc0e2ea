//! The message cache's storage: cached messages in slots of a vector, found by id through
//! an index map.
//!
//! The index maps an id to a slot number, so it has the same key and value types as the
//! seen-ids map (`MsgId` to a 64-bit number): the browser package then carries one copy
//! of that B-tree's code instead of a second one for `MsgId` to a cached message.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::Cached;
use crate::wire::MsgId;

/// Cached messages by id, with a map's methods.
#[derive(Default)]
pub(super) struct Cache {
    /// Id to slot number.
    index: BTreeMap<MsgId, u64>,
    /// The messages; `None` in a slot that is free.
    slots: Vec<Option<Cached>>,
    /// Free slots, reused before the vector grows.
    free: Vec<usize>,
}

impl Cache {
    /// Number of cached messages.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// True when `id` is cached.
    pub(super) fn contains_key(&self, id: &MsgId) -> bool {
        self.index.contains_key(id)
    }

    /// The cached message `id`.
    pub(super) fn get(&self, id: &MsgId) -> Option<&Cached> {
        let slot = *self.index.get(id)? as usize;
        self.slots.get(slot)?.as_ref()
    }

    /// The cached message `id`, to change.
    pub(super) fn get_mut(&mut self, id: &MsgId) -> Option<&mut Cached> {
        let slot = *self.index.get(id)? as usize;
        self.slots.get_mut(slot)?.as_mut()
    }

    /// Caches `cached` as `id`, replacing (and returning) what was cached as `id`.
    pub(super) fn insert(&mut self, id: MsgId, cached: Cached) -> Option<Cached> {
        if let Some(old) = self.get_mut(&id) {
            return Some(core::mem::replace(old, cached));
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(cached);
                slot
            }
            None => {
                self.slots.push(Some(cached));
                self.slots.len() - 1
            }
        };
        self.index.insert(id, slot as u64);
        None
    }

    /// Removes and returns the cached message `id`.
    pub(super) fn remove(&mut self, id: &MsgId) -> Option<Cached> {
        let slot = self.index.remove(id)? as usize;
        let cached = self.slots.get_mut(slot)?.take();
        self.free.push(slot);
        cached
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::PeerId;
    use crate::time::Instant;
    use crate::wire::Gossip;

    fn cached(seq: u64) -> (MsgId, Cached) {
        let id = MsgId {
            origin: PeerId([seq as u8; 32]),
            seq,
        };
        let gossip = Gossip {
            id,
            round: 0,
            topic: "t".into(),
            part: None,
            data: alloc::vec![seq as u8],
        };
        let cached = Cached {
            gossip,
            at: Instant::from_millis(seq),
            parent: None,
            delivered: false,
        };
        (id, cached)
    }

    #[test]
    fn messages_are_found_replaced_removed_and_their_slots_reused() {
        let mut cache = Cache::default();
        let (a, ca) = cached(1);
        let (b, cb) = cached(2);
        assert!(cache.insert(a, ca).is_none());
        assert!(cache.insert(b, cb).is_none());
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&b).unwrap().gossip.data, [2]);
        cache.get_mut(&a).unwrap().delivered = true;
        assert!(cache.get(&a).unwrap().delivered);

        let (_, again) = cached(1);
        let old = cache.insert(a, again).expect("replaced");
        assert!(old.delivered);
        assert_eq!(cache.len(), 2);

        assert_eq!(cache.remove(&a).unwrap().gossip.data, [1]);
        assert!(cache.remove(&a).is_none());
        assert!(!cache.contains_key(&a) && cache.get(&a).is_none());
        let (c, cc) = cached(3);
        cache.insert(c, cc);
        assert_eq!(cache.slots.len(), 2, "the freed slot is reused");
        assert_eq!(cache.get(&c).unwrap().gossip.data, [3]);
        assert_eq!(cache.get(&b).unwrap().gossip.data, [2]);
    }
}
