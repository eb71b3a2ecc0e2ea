//! The member table: every known member's entry, the merge rules that decide which of two
//! entries wins, per-bucket hashes for anti-entropy, and suspicion deadlines.
//!
//! Pure data: no messages are sent from here. [`crate::Node`] decides what to do with the
//! [`Change`] each merge reports.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use litemap::LiteMap;

use crate::identity::PeerId;
use crate::record::{Claim, Digest, Entry};
use crate::sorted::SortedSet;
use crate::time::Instant;

/// Number of anti-entropy buckets; members fall in one by the first byte of their id.
pub const BUCKETS: usize = 64;

/// A member's liveness as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum MemberState {
    /// Believed alive.
    Alive,
    /// Someone lost contact; failed unless it refutes in time.
    Suspect,
    /// Declared failed after an unrefuted suspicion.
    Failed,
    /// Left gracefully.
    Left,
}

/// A member as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's id.
    pub id: PeerId,
    /// Its record's incarnation.
    pub incarnation: u64,
    /// Its record's version.
    pub version: u64,
    /// Its metadata, in key order.
    pub meta: LiteMap<String, String>,
    /// Topics it subscribes to, in name order.
    pub topics: Vec<String>,
    /// Its liveness.
    pub state: MemberState,
    /// When this node last saw its entry change.
    pub changed_at: Instant,
}

/// What a merge changed, from which [`crate::Node`] derives events and forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing new: do not forward.
    None,
    /// A member now alive that was unknown, failed or left.
    Joined,
    /// An alive member's record changed (metadata keys listed) or a suspicion was refuted.
    Updated(Vec<String>),
    /// A member became suspect.
    Suspected,
    /// One more independent accuser for a suspect.
    Confirmed,
    /// A member failed.
    Failed,
    /// A member left.
    Left,
    /// A tombstone is new: a member we never saw alive arrived failed or left, or a
    /// stronger claim arrived about a member already gone (remembered and forwarded, no
    /// event).
    Tombstone,
}

/// How an incoming entry relates to what the table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum News {
    /// Nothing new.
    Stale,
    /// A newer record: its signature must be checked before [`Members::apply`].
    Record,
    /// The same or an older record but a stronger claim, or a new accuser: no signature needed.
    Claim,
}

/// One member's entry and this node's bookkeeping about it. Every member holds one per
/// member, so it is kept small: the record is shared ([`Entry::signed`] is an `Arc`) and
/// what only a suspect or a member gone needs, which few members are at any time, is
/// boxed.
struct Slot {
    entry: Entry,
    changed_at: Instant,
    trouble: Option<Box<Trouble>>,
}

/// Bookkeeping for a member under suspicion or gone; dropped when it is neither.
#[derive(Default)]
struct Trouble {
    /// Set from the first accusation until the suspicion ends.
    suspicion: Option<Suspicion>,
    /// When the member was first seen failed or left (tombstones expire after a while).
    tombstoned_at: Option<Instant>,
}

/// A suspect's accusers and timing.
struct Suspicion {
    /// Distinct members that lost contact, in the order their claims arrived.
    accusers: Vec<PeerId>,
    /// When this node first heard the suspicion.
    since: Instant,
    /// When the suspect is declared failed; `None` once that moment has been reported.
    deadline: Option<Instant>,
}

impl Slot {
    fn new(entry: Entry, now: Instant) -> Self {
        Slot {
            entry,
            changed_at: now,
            trouble: None,
        }
    }

    fn suspicion(&self) -> Option<&Suspicion> {
        self.trouble.as_ref().and_then(|t| t.suspicion.as_ref())
    }

    fn suspicion_mut(&mut self) -> Option<&mut Suspicion> {
        self.trouble.as_mut().and_then(|t| t.suspicion.as_mut())
    }

    fn accusers(&self) -> &[PeerId] {
        self.suspicion().map_or(&[], |s| &s.accusers)
    }

    fn deadline(&self) -> Option<Instant> {
        self.suspicion().and_then(|s| s.deadline)
    }

    fn tombstoned_at(&self) -> Option<Instant> {
        self.trouble.as_ref().and_then(|t| t.tombstoned_at)
    }

    /// Sets or clears the tombstone time and the suspicion through `f`, and drops the box
    /// when both end up empty.
    fn with_trouble<R>(&mut self, f: impl FnOnce(&mut Trouble) -> R) -> R {
        let t = self.trouble.get_or_insert_with(Box::default);
        let r = f(t);
        if t.suspicion.is_none() && t.tombstoned_at.is_none() {
            self.trouble = None;
        }
        r
    }
}

/// All members known to this node, itself included.
pub struct Members {
    map: BTreeMap<PeerId, Slot>,
    bucket_hash: [u64; BUCKETS],
    /// Suspects' deadlines, earliest first: as many as members under suspicion at once,
    /// so a sorted vector ([`SortedSet`]; its code is a fraction of a B-tree's in the
    /// browser package).
    deadlines: SortedSet<(Instant, PeerId)>,
}

fn state_of(entry: &Entry) -> MemberState {
    if entry.signed.record.leaving {
        return MemberState::Left;
    }
    match entry.claim {
        Claim::Alive => MemberState::Alive,
        Claim::Suspect { .. } => MemberState::Suspect,
        Claim::Dead => MemberState::Failed,
    }
}

impl Default for Members {
    fn default() -> Self {
        Members {
            map: BTreeMap::new(),
            bucket_hash: [0; BUCKETS],
            deadlines: SortedSet::new(),
        }
    }
}

impl Members {
    /// Number of entries, tombstones included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The entry for `id`.
    pub fn get(&self, id: &PeerId) -> Option<&Entry> {
        self.map.get(id).map(|s| &s.entry)
    }

    /// The liveness of `id`, if known.
    pub fn state(&self, id: &PeerId) -> Option<MemberState> {
        self.map.get(id).map(|s| state_of(&s.entry))
    }

    /// True when `id` is known and alive or merely suspect.
    pub fn is_live(&self, id: &PeerId) -> bool {
        matches!(
            self.state(id),
            Some(MemberState::Alive | MemberState::Suspect)
        )
    }

    /// The application's view of `id`.
    pub fn member(&self, id: &PeerId) -> Option<Member> {
        let s = self.map.get(id)?;
        let r = &s.entry.signed.record;
        Some(Member {
            id: r.id,
            incarnation: r.incarnation,
            version: r.version,
            meta: {
                let mut meta = LiteMap::with_capacity(r.meta.len());
                for (k, v) in r.meta.iter() {
                    meta.insert(k.clone(), v.value.clone());
                }
                meta
            },
            topics: r.topics.keys().cloned().collect(),
            state: state_of(&s.entry),
            changed_at: s.changed_at,
        })
    }

    /// Every member in id order.
    pub fn members(&self) -> impl Iterator<Item = Member> + '_ {
        self.map.keys().filter_map(|id| self.member(id))
    }

    /// Ids of members in `state`.
    pub fn ids_in(&self, state: MemberState) -> impl Iterator<Item = PeerId> + '_ {
        self.map
            .iter()
            .filter(move |(_, s)| state_of(&s.entry) == state)
            .map(|(id, _)| *id)
    }

    /// The anti-entropy summary: sum of bucket hashes and entry count.
    pub fn root(&self) -> (u64, u32) {
        let hash = self
            .bucket_hash
            .iter()
            .fold(0u64, |a, h| a.wrapping_add(*h));
        (hash, self.map.len() as u32)
    }

    /// Per-bucket hashes.
    pub fn bucket_hashes(&self) -> &[u64; BUCKETS] {
        &self.bucket_hash
    }

    /// Digests of the members whose bucket bit is set in `mask`, grouped by bucket.
    pub fn digests_in(&self, mask: u64) -> Vec<Vec<Digest>> {
        let mut out = alloc::vec![Vec::new(); BUCKETS];
        for (id, s) in &self.map {
            let b = Digest::bucket(id);
            if mask & (1 << b) != 0 {
                out[b].push(s.entry.digest());
            }
        }
        out
    }

    /// How `incoming` relates to the table (see [`News`]).
    pub fn classify(&self, incoming: &Entry, max_confirmations: usize) -> News {
        let Some(slot) = self.map.get(&incoming.signed.record.id) else {
            return News::Record;
        };
        let have = slot.entry.digest();
        let new = incoming.digest();
        if (new.incarnation, new.version) > (have.incarnation, have.version) {
            return News::Record;
        }
        if new.incarnation != have.incarnation {
            return News::Stale;
        }
        // A member that left is not suspected or declared dead: claims about its earlier
        // records, from peers that lost contact while its leave was on the way, are old news.
        if slot.entry.signed.record.leaving {
            return News::Stale;
        }
        if new.rank > have.rank && !incoming.signed.record.leaving {
            return News::Claim;
        }
        if let (Claim::Suspect { by }, Claim::Suspect { .. }) = (incoming.claim, slot.entry.claim) {
            let accusers = slot.accusers();
            if accusers.len() < max_confirmations && !accusers.contains(&by) {
                return News::Claim;
            }
        }
        News::Stale
    }

    /// Applies news that [`Members::classify`] reported (and, for records, whose signature
    /// was checked). Returns what changed.
    pub fn apply(
        &mut self,
        incoming: Entry,
        news: News,
        now: Instant,
        suspicion: &SuspicionTimes,
    ) -> Change {
        let id = incoming.signed.record.id;
        let bucket = Digest::bucket(&id);
        let Some(slot) = self.map.get_mut(&id) else {
            let state = state_of(&incoming);
            self.bucket_hash[bucket] =
                self.bucket_hash[bucket].wrapping_add(incoming.digest().hash());
            let mut slot = Slot::new(incoming, now);
            let change = match state {
                MemberState::Alive => Change::Joined,
                MemberState::Suspect => Change::Joined,
                MemberState::Failed | MemberState::Left => {
                    slot.with_trouble(|t| t.tombstoned_at = Some(now));
                    Change::Tombstone
                }
            };
            self.map.insert(id, slot);
            if let Claim::Suspect { by } = self.map[&id].entry.claim {
                self.start_suspicion(id, by, now, suspicion);
            }
            return change;
        };

        let old_digest = slot.entry.digest();
        let old_state = state_of(&slot.entry);
        let old_meta = slot.entry.signed.record.meta.clone();
        let same_incarnation = incoming.signed.record.incarnation == old_digest.incarnation;
        match news {
            News::Stale => return Change::None,
            News::Record => {
                let claim = if same_incarnation && incoming.claim.rank() < slot.entry.claim.rank() {
                    slot.entry.claim
                } else {
                    incoming.claim
                };
                slot.entry = Entry {
                    signed: incoming.signed,
                    claim,
                };
            }
            News::Claim => {
                if incoming.claim.rank() > slot.entry.claim.rank() {
                    slot.entry.claim = incoming.claim;
                }
            }
        }
        slot.changed_at = now;
        let new_digest = slot.entry.digest();
        let new_state = state_of(&slot.entry);
        self.bucket_hash[bucket] = self.bucket_hash[bucket]
            .wrapping_sub(old_digest.hash())
            .wrapping_add(new_digest.hash());

        let change = match (old_state, new_state) {
            (
                MemberState::Failed | MemberState::Left,
                MemberState::Alive | MemberState::Suspect,
            ) => Change::Joined,
            (_, MemberState::Left) if old_state != MemberState::Left => Change::Left,
            (_, MemberState::Failed) if old_state != MemberState::Failed => Change::Failed,
            // A member already gone stays gone: a stronger claim about it (peers that lost
            // contact while its leave was on the way) is forwarded, but no one watching the
            // members sees a change (it used to surface as an update of a live member).
            (MemberState::Left, MemberState::Left) | (MemberState::Failed, MemberState::Failed) => {
                Change::Tombstone
            }
            (MemberState::Alive, MemberState::Suspect) => Change::Suspected,
            (MemberState::Suspect, MemberState::Suspect)
                if same_incarnation && old_digest.version == new_digest.version =>
            {
                Change::Confirmed
            }
            _ => {
                let meta = &slot.entry.signed.record.meta;
                let mut keys: Vec<String> = meta
                    .iter()
                    .filter(|(k, v)| old_meta.get(*k) != Some(*v))
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.extend(old_meta.keys().filter(|k| !meta.contains_key(*k)).cloned());
                Change::Updated(keys)
            }
        };

        // Bookkeeping for suspicion and tombstones.
        let gone = matches!(new_state, MemberState::Failed | MemberState::Left);
        if gone != slot.tombstoned_at().is_some() {
            slot.with_trouble(|t| t.tombstoned_at = gone.then_some(now));
        }
        match (new_state, slot.entry.claim) {
            (MemberState::Suspect, Claim::Suspect { .. }) => {
                let by = match incoming.claim {
                    Claim::Suspect { by } => by,
                    _ => match slot.entry.claim {
                        Claim::Suspect { by } => by,
                        _ => unreachable!("state is suspect"),
                    },
                };
                if !same_incarnation {
                    self.clear_suspicion(&id);
                }
                self.start_suspicion(id, by, now, suspicion);
            }
            _ => self.clear_suspicion(&id),
        }
        change
    }

    fn start_suspicion(&mut self, id: PeerId, by: PeerId, now: Instant, times: &SuspicionTimes) {
        let slot = self.map.get_mut(&id).expect("slot exists");
        let (old, deadline) = slot.with_trouble(|t| {
            let s = t.suspicion.get_or_insert_with(|| Suspicion {
                accusers: Vec::new(),
                since: now,
                deadline: None,
            });
            if !s.accusers.contains(&by) {
                s.accusers.push(by);
            }
            let deadline = s.since + times.timeout(s.accusers.len());
            (s.deadline.replace(deadline), deadline)
        });
        if let Some(old) = old {
            self.deadlines.remove(&(old, id));
        }
        self.deadlines.insert((deadline, id));
    }

    fn clear_suspicion(&mut self, id: &PeerId) {
        let Some(slot) = self.map.get_mut(id) else {
            return;
        };
        if slot.suspicion().is_none() {
            return;
        }
        if let Some(d) = slot.with_trouble(|t| t.suspicion.take().and_then(|s| s.deadline)) {
            self.deadlines.remove(&(d, *id));
        }
    }

    /// The earliest suspicion deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    /// Suspects whose deadline has passed, in deadline order (removed from the deadline set).
    pub fn expired(&mut self, now: Instant) -> Vec<PeerId> {
        let mut out = Vec::new();
        while let Some(&(t, id)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(s) = self.map.get_mut(&id).and_then(Slot::suspicion_mut) {
                s.deadline = None;
            }
            out.push(id);
        }
        out
    }

    /// Moves every suspicion deadline `by` later: this node was stalled and its own
    /// silence must not count against others.
    pub fn delay_suspicions(&mut self, by: Duration) {
        let old = core::mem::take(&mut self.deadlines);
        for &(t, id) in old.iter() {
            let t = t + by;
            if let Some(s) = self.map.get_mut(&id).and_then(Slot::suspicion_mut) {
                s.deadline = Some(t);
                s.since = s.since + by;
            }
            self.deadlines.insert((t, id));
        }
    }

    /// Forgets tombstones older than `ttl`, except `keep`; returns how many were removed.
    pub fn collect_garbage(&mut self, now: Instant, ttl: Duration, keep: &PeerId) -> usize {
        let old: Vec<PeerId> = self
            .map
            .iter()
            .filter(|(id, s)| {
                *id != keep
                    && s.tombstoned_at()
                        .is_some_and(|t| now.saturating_since(t) >= ttl)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &old {
            if let Some(slot) = self.map.remove(id) {
                let b = Digest::bucket(id);
                self.bucket_hash[b] = self.bucket_hash[b].wrapping_sub(slot.entry.digest().hash());
                if let Some(d) = slot.deadline() {
                    self.deadlines.remove(&(d, *id));
                }
            }
        }
        old.len()
    }

    /// Replaces this node's own entry (always wins; only the owner calls this).
    pub fn set_own(&mut self, entry: Entry, now: Instant) {
        let id = entry.signed.record.id;
        let b = Digest::bucket(&id);
        if let Some(old) = self.map.remove(&id) {
            self.bucket_hash[b] = self.bucket_hash[b].wrapping_sub(old.entry.digest().hash());
        }
        self.bucket_hash[b] = self.bucket_hash[b].wrapping_add(entry.digest().hash());
        self.map.insert(id, Slot::new(entry, now));
    }
}

/// Lifeguard's dynamic suspicion timeout: long with one accuser, shorter with each
/// independent confirmation, down to `min` at `confirmations` accusers.
#[derive(Debug, Clone, Copy)]
pub struct SuspicionTimes {
    /// Timeout with enough confirmations.
    pub min: Duration,
    /// Timeout with a single accuser.
    pub max: Duration,
    /// Accusers needed to reach `min`.
    pub confirmations: usize,
}

impl SuspicionTimes {
    /// The timeout given `accusers` independent accusers.
    pub fn timeout(&self, accusers: usize) -> Duration {
        let c = accusers.saturating_sub(1) as f64;
        let k = self.confirmations.saturating_sub(1).max(1) as f64;
        let frac = ((c + 1.0).ln() / (k + 1.0).ln()).min(1.0);
        let span = self.max.saturating_sub(self.min).as_secs_f64();
        self.min + Duration::from_secs_f64(span * (1.0 - frac))
    }
}

#[cfg(test)]
mod tests {
    use alloc::sync::Arc;

    use super::*;
    use crate::identity::Identity;
    use crate::record::{record_with_meta, SignedRecord};

    const TIMES: SuspicionTimes = SuspicionTimes {
        min: Duration::from_millis(500),
        max: Duration::from_secs(5),
        confirmations: 3,
    };

    fn entry(id: &Identity, inc: u64, ver: u64, meta: &[(&str, &str)], claim: Claim) -> Entry {
        Entry {
            signed: Arc::new(SignedRecord::sign(
                record_with_meta(id.id(), inc, ver, meta),
                id,
            )),
            claim,
        }
    }

    fn merge(m: &mut Members, e: Entry, t: u64) -> Change {
        let news = m.classify(&e, 3);
        m.apply(e, news, Instant::from_millis(t), &TIMES)
    }

    #[test]
    fn newer_versions_win_and_older_never_overwrite() {
        let a = Identity::from_secret([1; 32]);
        let mut m = Members::default();
        assert_eq!(
            merge(&mut m, entry(&a, 0, 2, &[("k", "new")], Claim::Alive), 0),
            Change::Joined
        );
        assert_eq!(
            merge(&mut m, entry(&a, 0, 1, &[("k", "old")], Claim::Alive), 1),
            Change::None
        );
        assert_eq!(
            m.member(&a.id()).unwrap().meta.get("k").map(String::as_str),
            Some("new")
        );
        assert_eq!(
            merge(&mut m, entry(&a, 0, 3, &[("k", "newer")], Claim::Alive), 2),
            Change::Updated(vec!["k".into()])
        );
    }

    #[test]
    fn suspicion_confirm_refute_and_expire() {
        let a = Identity::from_secret([1; 32]);
        let (b, c) = (PeerId([2; 32]), PeerId([3; 32]));
        let mut m = Members::default();
        merge(&mut m, entry(&a, 0, 1, &[], Claim::Alive), 0);
        assert_eq!(
            merge(&mut m, entry(&a, 0, 1, &[], Claim::Suspect { by: b }), 100),
            Change::Suspected
        );
        assert_eq!(m.next_deadline(), Some(Instant::from_millis(5_100)));
        assert_eq!(
            merge(&mut m, entry(&a, 0, 1, &[], Claim::Suspect { by: c }), 200),
            Change::Confirmed
        );
        assert!(m.next_deadline().unwrap() < Instant::from_millis(5_100));
        assert_eq!(
            merge(&mut m, entry(&a, 0, 1, &[], Claim::Suspect { by: c }), 300),
            Change::None
        );
        // Refutation at a higher incarnation clears it.
        assert_eq!(
            merge(&mut m, entry(&a, 1, 2, &[], Claim::Alive), 400),
            Change::Updated(vec![])
        );
        assert_eq!(m.next_deadline(), None);
        assert_eq!(m.state(&a.id()), Some(MemberState::Alive));
        // A stale suspicion about the old incarnation is ignored.
        assert_eq!(
            merge(&mut m, entry(&a, 0, 1, &[], Claim::Suspect { by: b }), 500),
            Change::None
        );
        // A fresh one expires.
        merge(&mut m, entry(&a, 1, 2, &[], Claim::Suspect { by: b }), 600);
        assert!(m.expired(Instant::from_millis(1_000)).is_empty());
        assert_eq!(m.expired(Instant::from_millis(5_600)), vec![a.id()]);
    }

    #[test]
    fn dead_then_restart_and_garbage_collection() {
        let a = Identity::from_secret([1; 32]);
        let me = PeerId([0; 32]);
        let mut m = Members::default();
        merge(&mut m, entry(&a, 3, 9, &[], Claim::Alive), 0);
        assert_eq!(
            merge(&mut m, entry(&a, 3, 9, &[], Claim::Dead), 10),
            Change::Failed
        );
        assert_eq!(
            merge(&mut m, entry(&a, 3, 9, &[], Claim::Alive), 20),
            Change::None
        );
        assert_eq!(
            merge(&mut m, entry(&a, 4, 10, &[], Claim::Alive), 30),
            Change::Joined
        );
        merge(&mut m, entry(&a, 4, 10, &[], Claim::Dead), 40);
        let before = m.root();
        assert_eq!(
            m.collect_garbage(Instant::from_millis(100), Duration::from_millis(100), &me),
            0
        );
        assert_eq!(
            m.collect_garbage(Instant::from_millis(140), Duration::from_millis(100), &me),
            1
        );
        assert_ne!(before, m.root());
        assert_eq!(m.root(), (0, 0));
    }

    #[test]
    fn news_about_a_member_that_left_changes_nothing_visible() {
        let a = Identity::from_secret([1; 32]);
        let b = PeerId([2; 32]);
        let mut m = Members::default();
        let alive = entry(&a, 0, 1, &[("k", "v")], Claim::Alive);
        merge(&mut m, alive.clone(), 0);
        let leaving = |version| {
            let mut record = record_with_meta(a.id(), 0, version, &[("k", "v")]);
            record.leaving = true;
            Entry {
                signed: Arc::new(SignedRecord::sign(record, &a)),
                claim: Claim::Alive,
            }
        };
        assert_eq!(merge(&mut m, leaving(2), 10), Change::Left);
        // A peer that lost contact before the leave reached it accuses the record it had,
        // then declares it dead: the member stays left, with no event.
        for claim in [Claim::Suspect { by: b }, Claim::Dead] {
            let claim = Entry {
                claim,
                ..alive.clone()
            };
            assert_eq!(m.classify(&claim, 3), News::Stale);
            assert_eq!(merge(&mut m, claim, 20), Change::None);
        }
        // A newer tombstone is remembered and forwarded, not reported as an update.
        assert_eq!(merge(&mut m, leaving(3), 30), Change::Tombstone);
        assert_eq!(m.state(&a.id()), Some(MemberState::Left));
    }

    #[test]
    fn dynamic_suspicion_timeout() {
        assert_eq!(TIMES.timeout(1), Duration::from_secs(5));
        assert!(TIMES.timeout(2) < TIMES.timeout(1));
        assert_eq!(TIMES.timeout(3), Duration::from_millis(500));
        assert_eq!(TIMES.timeout(9), Duration::from_millis(500));
    }
}
