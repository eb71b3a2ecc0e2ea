//! Identities: ed25519 key pairs, the [`PeerId`] derived from them, and signature checks.

use alloc::sync::Arc;
use core::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::record::SignedRecord;

/// A member's identity on the wire and in every view: its ed25519 public key.
///
/// Ordering is byte order; glare between two dialers is resolved by it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PeerId(pub [u8; 32]);

impl PeerId {
    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first eight bytes as a number; a cheap, well-spread key for hashing and bucketing.
    pub(crate) fn prefix_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(b)
    }

    /// Full lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters back into an id.
    pub fn from_hex(s: &str) -> Option<PeerId> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(PeerId(out))
    }
}

/// Short form for logs and UIs: the first ten hex digits.
impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..5] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

/// An ed25519 signature, stored as two 32-byte halves (serde writes arrays up to 32).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Signature(pub [[u8; 32]; 2]);

impl Signature {
    /// The 64 signature bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.0[0]);
        out[32..].copy_from_slice(&self.0[1]);
        out
    }

    /// A signature from its 64 bytes (as produced by [`Signature::to_bytes`]).
    pub fn from_bytes(b: [u8; 64]) -> Self {
        let mut s = [[0u8; 32]; 2];
        s[0].copy_from_slice(&b[..32]);
        s[1].copy_from_slice(&b[32..]);
        Signature(s)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(")?;
        for b in &self.0[0][..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// 32 bytes as serde writes a `[u8; 32]` (a tuple of 32 numbers; in the wire encoding the
/// bytes themselves), read in a loop: serde's own reader for arrays is unrolled per
/// element, 2 KB of code in the browser package for the same result.
struct Bytes32([u8; 32]);

impl<'de> Deserialize<'de> for Bytes32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Elements;
        impl<'de> Visitor<'de> for Elements {
            type Value = Bytes32;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("32 bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes32, A::Error> {
                let mut out = [0u8; 32];
                for (i, byte) in out.iter_mut().enumerate() {
                    *byte = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(Bytes32(out))
            }
        }
        deserializer.deserialize_tuple(32, Elements)
    }
}

/// Read as the derived impl would (a newtype is transparent to the formats used).
impl<'de> Deserialize<'de> for PeerId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Bytes32::deserialize(deserializer).map(|b| PeerId(b.0))
    }
}

/// Read as the derived impl would: a tuple of two [`Bytes32`].
impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (first, second) = <(Bytes32, Bytes32)>::deserialize(deserializer)?;
        Ok(Signature([first.0, second.0]))
    }
}

/// A node's secret key. Drivers create it from 32 random bytes (or a stored secret,
/// to keep the same [`PeerId`] across restarts).
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl Identity {
    /// The identity whose secret key is `secret`.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Identity {
            key: SigningKey::from_bytes(&secret),
        }
    }

    /// The secret bytes, for drivers that persist the identity.
    pub fn secret(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The public id other members know this node by.
    pub fn id(&self) -> PeerId {
        PeerId(self.key.verifying_key().to_bytes())
    }

    /// Signs `msg` with this identity's key.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature::from_bytes(self.key.sign(msg).to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.id())
    }
}

/// Checks signatures for the node. The default is plain ed25519; a simulator may share a
/// memoizing checker between thousands of nodes, since the answer depends only on the inputs.
pub trait Verify: Send {
    /// True when `sig` is `id`'s valid signature over `msg`.
    fn verify(&self, id: &PeerId, msg: &[u8], sig: &Signature) -> bool;

    /// Called with each member record whose signature checked out, just before the node
    /// stores it; the node stores what this returns, which must be equal to `verified`.
    /// The default returns `verified` itself. A process that runs many nodes (the
    /// simulator) can return one shared copy per record, so that a record is held once
    /// however many of its nodes know the member.
    fn share(&self, verified: Arc<SignedRecord>) -> Arc<SignedRecord> {
        verified
    }
}

/// Strict ed25519 verification (rejects weak keys and malleable signatures).
#[derive(Debug, Default, Clone, Copy)]
pub struct Ed25519;

impl Verify for Ed25519 {
    fn verify(&self, id: &PeerId, msg: &[u8], sig: &Signature) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&id.0) else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&sig.to_bytes());
        key.verify_strict(msg, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let a = Identity::from_secret([1; 32]);
        let b = Identity::from_secret([2; 32]);
        let sig = a.sign(b"hello");
        assert!(Ed25519.verify(&a.id(), b"hello", &sig));
        assert!(!Ed25519.verify(&a.id(), b"hellO", &sig));
        assert!(!Ed25519.verify(&b.id(), b"hello", &sig));
    }

    #[test]
    fn hex_round_trip_and_short_display() {
        let id = Identity::from_secret([9; 32]).id();
        assert_eq!(PeerId::from_hex(&id.to_hex()), Some(id));
        assert_eq!(id.to_string().len(), 10);
        assert_eq!(PeerId::from_hex("zz"), None);
        assert_eq!(PeerId::from_hex(&"g".repeat(64)), None);
        assert_eq!(PeerId::from_hex(&id.to_hex().to_uppercase()), Some(id));
        assert_eq!(PeerId::from_hex(&id.to_hex()[..62]), None);
    }

    /// The written-out readers take exactly what serde's array writer puts out.
    #[test]
    fn ids_and_signatures_read_back_in_the_wire_encoding() {
        let a = Identity::from_secret([3; 32]);
        let sig = a.sign(b"x");
        let pair = (a.id(), sig);
        let bytes = postcard::to_allocvec(&pair).unwrap();
        assert_eq!(bytes.len(), 32 + 64, "raw bytes, no lengths");
        assert_eq!(&bytes[..32], a.id().as_bytes());
        assert_eq!(&bytes[32..], &sig.to_bytes()[..]);
        assert_eq!(
            postcard::from_bytes::<(PeerId, Signature)>(&bytes).unwrap(),
            pair
        );
        assert!(postcard::from_bytes::<Signature>(&bytes[..63]).is_err());
        assert!(postcard::from_bytes::<PeerId>(&bytes[..31]).is_err());
    }
}
