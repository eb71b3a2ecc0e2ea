//! Member snapshots: the member table handed to a newcomer by a path other than the
//! overlay, so that it knows the group before its first connection is up.
//!
//! A browser tab that joins needs a WebRTC connection to its contact (offer, answer, ICE,
//! DTLS, SCTP) and then an anti-entropy exchange over it before it lists the group; on a
//! loaded machine that is most of a second or more. The contact, seeing an offer from a
//! peer it does not know, can send [`Node::member_snapshot`] through the signaling server
//! right away; the newcomer takes it in with [`Node::handle_member_snapshot`]. This is
//! memberlist's full state push on join, done ahead of the connection instead of over it.
//!
//! A snapshot holds only records signed by their owners, each with an `Alive` claim, so
//! whoever carries it can tell the receiver nothing that the members did not sign
//! themselves: no suspicion, no death. The anti-entropy exchange that follows once
//! connected fixes whatever the snapshot missed.

use alloc::vec::Vec;

use crate::identity::PeerId;
use crate::membership::MemberState;
use crate::node::{HandleError, Node};
use crate::record::{batches, encoded_len, Claim};
use crate::time::Instant;
use crate::wire::{self, Message};

impl Node {
    /// The live members' records (this node's own included), as at most `max_messages`
    /// wire messages of at most `Limits::max_message_size` bytes each, for `newcomer` to
    /// take in with [`Node::handle_member_snapshot`]. Only members believed alive are in
    /// it (no suspects, no tombstones); when they do not fit, the rest is left out and
    /// comes later by anti-entropy. Empty when `newcomer` is a live member already (it
    /// has the table, or gets news by gossip) or this node has left. Changes nothing.
    pub fn member_snapshot(&self, newcomer: &PeerId, max_messages: usize) -> Vec<Vec<u8>> {
        if self.has_left() || self.members.is_live(newcomer) {
            return Vec::new();
        }
        let entries = self
            .members
            .ids_in(MemberState::Alive)
            .filter_map(|id| self.members.get(&id))
            .filter(|e| e.claim == Claim::Alive)
            .cloned()
            .collect();
        batches(entries, self.update_budget(), encoded_len)
            .into_iter()
            .take(max_messages)
            .map(|entries| wire::encode(&Message::Update { entries }))
            .collect()
    }

    /// One message of another member's [`Node::member_snapshot`], arriving outside the
    /// overlay. Each record in it is merged like gossip (signature checked, news only);
    /// entries with any claim but `Alive` are dropped and counted in
    /// [`crate::Stats::rejected_records`], forged ones in `bad_signatures`. Returns how
    /// many entries were news. `Err` means nothing changed.
    pub fn handle_member_snapshot(
        &mut self,
        bytes: &[u8],
        now: Instant,
    ) -> Result<usize, HandleError> {
        if self.has_left() {
            return Err(HandleError::Left);
        }
        let entries = match wire::decode(bytes, self.config.limits.max_message_size) {
            Ok(Message::Update { entries }) => entries,
            Ok(_) => {
                self.stats.rejected_records += 1;
                return Err(HandleError::NotASnapshot);
            }
            Err(e) => {
                self.stats.decode_errors += 1;
                return Err(e.into());
            }
        };
        let mut news = 0;
        for entry in entries {
            if entry.claim != Claim::Alive {
                self.stats.rejected_records += 1;
                continue;
            }
            let id = entry.signed.record.id;
            let before = self.members.get(&id).map(|e| e.digest());
            self.ingest(entry, None, now);
            news += usize::from(self.members.get(&id).map(|e| e.digest()) != before);
        }
        self.stats.snapshot_records += news as u64;
        self.flush_push();
        Ok(news)
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::sync::Arc;

    use super::*;
    use crate::node::joined_test_node as node;
    use crate::record::Entry;

    /// A node that knows `count` other members, each with a `name` of `name_len` bytes.
    fn contact_with(count: u8, name_len: usize) -> Node {
        let mut contact = node(1);
        for s in 0..count {
            let mut m = node(s.wrapping_add(10));
            let name = format!("{s:0>name_len$}");
            m.set_meta("name", &name, Instant::ZERO).unwrap();
            contact.ingest(m.own_entry(), None, Instant::ZERO);
        }
        contact
    }

    fn names(n: &Node) -> Vec<(PeerId, Option<alloc::string::String>)> {
        n.members()
            .into_iter()
            .filter(|m| m.id != n.id())
            .map(|m| (m.id, m.meta.get("name").cloned()))
            .collect()
    }

    #[test]
    fn a_newcomer_learns_the_live_members_from_a_snapshot_once() {
        let mut contact = contact_with(5, 4);
        // One member suspected, one gone: neither is handed on.
        let (suspect, gone) = (node(10).id(), node(11).id());
        let by = node(12).id();
        let mut accused = contact.members.get(&suspect).unwrap().clone();
        accused.claim = Claim::Suspect { by };
        contact.ingest(accused, Some(by), Instant::ZERO);
        let mut left = node(11);
        left.set_meta("name", "0001", Instant::ZERO).unwrap(); // as contact_with made it
        left.leave(Instant::ZERO);
        contact
            .handle_farewell(&left.farewell(), Instant::ZERO)
            .unwrap();

        let snapshot = contact.member_snapshot(&node(2).id(), 4);
        assert_eq!(snapshot.len(), 1, "six small records fit one message");
        let mut newcomer = node(2);
        assert_eq!(
            newcomer
                .handle_member_snapshot(&snapshot[0], Instant::ZERO)
                .unwrap(),
            4,
            "the contact and three alive members are news"
        );
        assert_eq!(newcomer.stats().snapshot_records, 4);
        let known = names(&newcomer);
        assert_eq!(known.len(), 4);
        assert!(known.contains(&(contact.id(), None)));
        assert!(known.iter().all(|(id, _)| *id != suspect && *id != gone));
        for (id, name) in names(&contact) {
            if id != suspect && id != gone {
                assert!(known.contains(&(id, name)), "{id} is known with its name");
            }
        }
        assert_eq!(
            newcomer
                .handle_member_snapshot(&snapshot[0], Instant::ZERO)
                .unwrap(),
            0,
            "the same snapshot again is no news"
        );
        assert!(newcomer
            .members()
            .iter()
            .all(|m| m.state == MemberState::Alive));
        let member = contact
            .members()
            .into_iter()
            .find(|m| m.state == MemberState::Alive && m.id != contact.id())
            .unwrap()
            .id;
        assert!(
            contact.member_snapshot(&member, 4).is_empty(),
            "a live member gets no snapshot"
        );
    }

    #[test]
    fn a_large_table_is_split_into_frames_and_capped() {
        let contact = contact_with(200, 200);
        let all = contact.member_snapshot(&node(2).id(), usize::MAX);
        let max = contact.config().limits.max_message_size;
        assert!(
            all.len() >= 3,
            "201 records of ~300 bytes take several frames"
        );
        assert!(all.iter().all(|m| m.len() <= max));
        let mut newcomer = node(2);
        let news: usize = all
            .iter()
            .map(|m| newcomer.handle_member_snapshot(m, Instant::ZERO).unwrap())
            .sum();
        assert_eq!(news, 201);
        assert_eq!(newcomer.members().len(), 202);

        let capped = contact.member_snapshot(&node(2).id(), 2);
        assert_eq!(capped, all[..2].to_vec(), "the cap keeps the first frames");
    }

    #[test]
    fn bad_snapshots_are_refused_or_filtered_and_counted() {
        let contact = contact_with(2, 4);
        let mut newcomer = node(2);
        assert!(matches!(
            newcomer.handle_member_snapshot(&[0xff, 0, 1], Instant::ZERO),
            Err(HandleError::Decode(_))
        ));
        assert_eq!(newcomer.stats().decode_errors, 1);
        let ping = wire::encode(&Message::Ping { nonce: 3 });
        assert!(matches!(
            newcomer.handle_member_snapshot(&ping, Instant::ZERO),
            Err(HandleError::NotASnapshot)
        ));

        // A carrier can neither accuse nor forge: a suspicion and a tampered record are
        // dropped, the honest record next to them is taken.
        let mut entries: Vec<Entry> = contact
            .members
            .ids_in(MemberState::Alive)
            .filter(|id| *id != contact.id())
            .map(|id| contact.members.get(&id).unwrap().clone())
            .collect();
        entries[0].claim = Claim::Dead;
        Arc::make_mut(&mut entries[1].signed).record.version += 1;
        entries.push(contact.members.get(&contact.id()).unwrap().clone());
        let bytes = wire::encode(&Message::Update { entries });
        assert_eq!(
            newcomer
                .handle_member_snapshot(&bytes, Instant::ZERO)
                .unwrap(),
            1
        );
        assert_eq!(
            newcomer.stats().rejected_records,
            2,
            "the ping and the claim"
        );
        assert_eq!(newcomer.stats().bad_signatures, 1);
        assert_eq!(newcomer.members().len(), 2, "itself and the contact");

        newcomer.leave(Instant::ZERO);
        assert!(matches!(
            newcomer.handle_member_snapshot(&bytes, Instant::ZERO),
            Err(HandleError::Left)
        ));
        assert!(newcomer.member_snapshot(&node(3).id(), 4).is_empty());
    }
}
