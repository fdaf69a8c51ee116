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

/// A syntactically valid unit code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UnitCode(String);

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
            Ok(Self(s.to_owned()))
        } else {
            Err(UnitCodeError(s.to_owned()))
        }
    }

    pub fn nation() -> Self {
        Self(Self::NATION.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn level(&self) -> UnitLevel {
        match self.0.as_bytes() {
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
        c.0
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
