//! Farewells: a leaving member's signed goodbye, carried by a path other than the overlay.
//!
//! [`Node::leave`] pushes the member's last record (marked `leaving`) to its neighbors over
//! their connections. A browser tab that is closing may die before those bytes leave it, or
//! before its `pagehide` handler even runs. [`Node::farewell`] gives the driver that record
//! as bytes, after `leave` to send by another path too (the signaling server), and before
//! it to leave in advance with a carrier that sends it when the node vanishes (the
//! signaling server's will). [`Node::handle_farewell`] takes it in on the other side. The
//! record is signed by its owner, so whoever carries it can only deliver a goodbye the
//! owner signed; a farewell left in advance and released while the owner is still alive is
//! refuted by the owner like any outdated news about itself (a new incarnation).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use crate::node::{HandleError, Node};
use crate::record::{Claim, Entry, SignedRecord};
use crate::time::Instant;
use crate::wire::{self, Message};

impl Node {
    /// This node's farewell, encoded as a wire message: after [`Node::leave`], the leaving
    /// record it pushed; before, the leaving record `leave` would push now (same content,
    /// same signature). Each change to this node's record outdates a farewell made in
    /// advance (receivers that have the newer record ignore it): make a new one whenever
    /// [`Node::record_version`] changes.
    pub fn farewell(&self) -> Vec<u8> {
        let entry = match self.members.get(&self.me) {
            Some(stored) if self.has_left() => stored.clone(),
            _ => {
                let mut record = self.own.clone();
                record.leaving = true;
                record.version = record.version.saturating_add(1);
                Entry {
                    signed: Arc::new(SignedRecord::sign(record, &self.identity)),
                    claim: Claim::Alive,
                }
            }
        };
        wire::encode(&Message::Update {
            entries: vec![entry],
        })
    }

    /// `(incarnation, version)` of this node's own record: it changes whenever the record
    /// does (metadata, subscriptions, a refutation, leaving).
    pub fn record_version(&self) -> (u64, u64) {
        (self.own.incarnation, self.own.version)
    }

    /// A farewell for the driver to leave in advance with a carrier (the signaling server's
    /// will), when one is due: the first call, then whenever [`Node::record_version`]
    /// changed since the last one handed out, at most once per
    /// `MembershipConfig::will_renew` (a later call hands out the change that had to wait).
    /// `None` when the last one is current, too recent, or the node has left: after a
    /// graceful leave the carrier may still release the last will, a farewell no newer than
    /// the goodbye, which the others take as old news. Drivers without such a carrier need
    /// not call it.
    pub fn poll_will(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.left {
            return None;
        }
        let version = self.record_version();
        if let Some((last, at)) = self.will {
            if last == version || now < at + self.config.membership.will_renew {
                return None;
            }
        }
        self.will = Some((version, now));
        Some(self.farewell())
    }

    /// A farewell (the bytes of another member's [`Node::farewell`]) that arrived outside
    /// the overlay. A genuine one is merged like gossip: the member is shown as left and the
    /// news is pushed to the neighbors. `Err` means nothing changed; a farewell already known
    /// (it came over the overlay too) is `Ok` and changes nothing either.
    pub fn handle_farewell(&mut self, bytes: &[u8], now: Instant) -> Result<(), HandleError> {
        if self.has_left() {
            return Err(HandleError::Left);
        }
        let msg = match wire::decode(bytes, self.config.limits.max_message_size) {
            Ok(m) => m,
            Err(e) => {
                self.stats.decode_errors += 1;
                return Err(e.into());
            }
        };
        let entry = match msg {
            Message::Update { mut entries }
                if entries.len() == 1
                    && entries[0].signed.record.leaving
                    && entries[0].claim == Claim::Alive =>
            {
                entries.remove(0)
            }
            _ => {
                self.stats.rejected_records += 1;
                return Err(HandleError::NotAFarewell);
            }
        };
        if !entry.signed.verify(self.verifier.as_ref()) {
            self.stats.bad_signatures += 1;
            return Err(HandleError::BadSignature);
        }
        self.stats.farewells += 1;
        self.ingest(entry, None, now);
        self.flush_push();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::joined_test_node as node;
    use crate::MemberState;

    #[test]
    fn a_farewell_made_in_advance_is_the_one_leave_sends() {
        let mut a = node(1);
        let before = a.record_version();
        let early = a.farewell();
        assert_eq!(
            a.record_version(),
            before,
            "making a farewell changes nothing"
        );
        match wire::decode(&early, usize::MAX).unwrap() {
            Message::Update { entries } => {
                assert_eq!(entries.len(), 1);
                assert_eq!(entries[0].signed.record.id, a.id());
                assert!(entries[0].signed.record.leaving);
                assert_eq!(entries[0].signed.record.version, before.1 + 1);
            }
            other => panic!("farewell decodes to {other:?}"),
        }
        a.leave(Instant::ZERO);
        assert_eq!(a.farewell(), early);
    }

    #[test]
    fn a_farewell_outdated_by_a_newer_record_is_ignored_and_a_fresh_one_is_not() {
        let mut a = node(1);
        let mut b = node(2);
        b.ingest(a.own_entry(), None, Instant::ZERO);
        let early = a.farewell();
        a.set_meta("name", "a", Instant::ZERO).unwrap();
        b.ingest(a.own_entry(), None, Instant::ZERO);
        assert!(b.handle_farewell(&early, Instant::ZERO).is_ok());
        assert_eq!(b.member(&a.id()).unwrap().state, MemberState::Alive);
        assert!(b.handle_farewell(&a.farewell(), Instant::ZERO).is_ok());
        assert_eq!(b.member(&a.id()).unwrap().state, MemberState::Left);
    }

    #[test]
    fn a_will_is_due_first_then_on_each_record_change_at_most_once_a_second_and_never_after_leaving(
    ) {
        let mut a = node(1);
        let t = |ms| Instant::from_millis(ms);
        assert_eq!(
            a.poll_will(t(0)),
            Some(a.farewell()),
            "the first call hands one out"
        );
        assert_eq!(a.poll_will(t(5_000)), None, "nothing changed");
        a.set_meta("name", "a", t(5_000)).unwrap();
        assert_eq!(
            a.poll_will(t(5_000)),
            Some(a.farewell()),
            "a change, long after"
        );
        a.set_meta("name", "b", t(5_100)).unwrap();
        assert_eq!(a.poll_will(t(5_100)), None, "a change, too soon");
        assert_eq!(a.poll_will(t(5_999)), None, "still too soon");
        assert_eq!(
            a.poll_will(t(6_000)),
            Some(a.farewell()),
            "the change that had to wait"
        );
        a.set_meta("name", "c", t(8_000)).unwrap();
        a.leave(t(8_000));
        assert_eq!(a.poll_will(t(9_000)), None, "none after leaving");
    }

    #[test]
    fn bad_farewells_are_refused_with_what_was_wrong_and_counted() {
        let a = node(1);
        let good = a.farewell();
        let mut b = node(2);

        let mut forged = good.clone();
        let at = forged.len() - 2; // inside the signature (the claim is the last byte)
        forged[at] ^= 1;
        assert!(matches!(
            b.handle_farewell(&forged, Instant::ZERO),
            Err(HandleError::BadSignature)
        ));
        assert_eq!(b.stats().bad_signatures, 1);

        let ping = wire::encode(&Message::Ping { nonce: 1 });
        assert!(matches!(
            b.handle_farewell(&ping, Instant::ZERO),
            Err(HandleError::NotAFarewell)
        ));
        assert_eq!(b.stats().rejected_records, 1);

        assert!(matches!(
            b.handle_farewell(&[0xff, 1, 2], Instant::ZERO),
            Err(HandleError::Decode(_))
        ));
        assert_eq!(b.stats().decode_errors, 1);
        assert_eq!(b.stats().farewells, 0);
        assert!(b.member(&a.id()).is_none(), "nothing was merged");

        assert!(b.handle_farewell(&good, Instant::ZERO).is_ok());
        assert_eq!(b.stats().farewells, 1);

        b.leave(Instant::ZERO);
        assert!(matches!(
            b.handle_farewell(&good, Instant::ZERO),
            Err(HandleError::Left)
        ));
    }
}
