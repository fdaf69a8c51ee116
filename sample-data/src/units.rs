//! The unit registry: every unit code the project knows, its name and its
//! parent. Loaded once from the embedded reference files.

use crate::{ReferenceError as Error, Result};
use model::{UnitCode, UnitLevel};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// One administrative unit or ministry.
#[derive(Debug, Clone)]
pub struct Unit {
    pub code: UnitCode,
    pub name: String,
    /// The province of a commune; `None` for provinces and ministries.
    pub parent: Option<UnitCode>,
}

/// Code → unit, for the 34 provinces, 3,321 communes and 17 ministries.
/// Each unit also has a dense index (`0..len`, in code order), so state
/// keyed by unit can hold a `u32` instead of a string.
#[derive(Debug, Clone, Default)]
pub struct UnitRegistry {
    /// Dense index by [`code_key`].
    units: HashMap<u64, u32, BuildHasherDefault<CodeHasher>>,
    list: Vec<Unit>,
}

/// A unit code as one number: its (at most 8) bytes, little-endian, zero
/// padded. Codes hold no NUL bytes, so distinct codes give distinct keys;
/// anything longer, empty or holding a NUL is no code (`None`). Looked up
/// for every event, a key is hashed in two instructions and compared in
/// one, where a string map hashes byte by byte and compares with memcmp.
fn code_key(code: &str) -> Option<u64> {
    let b = code.as_bytes();
    if b.is_empty() || b.len() > 8 || b.contains(&0) {
        return None;
    }
    let mut bytes = [0u8; 8];
    bytes[..b.len()].copy_from_slice(b);
    Some(u64::from_le_bytes(bytes))
}

/// Hashes a [`code_key`]: a multiply to spread the bytes, and the high
/// half folded into the low half (hash tables pick buckets by the low
/// bits). The key set is fixed (the reference data), so lookups of
/// untrusted codes cannot degrade the table.
#[derive(Debug, Clone, Copy, Default)]
pub struct CodeHasher(u64);

impl Hasher for CodeHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in for safety.
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, key: u64) {
        let x = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 32);
    }
}

impl UnitRegistry {
    /// The registry of the embedded 2025 reference files.
    pub fn embedded() -> Result<Self> {
        Self::from_csv(crate::ADMINISTRATIVE_UNITS_CSV, crate::MINISTRIES_CSV)
    }

    pub fn from_csv(units_csv: &str, ministries_csv: &str) -> Result<Self> {
        let mut units = HashMap::new();
        let bad = |file, message: String| Error { file, message };
        let mut rdr = csv::Reader::from_reader(units_csv.as_bytes());
        for (i, rec) in rdr.records().enumerate() {
            let file = "administrative-units-2025.csv";
            let rec = rec.map_err(|e| bad(file, e.to_string()))?;
            let field = |n: usize| rec.get(n).unwrap_or_default();
            let code =
                UnitCode::parse(field(1)).map_err(|e| bad(file, format!("row {}: {e}", i + 2)))?;
            let parent = match field(5) {
                "" => None,
                p => {
                    Some(UnitCode::parse(p).map_err(|e| bad(file, format!("row {}: {e}", i + 2)))?)
                }
            };
            units.insert(
                code.as_str().to_owned(),
                Unit {
                    code,
                    name: field(2).to_owned(),
                    parent,
                },
            );
        }
        let mut rdr = csv::Reader::from_reader(ministries_csv.as_bytes());
        for (i, rec) in rdr.records().enumerate() {
            let file = "ministries-2025.csv";
            let rec = rec.map_err(|e| bad(file, e.to_string()))?;
            let code = UnitCode::parse(rec.get(0).unwrap_or_default())
                .map_err(|e| bad(file, format!("row {}: {e}", i + 2)))?;
            let name = rec.get(1).unwrap_or_default().to_owned();
            units.insert(
                code.as_str().to_owned(),
                Unit {
                    code,
                    name,
                    parent: None,
                },
            );
        }
        let mut list: Vec<Unit> = units.into_values().collect();
        list.sort_by(|a, b| a.code.cmp(&b.code));
        let units = list
            .iter()
            .enumerate()
            .filter_map(|(i, u)| Some((code_key(u.code.as_str())?, i as u32)))
            .collect();
        Ok(Self { units, list })
    }

    /// [`Self::index`] of a parsed code, whose key is built already: the
    /// form the engine uses for every event.
    pub fn index_of(&self, code: &UnitCode) -> Option<u32> {
        self.units.get(&code.key()).copied()
    }

    /// [`Self::top_unit`] of a parsed code.
    pub fn top_of<'a>(&'a self, code: &'a UnitCode) -> Option<&'a str> {
        let unit = &self.list[self.index_of(code)? as usize];
        Some(unit.parent.as_ref().map_or(code.as_str(), |p| p.as_str()))
    }

    pub fn get(&self, code: &str) -> Option<&Unit> {
        self.index(code).map(|i| &self.list[i as usize])
    }

    /// The dense index of a unit code.
    pub fn index(&self, code: &str) -> Option<u32> {
        self.units.get(&code_key(code)?).copied()
    }

    /// The unit at a dense index.
    pub fn at(&self, index: u32) -> Option<&Unit> {
        self.list.get(index as usize)
    }

    pub fn contains(&self, code: &str) -> bool {
        self.index(code).is_some()
    }

    /// The top of a unit's branch below the nation: a commune's province, or
    /// the unit itself for provinces and ministries.
    pub fn top_unit<'a>(&'a self, code: &'a str) -> Option<&'a str> {
        let unit = self.get(code)?;
        Some(unit.parent.as_ref().map_or(code, |p| p.as_str()))
    }

    /// Whether `unit` lies in the subtree of `scope`: the unit itself, a
    /// commune of a province, or anything at all under the nation.
    pub fn covers(&self, scope: &str, unit: &str) -> bool {
        scope == UnitCode::NATION
            || scope == unit
            || self
                .get(unit)
                .and_then(|u| u.parent.as_ref())
                .is_some_and(|p| p.as_str() == scope)
    }

    /// Display name of a unit code, or the code itself when unknown.
    pub fn name<'a>(&'a self, code: &'a str) -> &'a str {
        self.get(code).map_or(code, |u| u.name.as_str())
    }

    /// Units of one level, ordered by code (deterministic for generators).
    pub fn level(&self, level: UnitLevel) -> Vec<&Unit> {
        self.list
            .iter()
            .filter(|u| u.code.level() == level)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parsed_code_finds_what_its_text_finds() {
        let r = UnitRegistry::embedded().unwrap();
        for u in &r.list {
            let code = u.code.as_str();
            assert_eq!(code_key(code), Some(u.code.key()), "{code}");
            assert_eq!(r.index_of(&u.code), r.index(code), "{code}");
            assert_eq!(r.top_of(&u.code), r.top_unit(code), "{code}");
        }
        for other in ["99", "99999", "XYZ", "ABCDEFGH"] {
            let code = UnitCode::parse(other).unwrap();
            assert_eq!(r.index_of(&code), None, "{other}");
            assert_eq!(r.top_of(&code), None, "{other}");
        }
    }

    #[test]
    fn every_code_finds_its_unit_and_nothing_else_finds_one() {
        let r = UnitRegistry::embedded().unwrap();
        for i in 0..r.len() as u32 {
            let code = r.at(i).unwrap().code.as_str();
            assert_eq!(r.index(code), Some(i), "{code}");
            assert_eq!(r.get(code).unwrap().code.as_str(), code);
        }
        let first = r.at(0).unwrap().code.as_str().to_owned();
        for other in [
            String::new(),
            format!("{first}\0"),
            format!("\0{first}"),
            format!("{first} "),
            "123456789".into(),
            "BTCXXXXXX".into(),
            "0".into(),
        ] {
            assert!(!r.contains(&other), "{other:?}");
        }
    }

    #[test]
    fn embedded_registry_has_every_unit() {
        let r = UnitRegistry::embedded().unwrap();
        assert_eq!(r.level(UnitLevel::Province).len(), 34);
        assert_eq!(r.level(UnitLevel::Commune).len(), 3321);
        assert_eq!(r.level(UnitLevel::Ministry).len(), 17);
        assert_eq!(r.top_unit("00070"), Some("01"));
        assert_eq!(r.top_unit("79"), Some("79"));
        assert_eq!(r.name("BVHTTDL"), "Bộ Văn hóa, Thể thao và Du lịch");
        assert_eq!(r.top_unit("99999"), None);
    }
}
