//! Member records: what each member says about itself, signed by its own key, and the
//! liveness claims others gossip about it.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

use crate::config::Limits;
use crate::identity::{Identity, PeerId, Signature, Verify};

/// One metadata value with the record version that last set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaEntry {
    /// The value as the owner set it.
    pub value: String,
    /// The owner's record version at which this key was last written.
    pub version: u64,
}

/// A member's metadata: key to value and the record version that set it, in key order.
///
/// A sorted `Vec` of pairs: every member's record is held by every other member, and a
/// record has a handful of keys, for which a `BTreeMap`'s node (room for eleven) would
/// be most of the record's memory. Encoded as a map, the same bytes as a `BTreeMap`.
pub type MetaMap = LiteMap<String, MetaEntry>;

/// The topics a member subscribes to, in name order (a set: the values are `()`).
///
/// A sorted `Vec`, for the same reason as [`MetaMap`]. Encoded as a map from name to
/// nothing, which in the wire encoding (postcard) is the same bytes as a sequence of
/// names, as a `BTreeSet` was.
pub type TopicSet = LiteMap<String, ()>;

/// Decoding of [`MetaMap`] and [`TopicSet`]: keys must come in strictly ascending order,
/// as their owner encodes them. A record whose keys come otherwise could never verify
/// (its signature covers the ordered encoding), so it is refused as malformed rather
/// than reordered, which would take a sort for nothing.
mod ascending {
    use core::fmt;
    use core::marker::PhantomData;

    use litemap::LiteMap;
    use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};

    /// Room reserved up front at most: the count on the wire is the sender's claim.
    const PREALLOCATE_MAX: usize = 64;

    pub(super) fn deserialize<'de, D, V>(
        d: D,
    ) -> Result<LiteMap<alloc::string::String, V>, D::Error>
    where
        D: Deserializer<'de>,
        V: Deserialize<'de>,
    {
        struct Ascending<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Ascending<V> {
            type Value = LiteMap<alloc::string::String, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map with keys in ascending order")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let room = access.size_hint().unwrap_or(0).min(PREALLOCATE_MAX);
                let mut map = LiteMap::with_capacity(room);
                while let Some((k, v)) = access.next_entry()? {
                    if map.try_append(k, v).is_some() {
                        return Err(A::Error::custom("keys out of order or repeated"));
                    }
                }
                Ok(map)
            }
        }
        d.deserialize_map(Ascending(PhantomData))
    }
}

/// What a member says about itself. Only the owner can produce a valid [`SignedRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Whose record this is.
    pub id: PeerId,
    /// Raised by the owner to refute a suspicion or to come back after a restart.
    pub incarnation: u64,
    /// Raised by the owner on every change; together with `incarnation` orders records.
    pub version: u64,
    /// Application metadata with per-key versions.
    #[serde(deserialize_with = "ascending::deserialize")]
    pub meta: MetaMap,
    /// Topics the owner subscribes to.
    #[serde(deserialize_with = "ascending::deserialize")]
    pub topics: TopicSet,
    /// Set when the owner left gracefully; final for this incarnation.
    pub leaving: bool,
}

/// A record and its owner's signature over the record's wire encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    /// The signed content.
    pub record: Record,
    /// The owner's signature over `postcard(record)`.
    pub signature: Signature,
}

impl SignedRecord {
    /// Signs `record` with `identity`. The caller makes sure `record.id == identity.id()`.
    pub fn sign(record: Record, identity: &Identity) -> Self {
        // Not `expect`: it would print postcard's error with `{:?}`, code the browser
        // package would carry for a panic that cannot happen.
        let bytes = postcard::to_allocvec(&record)
            .unwrap_or_else(|_| unreachable!("records always encode"));
        let signature = identity.sign(&bytes);
        SignedRecord { record, signature }
    }

    /// True when the signature is the record owner's.
    pub fn verify(&self, verifier: &dyn Verify) -> bool {
        match postcard::to_allocvec(&self.record) {
            Ok(bytes) => verifier.verify(&self.record.id, &bytes, &self.signature),
            Err(_) => false,
        }
    }

    /// Checks the record against the size limits; `Err` names the broken limit.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), &'static str> {
        let meta = &self.record.meta;
        if meta.len() > limits.max_meta_keys {
            return Err("too many metadata keys");
        }
        for (k, v) in meta {
            if k.len() > limits.max_meta_key_len {
                return Err("metadata key too long");
            }
            if v.value.len() > limits.max_meta_value_len {
                return Err("metadata value too long");
            }
            if v.version > self.record.version {
                return Err("metadata key newer than its record");
            }
        }
        if postcard::to_allocvec(&self.record).map_or(usize::MAX, |b| b.len())
            > limits.max_record_size
        {
            return Err("record larger than max_record_size");
        }
        if self.record.topics.len() > limits.max_subscriptions {
            return Err("too many topics");
        }
        if self
            .record
            .topics
            .keys()
            .any(|t| t.len() > limits.max_topic_len)
        {
            return Err("topic name too long");
        }
        Ok(())
    }
}

/// What the gossip says about a member's liveness at the record's incarnation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Claim {
    /// No one has reported a problem.
    Alive,
    /// `by` lost contact with the member; it is dead unless it refutes in time.
    Suspect {
        /// The member that lost contact.
        by: PeerId,
    },
    /// The suspicion was not refuted in time.
    Dead,
}

impl Claim {
    /// Precedence within one incarnation: a higher rank overrides a lower one.
    pub fn rank(self) -> u8 {
        match self {
            Claim::Alive => 0,
            Claim::Suspect { .. } => 1,
            Claim::Dead => 2,
        }
    }
}

/// One member as gossiped: its signed record plus the liveness claim at that incarnation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The owner's record, shared: the member table, queued pushes and outgoing messages
    /// hold the same copy, and a process running many nodes can hold one copy for all of
    /// them ([`Verify::share`]).
    pub signed: Arc<SignedRecord>,
    /// The liveness claim about `signed.record.incarnation`.
    pub claim: Claim,
}

/// A compact summary of an [`Entry`] used by anti-entropy: enough to tell who is newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// The member.
    pub id: PeerId,
    /// Its record's incarnation.
    pub incarnation: u64,
    /// Its record's version.
    pub version: u64,
    /// The rank of the claim (see [`Claim::rank`]); 3 when the record says it left.
    pub rank: u8,
}

impl Digest {
    /// True when `self` carries something `other` lacks (a newer record or a stronger claim).
    pub fn has_news_for(&self, other: &Digest) -> bool {
        (self.incarnation, self.version) > (other.incarnation, other.version)
            || (self.incarnation == other.incarnation && self.rank > other.rank)
    }

    /// A 64-bit hash of the digest, summed per bucket for the anti-entropy root.
    pub fn hash(&self) -> u64 {
        let mut h = self.id.prefix_u64();
        for v in [self.incarnation, self.version, self.rank as u64] {
            h = mix(h ^ v);
        }
        h
    }

    /// The anti-entropy bucket this member falls in.
    pub fn bucket(id: &PeerId) -> usize {
        (id.0[0] as usize) % crate::membership::BUCKETS
    }
}

impl Entry {
    /// The digest of this entry.
    pub fn digest(&self) -> Digest {
        let r = &self.signed.record;
        Digest {
            id: r.id,
            incarnation: r.incarnation,
            version: r.version,
            rank: if r.leaving { 3 } else { self.claim.rank() },
        }
    }
}

/// splitmix64's step: its increment, then [`finalize`].
fn mix(z: u64) -> u64 {
    finalize(z.wrapping_add(0x9e37_79b9_7f4a_7c15))
}

/// splitmix64's finalizer: a cheap, well-mixing permutation of 64-bit values.
pub(crate) fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Builds a record for tests and tools: `meta` given as pairs, all keys at `version`.
pub fn record_with_meta(
    id: PeerId,
    incarnation: u64,
    version: u64,
    meta: &[(&str, &str)],
) -> Record {
    Record {
        id,
        incarnation,
        version,
        meta: meta
            .iter()
            .map(|(k, v)| {
                (
                    String::from(*k),
                    MetaEntry {
                        value: String::from(*v),
                        version,
                    },
                )
            })
            .collect(), // sorts: tests and tools only
        topics: TopicSet::new(),
        leaving: false,
    }
}

/// Encodes a vector of entries, for size estimates of outgoing batches.
pub(crate) fn encoded_len(entry: &Entry) -> usize {
    postcard::to_allocvec(entry)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

/// Splits `items` into batches whose summed `size` stays under `budget` (each batch non-empty).
pub(crate) fn batches<T>(items: Vec<T>, budget: usize, size: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut used = 0;
    for item in items {
        let s = size(&item);
        if !cur.is_empty() && used + s > budget {
            out.push(core::mem::take(&mut cur));
            used = 0;
        }
        used += s;
        cur.push(item);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Ed25519;

    /// Records encode as they did with a `BTreeMap` of metadata and a `BTreeSet` of
    /// topics, so the signatures of members running the one cover the encoding of the
    /// other; keys out of order or repeated, which no owner signs, do not decode.
    #[test]
    fn records_encode_as_with_ordered_trees() {
        use alloc::collections::{BTreeMap, BTreeSet};
        #[derive(Serialize, Deserialize)]
        struct TreeRecord {
            id: PeerId,
            incarnation: u64,
            version: u64,
            meta: BTreeMap<String, MetaEntry>,
            topics: BTreeSet<String>,
            leaving: bool,
        }
        let a = Identity::from_secret([3; 32]);
        let mut r = record_with_meta(a.id(), 2, 7, &[("name", "a"), ("color", "blue")]);
        for t in ["zeta", "alpha", "chat"] {
            r.topics.insert(t.into(), ());
        }
        let tree = TreeRecord {
            id: r.id,
            incarnation: 2,
            version: 7,
            meta: r.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            topics: r.topics.keys().cloned().collect(),
            leaving: false,
        };
        let bytes = postcard::to_allocvec(&r).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&tree).unwrap());
        let back: Record = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            back.topics.keys().map(String::as_str).collect::<Vec<_>>(),
            ["alpha", "chat", "zeta"]
        );

        // Keys out of order or repeated on the wire are refused (they could not verify).
        let encode = |meta: &[&str], topics: &[&str]| {
            let mut bytes = postcard::to_allocvec(&(a.id(), 2u64, 7u64)).unwrap();
            let meta: Vec<(&str, MetaEntry)> = meta
                .iter()
                .map(|k| {
                    (
                        *k,
                        MetaEntry {
                            value: "v".into(),
                            version: 7,
                        },
                    )
                })
                .collect();
            bytes.extend(postcard::to_allocvec(&meta).unwrap());
            bytes.extend(postcard::to_allocvec(&(topics, false)).unwrap());
            postcard::from_bytes::<Record>(&bytes)
        };
        assert!(encode(&["color", "name"], &["a", "b"]).is_ok());
        assert!(encode(&["name", "color"], &["a", "b"]).is_err());
        assert!(encode(&["color", "color"], &["a", "b"]).is_err());
        assert!(encode(&["color", "name"], &["b", "a"]).is_err());
        assert!(encode(&["color", "name"], &["a", "a"]).is_err());
        // A count claiming billions of keys reserves no more than a few.
        let mut huge = postcard::to_allocvec(&(a.id(), 2u64, 7u64)).unwrap();
        huge.extend(postcard::to_allocvec(&u32::MAX).unwrap());
        assert!(postcard::from_bytes::<Record>(&huge).is_err());
    }

    #[test]
    fn signatures_bind_content_and_owner() {
        let a = Identity::from_secret([3; 32]);
        let b = Identity::from_secret([4; 32]);
        let signed = SignedRecord::sign(record_with_meta(a.id(), 0, 1, &[("name", "a")]), &a);
        assert!(signed.verify(&Ed25519));

        let mut tampered = signed.clone();
        tampered.record.meta.get_mut("name").unwrap().value = "evil".into();
        assert!(!tampered.verify(&Ed25519));

        // b signs a record claiming to be a.
        let forged = SignedRecord::sign(record_with_meta(a.id(), 0, 2, &[]), &b);
        assert!(!forged.verify(&Ed25519));
    }

    #[test]
    fn digest_order() {
        let id = PeerId([1; 32]);
        let d = |inc, ver, rank| Digest {
            id,
            incarnation: inc,
            version: ver,
            rank,
        };
        assert!(d(0, 2, 0).has_news_for(&d(0, 1, 0)));
        assert!(d(1, 0, 0).has_news_for(&d(0, 9, 2)));
        assert!(d(0, 1, 1).has_news_for(&d(0, 2, 0)));
        assert!(d(0, 2, 0).has_news_for(&d(0, 1, 1)));
        assert!(!d(0, 1, 0).has_news_for(&d(0, 1, 0)));
        assert_ne!(d(0, 1, 0).hash(), d(0, 1, 1).hash());
    }

    #[test]
    fn batches_respect_budget() {
        let b = batches(vec![5, 5, 5, 20, 1], 10, |x| *x);
        assert_eq!(b, vec![vec![5, 5], vec![5], vec![20], vec![1]]);
    }
}
