//! Hash keys, and hash containers over them that do not hash a second time.
//!
//! The event log's dedup set keys (source, event_id) by a 128-bit
//! [`pair_key`]: a fixed 16 bytes an entry instead of two heap strings, and
//! at a billion keys the chance of any collision is about 1e-21. The KPI
//! engine keys each unit's dossiers by the 64-bit [`str_key`] of the id in a
//! [`KeyTable`] and checks the stored id, so a collision is detected rather
//! than merged.
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
}

/// The 64-bit key of one string (xxh3), for maps that also keep the
/// string and check it, so a collision is detected rather than merged.
pub fn str_key(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// A map from [`str_key`]s to values, open-addressed (linear probing from
/// the key's low bits) with the keys in an array of their own and the
/// values in another at the same positions. Unlike a `HashMap`, a lookup
/// can be prepared ahead of time: [`KeyTable::touch`] reads a key's home
/// among the keys, [`KeyTable::touch_value`] then finds its slot (among
/// keys now in the cache) and reads the value there. A caller that
/// touches a block of keys, then their values, then looks them up has
/// each round's cache misses in flight together instead of one after
/// another: the dossier table's lookups land all over a national backlog,
/// and waiting on memory was most of their time. Probing the keys alone
/// keeps the runs short in cache lines (eight keys to a line), so the
/// table can be seven-eighths full, as dense as a `HashMap`.
///
/// Key 0 marks a free slot, so it is taken as key 1: the two are one key.
/// (For ids under [`str_key`] that is one more hash collision in 2^64,
/// which the dossier table detects like any other by checking the id.)
#[derive(Debug, Clone)]
pub struct KeyTable<V> {
    /// A power of two of slots, or none; 0 for a free one.
    keys: Vec<u64>,
    /// The value of each taken slot; `None` where the key is 0.
    values: Vec<Option<V>>,
    len: usize,
}

impl<V> Default for KeyTable<V> {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            values: Vec::new(),
            len: 0,
        }
    }
}

/// `key` as stored ([`KeyTable`]: 0 marks a free slot).
fn stored(key: u64) -> u64 {
    key.max(1)
}

impl<V> KeyTable<V> {
    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slot a key's probe starts at (0 when there are no slots).
    fn home(&self, key: u64) -> usize {
        key as usize & self.keys.len().wrapping_sub(1)
    }

    /// The position of stored `key`'s slot, or of the free slot where it
    /// would go; `None` when there are no slots.
    fn find(&self, key: u64) -> Option<usize> {
        if self.keys.is_empty() {
            return None;
        }
        let mask = self.keys.len() - 1;
        let mut i = self.home(key);
        // The table is never full ([`Self::grow_for_one`]), so a free slot
        // ends every probe.
        loop {
            let k = self.keys[i];
            if k == 0 || k == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Read the keys `key`'s probe starts at, so that a lookup soon after
    /// finds them in the cache. The result means nothing; pass it to
    /// `black_box` so the load is kept.
    pub fn touch(&self, key: u64) -> u64 {
        self.keys.get(self.home(stored(key))).copied().unwrap_or(0)
    }

    /// Find `key`'s slot and read what `part` reads of its value (or the
    /// free slot where it would go), so that a lookup or insertion soon
    /// after finds it in the cache. Best after [`Self::touch`]; the result
    /// means nothing, as there.
    pub fn touch_value(&self, key: u64, part: impl FnOnce(&V) -> u64) -> u64 {
        match self.find(stored(key)) {
            Some(i) => self.values[i].as_ref().map_or(0, part),
            None => 0,
        }
    }

    pub fn get(&self, key: u64) -> Option<&V> {
        self.find(stored(key)).and_then(|i| self.values[i].as_ref())
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        let i = self.find(stored(key))?;
        self.values[i].as_mut()
    }

    pub fn contains_key(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    /// A free slot taken for stored `key`, which is not in the table.
    fn claim(&mut self, key: u64) -> usize {
        self.grow_for_one();
        let i = self.find(key).unwrap_or_default();
        self.keys[i] = key;
        self.len += 1;
        i
    }

    /// The value of `key`, inserted from `make` if there is none. The
    /// table grows only for a new key, and only after `make` returned, so
    /// a panic in it leaves the table as it was.
    pub fn get_or_insert_with(&mut self, key: u64, make: impl FnOnce() -> V) -> &mut V {
        let key = stored(key);
        match self.find(key) {
            Some(i) if self.keys[i] == key => self.values[i].get_or_insert_with(make),
            _ => {
                let value = make();
                let i = self.claim(key);
                self.values[i].insert(value)
            }
        }
    }

    /// Put `value` under `key`, returning the value it replaces.
    pub fn insert(&mut self, key: u64, value: V) -> Option<V> {
        let key = stored(key);
        match self.find(key) {
            Some(i) if self.keys[i] == key => self.values[i].replace(value),
            _ => {
                let i = self.claim(key);
                self.values[i] = Some(value);
                None
            }
        }
    }

    /// Keep the entries `keep` admits (it may change them). Every entry is
    /// judged before any is removed, so a panic in `keep` leaves every
    /// entry findable. A removal leaves holes in the probe runs, so the
    /// table is then rebuilt: at its size, or smaller once less than a
    /// quarter of it is left, so that memory follows the entries down
    /// without a table that is nearly full right after.
    pub fn retain(&mut self, mut keep: impl FnMut(u64, &mut V) -> bool) {
        let gone: Vec<usize> = (0..self.keys.len())
            .filter(|&i| match &mut self.values[i] {
                Some(v) => !keep(self.keys[i], v),
                None => false,
            })
            .collect();
        if gone.is_empty() {
            return;
        }
        for i in gone {
            (self.keys[i], self.values[i]) = (0, None);
            self.len -= 1;
        }
        let slots = if self.len < self.keys.len() / 4 {
            Self::slots_for(self.len)
        } else {
            self.keys.len()
        };
        self.resize(slots);
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.values.iter().flatten()
    }

    /// Every entry, moved out.
    pub fn into_entries(self) -> impl Iterator<Item = (u64, V)> {
        self.keys
            .into_iter()
            .zip(self.values)
            .filter_map(|(k, v)| v.map(|v| (k, v)))
    }

    /// The slots for `n` entries, at most seven eighths taken.
    fn slots_for(n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (n * 8).div_ceil(7).next_power_of_two().max(8)
        }
    }

    /// Room for one more entry ([`Self::slots_for`]).
    fn grow_for_one(&mut self) {
        if (self.len + 1) * 8 > self.keys.len() * 7 {
            self.resize((self.keys.len() * 2).max(8));
        }
    }

    fn resize(&mut self, slots: usize) {
        let keys = std::mem::replace(&mut self.keys, vec![0; slots]);
        let values = std::mem::replace(&mut self.values, (0..slots).map(|_| None).collect());
        self.len = 0;
        for (k, v) in keys.into_iter().zip(values) {
            if let Some(v) = v {
                let i = self.find(k).unwrap_or_default();
                (self.keys[i], self.values[i]) = (k, Some(v));
                self.len += 1;
            }
        }
    }
}

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
    fn a_key_table_is_a_map() {
        let mut t: KeyTable<u32> = KeyTable::default();
        assert_eq!((t.len(), t.get(7), t.touch(7)), (0, None, 0));
        assert_eq!(t.touch_value(7, |v| u64::from(*v)), 0);
        // Keys that share their low bits probe past each other.
        let keys: Vec<u64> = (0..1000u64).map(|i| ((i + 1) << 20) | (i % 3)).collect();
        for (n, &k) in keys.iter().enumerate() {
            assert_eq!(*t.get_or_insert_with(k, || n as u32), n as u32);
            assert_eq!(
                *t.get_or_insert_with(k, || 9_999),
                n as u32,
                "found, not made"
            );
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(t.insert(keys[5], 55), Some(5));
        assert_eq!(t.insert(3, 3), None);
        assert_eq!(t.len(), 1001);
        assert!(t.contains_key(keys[999]) && !t.contains_key(4));
        // Any key may be touched, in the table or not.
        for k in 0..5_000 {
            std::hint::black_box(t.touch(k) ^ t.touch_value(k, |v| u64::from(*v)));
        }
        t.retain(|k, v| {
            *v += 1;
            k % 2 == 0
        });
        let mut left: Vec<(u64, u32)> = t.clone().into_entries().collect();
        left.sort_unstable();
        let mut want: Vec<(u64, u32)> = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| *k % 2 == 0)
            .map(|(n, k)| (*k, if n == 5 { 56 } else { n as u32 + 1 }))
            .collect();
        want.sort_unstable();
        assert_eq!(left, want);
        assert_eq!(t.len(), want.len());
        assert_eq!(t.values().count(), want.len());
        assert_eq!(t.get(keys[1]), None, "odd keys are gone");
        let mut again: KeyTable<u32> = KeyTable::default();
        for (k, v) in t.clone().into_entries() {
            again.insert(k, v);
        }
        assert_eq!(again.len(), t.len());
        assert!(want.iter().all(|(k, v)| again.get(*k) == Some(v)));
        // A key that is there never grows the table; a new one at seven
        // eighths does.
        let mut f: KeyTable<u32> = KeyTable::default();
        for k in 1..=7u64 {
            f.insert(k << 8, k as u32);
        }
        assert_eq!(f.keys.len(), 8);
        assert_eq!(*f.get_or_insert_with(3 << 8, || 0), 3);
        assert_eq!(f.insert(5 << 8, 50), Some(5));
        assert_eq!(f.keys.len(), 8, "found, not grown");
        f.insert(8 << 8, 8);
        assert_eq!(f.keys.len(), 16);
        // Removing a few keeps the size; removing most shrinks it.
        f.retain(|k, _| k != 8 << 8);
        assert_eq!((f.len(), f.keys.len()), (7, 16));
        f.retain(|k, _| k <= 2 << 8);
        assert_eq!((f.len(), f.keys.len()), (2, 8));
        // A panic while judging leaves every entry where it was.
        let mut hit = again.clone();
        let judged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut n = 0;
            hit.retain(|_, _| {
                n += 1;
                assert!(n < 10, "a bug in keep");
                n % 2 == 0
            })
        }));
        assert!(judged.is_err());
        assert_eq!(hit.len(), again.len());
        assert!(want.iter().all(|(k, v)| hit.get(*k) == Some(v)));
        // 0 marks a free slot: key 0 is key 1.
        let mut z: KeyTable<u32> = KeyTable::default();
        assert_eq!(z.insert(0, 7), None);
        assert_eq!(z.get(1), Some(&7));
        assert_eq!((z.insert(1, 8), z.len()), (Some(7), 1));
    }

    #[test]
    fn the_separator_keeps_pairs_apart() {
        assert_ne!(pair_key("ab", "c"), pair_key("a", "bc"));
        assert_eq!(pair_key("00070", "D1"), pair_key("00070", "D1"));
        let mut set = KeySet::default();
        assert!(set.insert(pair_key("s", "1")));
        assert!(!set.insert(pair_key("s", "1")));
    }
}
