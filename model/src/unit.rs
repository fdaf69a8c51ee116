//! Unit codes: GSO province (2 digits) and commune (5 digits) codes, and
//! ministry short codes (2–8 upper-case ASCII letters, as in
//! `ministries-2025.csv`). Parsing checks the shape only; whether a code
//! exists is the unit registry's job (`pipelines::units`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The level a unit code belongs to, read from its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitLevel {
    Nation,
    Province,
    Commune,
    Ministry,
}

/// A syntactically valid unit code: at most 8 ASCII bytes, held inline (a
/// code is copied into every event; no allocation for it).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitCode {
    len: u8,
    bytes: [u8; 8],
}

impl fmt::Debug for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UnitCode").field(&self.as_str()).finish()
    }
}

/// Codes order as their text.
impl Ord for UnitCode {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for UnitCode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a string is not a unit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitCodeError(pub String);

impl fmt::Display for UnitCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a unit code (2-digit province, 5-digit commune or ministry letters)",
            self.0
        )
    }
}

impl std::error::Error for UnitCodeError {}

impl UnitCode {
    /// The national root of the hierarchy.
    pub const NATION: &'static str = "VN";

    pub fn parse(s: &str) -> Result<Self, UnitCodeError> {
        let digits = s.bytes().all(|b| b.is_ascii_digit());
        let letters = s.bytes().all(|b| b.is_ascii_uppercase());
        let ok =
            (digits && (s.len() == 2 || s.len() == 5)) || (letters && (2..=8).contains(&s.len()));
        if ok {
            Ok(Self::inline(s))
        } else {
            Err(UnitCodeError(s.to_owned()))
        }
    }

    pub fn nation() -> Self {
        Self::inline(Self::NATION)
    }

    /// `s` is a checked code: ASCII, at most 8 bytes.
    fn inline(s: &str) -> Self {
        let mut bytes = [0u8; 8];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Self {
            len: s.len() as u8,
            bytes,
        }
    }

    /// The code's bytes as one number, little-endian and zero padded:
    /// distinct codes give distinct keys. The unit registry is indexed by
    /// it, so a parsed code is looked up without reading its text again.
    pub fn key(&self) -> u64 {
        u64::from_le_bytes(self.bytes)
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from checked ASCII codes.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    pub fn level(&self) -> UnitLevel {
        match self.as_str().as_bytes() {
            b"VN" => UnitLevel::Nation,
            [a, _] if a.is_ascii_digit() => UnitLevel::Province,
            [a, ..] if a.is_ascii_digit() => UnitLevel::Commune,
            _ => UnitLevel::Ministry,
        }
    }
}

impl TryFrom<String> for UnitCode {
    type Error = UnitCodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<UnitCode> for String {
    fn from(c: UnitCode) -> Self {
        c.as_str().to_owned()
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_code_shape() {
        assert_eq!(UnitCode::parse("01").unwrap().level(), UnitLevel::Province);
        assert_eq!(
            UnitCode::parse("00070").unwrap().level(),
            UnitLevel::Commune
        );
        assert_eq!(UnitCode::parse("BCA").unwrap().level(), UnitLevel::Ministry);
        assert_eq!(UnitCode::nation().level(), UnitLevel::Nation);
    }

    #[test]
    fn codes_are_held_inline_and_order_as_text() {
        let mut codes: Vec<UnitCode> = ["79", "00070", "BQP", "01", "VN", "BCAXYZAB"]
            .iter()
            .map(|c| UnitCode::parse(c).unwrap())
            .collect();
        codes.sort();
        let text: Vec<&str> = codes.iter().map(UnitCode::as_str).collect();
        assert_eq!(text, ["00070", "01", "79", "BCAXYZAB", "BQP", "VN"]);
        let json = serde_json::to_string(&codes[0]).unwrap();
        assert_eq!(json, "\"00070\"");
        assert_eq!(serde_json::from_str::<UnitCode>(&json).unwrap(), codes[0]);
        assert!(serde_json::from_str::<UnitCode>("\"bad\"").is_err());
        assert_eq!(format!("{:?}", codes[0]), "UnitCode(\"00070\")");
        assert!(std::mem::size_of::<UnitCode>() <= 9);
    }

    #[test]
    fn malformed_codes_are_refused() {
        for bad in [
            "",
            "1",
            "123",
            "0007",
            "000700",
            "bca",
            "B1",
            "TOOLONGXY",
            "01 ",
        ] {
            assert!(UnitCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
