//! Spreading membership: every new entry is pushed to the active view (each node forwards
//! news once), and periodic anti-entropy with one neighbor repairs whatever pushes missed.
//!
//! Anti-entropy is a four-step exchange that stays a few bytes long when the two sides
//! agree: root hash → per-bucket hashes → digests of differing buckets → entries.

use alloc::vec::Vec;

use litemap::LiteMap;

use crate::event::Event;
use crate::identity::PeerId;
use crate::membership::{Change, News, BUCKETS};
use crate::node::{Link, Node};
use crate::record::{batches, encoded_len, Digest, Entry};
use crate::time::Instant;
use crate::wire::Message;

/// Room kept in each message for framing and the enum tag.
const FRAME_SLACK: usize = 256;
/// Encoded size of one digest, at most (32-byte id, two varints, rank).
const DIGEST_SIZE: usize = 32 + 10 + 10 + 1;
/// Ids accepted in one `want` list.
const MAX_WANT: usize = 1024;

/// The pace of anti-entropy: every `sync_interval` round while the member table changes,
/// then rounds skipped while it stays as it was at the last comparison, the gap doubling
/// up to `sync_interval_max`. A difference found by either side of an exchange brings the
/// pace back to every round.
#[derive(Debug, Default)]
pub(crate) struct SyncPace {
    /// The member table's root at the last comparison this node started.
    last_root: Option<(u64, u32)>,
    /// Rounds from one comparison to the next while the root stays at `last_root` (1 =
    /// every round).
    gap: u32,
    /// Rounds skipped since the last comparison.
    skipped: u32,
}

impl SyncPace {
    /// Whether this round compares, given the table's `root` now and the longest gap in
    /// rounds.
    fn due(&mut self, root: (u64, u32), max_gap: u32) -> bool {
        if self.last_root != Some(root) {
            self.last_root = Some(root);
            self.gap = 1;
            self.skipped = 0;
            return true;
        }
        self.skipped += 1;
        if self.skipped < self.gap {
            return false;
        }
        self.skipped = 0;
        self.gap = self.gap.saturating_mul(2).min(max_gap);
        true
    }

    /// An exchange found the two tables different: compare every round again.
    fn differed(&mut self) {
        self.last_root = None;
    }
}

impl Node {
    /// Bytes of entries that fit one `Update` message (the frame less room for framing).
    pub(crate) fn update_budget(&self) -> usize {
        self.config
            .limits
            .max_message_size
            .saturating_sub(FRAME_SLACK)
            .max(FRAME_SLACK)
    }

    /// Merges one entry that arrived from `from` (or was produced here when `None`).
    pub(crate) fn ingest(&mut self, mut entry: Entry, from: Option<PeerId>, now: Instant) {
        if entry.signed.check_limits(&self.config.limits).is_err() {
            self.stats.rejected_records += 1;
            return;
        }
        let id = entry.signed.record.id;
        if id == self.me {
            // Only a record this node really signed (in this life or an earlier one) can
            // make it refute; a forgery is dropped and counted.
            if from.is_some() {
                if entry.signed.record != self.own && !entry.signed.verify(self.verifier.as_ref()) {
                    self.stats.bad_signatures += 1;
                    return;
                }
                self.on_news_about_me(entry, now);
            }
            return;
        }
        let news = self
            .members
            .classify(&entry, self.config.membership.suspicion_confirmations);
        match news {
            News::Stale => return,
            News::Record => {
                if self.members.get(&id).is_none()
                    && self.members.len() >= self.config.limits.max_members
                {
                    self.stats.members_over_limit += 1;
                    return;
                }
                if !entry.signed.verify(self.verifier.as_ref()) {
                    self.stats.bad_signatures += 1;
                    return;
                }
                entry.signed = self.verifier.share(entry.signed);
            }
            News::Claim => {}
        }
        let times = self.suspicion_times();
        let change = self.members.apply(entry.clone(), news, now, &times);
        self.after_change(entry, change, from);
    }

    /// Emits the events for `change` and queues the entry for pushing.
    pub(crate) fn after_change(&mut self, entry: Entry, change: Change, from: Option<PeerId>) {
        let id = entry.signed.record.id;
        let confirmation = change == Change::Confirmed;
        match change {
            Change::None => return,
            Change::Joined => {
                if let Some(m) = self.members.member(&id) {
                    self.emit(Event::MemberJoined(m));
                }
                if self.passive.len() < self.config.overlay.passive_view_capacity {
                    self.add_passive(id);
                }
            }
            Change::Updated(keys) => {
                if let Some(member) = self.members.member(&id) {
                    self.emit(Event::MemberUpdated { member, keys });
                }
            }
            Change::Suspected => self.emit(Event::MemberSuspected(id)),
            Change::Failed => {
                self.passive.remove(&id);
                self.emit(Event::MemberFailed(id));
            }
            Change::Left => {
                self.passive.remove(&id);
                self.emit(Event::MemberLeft(id));
            }
            Change::Confirmed | Change::Tombstone => {}
        }
        // Push what we now hold (the merged entry), except that a new accuser's suspicion
        // travels as it arrived so that others can count the confirmation too.
        // The record pushed is always the stored, verified one.
        let current = match self.members.get(&id) {
            Some(stored) if confirmation => Entry {
                signed: stored.signed.clone(),
                claim: entry.claim,
            },
            Some(stored) => stored.clone(),
            None => entry,
        };
        self.push.push((current, from));
    }

    /// Sends queued pushes: each neighbor gets, in one or more `Update`s, every queued
    /// entry that did not come from it.
    pub(crate) fn flush_push(&mut self) {
        self.flush_ihave();
        if self.push.is_empty() {
            return;
        }
        let push = core::mem::take(&mut self.push);
        let neighbors = self.neighbors();
        let budget = self.update_budget();
        for n in neighbors {
            let entries: Vec<Entry> = push
                .iter()
                .filter(|(_, from)| *from != Some(n))
                .map(|(e, _)| e.clone())
                .collect();
            for batch in batches(entries, budget, encoded_len) {
                self.transmit(n, &Message::Update { entries: batch });
            }
        }
    }

    /// A new neighbor: tell it who we are and compare tables.
    pub(crate) fn on_neighbor_up(&mut self, peer: PeerId) {
        let own = self.own_entry_stored();
        self.transmit(peer, &Message::Update { entries: vec![own] });
        let (hash, count) = self.members.root();
        self.transmit(peer, &Message::SyncRoot { hash, count });
        self.state_pull(peer);
    }

    fn own_entry_stored(&self) -> Entry {
        self.members
            .get(&self.me)
            .cloned()
            .unwrap_or_else(|| self.own_entry())
    }

    /// Periodic anti-entropy with one random neighbor, at the pace of [`SyncPace`].
    pub(crate) fn start_sync(&mut self, _now: Instant) {
        let m = &self.config.membership;
        // In u64: a u128 division would bring its kilobyte of code into the browser build.
        let (every, max) = (
            m.sync_interval.as_millis() as u64,
            m.sync_interval_max.as_millis() as u64,
        );
        let max_gap = (max / every.max(1)).clamp(1, u32::MAX as u64) as u32;
        let root = self.members.root();
        if !self.sync_pace.due(root, max_gap) {
            return;
        }
        let neighbors = self.neighbors();
        match self.pick(&neighbors) {
            Some(peer) => {
                self.stats.sync_rounds += 1;
                let (hash, count) = root;
                self.transmit(peer, &Message::SyncRoot { hash, count });
            }
            // Nobody to compare with: the next round tries again.
            None => self.sync_pace.differed(),
        }
    }

    pub(crate) fn on_sync_root(&mut self, from: PeerId, hash: u64, count: u32) {
        if (hash, count) != self.members.root() {
            self.sync_pace.differed();
            let hashes = self.members.bucket_hashes().to_vec();
            self.transmit(from, &Message::SyncBuckets { hashes });
        }
    }

    pub(crate) fn on_sync_buckets(&mut self, from: PeerId, hashes: Vec<u64>) {
        if hashes.len() != BUCKETS {
            self.stats.bad_overlay_messages += 1;
            return;
        }
        // The other side found our roots different.
        self.sync_pace.differed();
        let mine = self.members.bucket_hashes();
        let mask = (0..BUCKETS)
            .filter(|&b| mine[b] != hashes[b])
            .fold(0u64, |m, b| m | (1 << b));
        if mask == 0 {
            return;
        }
        let per_message = (self
            .config
            .limits
            .max_message_size
            .saturating_sub(FRAME_SLACK)
            / DIGEST_SIZE)
            .max(1);
        let mut cur_mask = 0u64;
        let mut cur: Vec<Digest> = Vec::new();
        for (b, digests) in self.members.digests_in(mask).into_iter().enumerate() {
            if mask & (1 << b) == 0 {
                continue;
            }
            if !cur.is_empty() && cur.len() + digests.len() > per_message {
                let digests = core::mem::take(&mut cur);
                self.transmit(
                    from,
                    &Message::SyncDigest {
                        buckets: cur_mask,
                        digests,
                    },
                );
                cur_mask = 0;
            }
            cur_mask |= 1 << b;
            for d in digests {
                if cur.len() >= per_message {
                    let digests = core::mem::take(&mut cur);
                    self.transmit(
                        from,
                        &Message::SyncDigest {
                            buckets: cur_mask,
                            digests,
                        },
                    );
                }
                cur.push(d);
            }
        }
        if cur_mask != 0 {
            self.transmit(
                from,
                &Message::SyncDigest {
                    buckets: cur_mask,
                    digests: cur,
                },
            );
        }
    }

    pub(crate) fn on_sync_digest(&mut self, from: PeerId, buckets: u64, digests: Vec<Digest>) {
        // Senders list digests in id order, so each insert appends.
        let mut theirs: LiteMap<PeerId, Digest> = LiteMap::new();
        for d in digests {
            theirs.insert(d.id, d);
        }
        let mut want = Vec::new();
        let mut give = Vec::new();
        for (id, d) in theirs.iter() {
            match self.members.get(id) {
                Some(mine) => {
                    let md = mine.digest();
                    if d.has_news_for(&md) {
                        want.push(*id);
                    }
                    if md.has_news_for(d) {
                        give.push(mine.clone());
                    }
                }
                None => want.push(*id),
            }
        }
        for per_bucket in self.members.digests_in(buckets) {
            for d in per_bucket {
                if !theirs.contains_key(&d.id) {
                    if let Some(e) = self.members.get(&d.id) {
                        give.push(e.clone());
                    }
                }
            }
        }
        self.send_delta(from, give, want);
    }

    pub(crate) fn on_sync_delta(
        &mut self,
        from: PeerId,
        entries: Vec<Entry>,
        want: Vec<PeerId>,
        now: Instant,
    ) {
        for e in entries {
            self.ingest(e, Some(from), now);
        }
        let give: Vec<Entry> = want
            .iter()
            .take(MAX_WANT)
            .filter_map(|id| self.members.get(id).cloned())
            .collect();
        if !give.is_empty() {
            self.send_delta(from, give, Vec::new());
        }
    }

    fn send_delta(&mut self, to: PeerId, give: Vec<Entry>, want: Vec<PeerId>) {
        if !matches!(self.links.get(&to), Some(Link::Active(_))) {
            return;
        }
        let budget = self.update_budget();
        let want_per_message = budget / 33;
        for batch in batches(give, budget, encoded_len) {
            self.transmit(
                to,
                &Message::SyncDelta {
                    entries: batch,
                    want: Vec::new(),
                },
            );
        }
        for chunk in want.chunks(want_per_message) {
            let want = chunk.to_vec();
            self.transmit(
                to,
                &Message::SyncDelta {
                    entries: Vec::new(),
                    want,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SyncPace;

    /// The rounds (of 40) in which `pace` compares, the table changing at `changes`.
    fn compared(pace: &mut SyncPace, changes: &[u32]) -> alloc::vec::Vec<u32> {
        let mut root = (0, 0);
        (0..40)
            .filter(|r| {
                if changes.contains(r) {
                    root.0 += 1;
                }
                pace.due(root, 8)
            })
            .collect()
    }

    #[test]
    fn an_unchanged_table_is_compared_ever_less_often_up_to_the_longest_gap() {
        let mut pace = SyncPace::default();
        assert_eq!(compared(&mut pace, &[]), [0, 1, 3, 7, 15, 23, 31, 39]);
    }

    #[test]
    fn a_change_or_a_difference_brings_back_every_round() {
        let mut pace = SyncPace::default();
        assert_eq!(
            compared(&mut pace, &[20]),
            [0, 1, 3, 7, 15, 20, 21, 23, 27, 35]
        );
        let mut pace = SyncPace::default();
        for _ in 0..20 {
            pace.due((0, 0), 8);
        }
        pace.differed();
        assert!(pace.due((0, 0), 8), "compared right after a difference");
        assert!(pace.due((0, 0), 8), "and the round after");
        assert!(!pace.due((0, 0), 8));
    }
}
