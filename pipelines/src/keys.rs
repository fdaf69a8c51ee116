//! Hash keys, and hash containers over them that do not hash a second time.
//!
//! The event log's dedup set keys (source, event_id) by a 128-bit
//! [`pair_key`]: a fixed 16 bytes an entry instead of two heap strings, and
//! at a billion keys the chance of any collision is about 1e-21. The KPI
//! engine keys each unit's dossiers by the 64-bit [`str_key`] of the id and
//! checks the stored id, so a collision is detected rather than merged.
//! The report's maps over plain number keys use foldhash ([`FastMap`]).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The key of the pair `(a, b)`: xxh3-128 of `a`, a separator byte that
/// cannot occur in UTF-8, and `b`.
pub fn pair_key(a: &str, b: &str) -> u128 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(a.as_bytes());
    h.update(&[0xff]);
    h.update(b.as_bytes());
    h.digest128()
}

/// Hashes a key by taking its low bits: the keys are already xxh3 hashes,
/// so hashing them again (SipHash) only costs time.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u128` is used; fold anything else in for safety.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }
    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// The 64-bit key of one string (xxh3), for maps that also keep the
/// string and check it, so a collision is detected rather than merged.
pub fn str_key(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// A map keyed by [`str_key`]s.
pub type StrKeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// A set of [`pair_key`]s.
pub type KeySet = HashSet<u128, BuildHasherDefault<KeyHasher>>;

/// A map over small plain keys (unit indexes, hours, breakdown codes),
/// hashed with foldhash instead of SipHash: the report and the merge of
/// the workers' sums look up every hour of every unit, and the keys come
/// from our own fold, not from a client that could pick collisions.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_separator_keeps_pairs_apart() {
        assert_ne!(pair_key("ab", "c"), pair_key("a", "bc"));
        assert_eq!(pair_key("00070", "D1"), pair_key("00070", "D1"));
        let mut set = KeySet::default();
        assert!(set.insert(pair_key("s", "1")));
        assert!(!set.insert(pair_key("s", "1")));
    }
}
