//! The procedure catalogue (`reference/procedures.csv`): national-style
//! codes, names, level, legal handling time in working days, fee and
//! full-online availability.

use crate::{ReferenceError, Result};

/// Which tier handles a procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Commune,
    Province,
    Ministry,
}

/// One administrative procedure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Procedure {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub handling_days: u32,
    pub fee: bool,
    pub full_online: bool,
    pub field: String,
    /// Whether the code/name pairing is a real national one (see PROVENANCE.md).
    pub real: bool,
}

/// All procedures, in file order.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub procedures: Vec<Procedure>,
}

impl Catalogue {
    pub fn embedded() -> Result<Self> {
        Self::from_csv(crate::PROCEDURES_CSV)
    }

    pub fn from_csv(text: &str) -> Result<Self> {
        let file = "procedures.csv";
        let mut procedures = Vec::new();
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        for (i, rec) in rdr.records().enumerate() {
            let bad = |message: String| ReferenceError {
                file,
                message: format!("row {}: {message}", i + 2),
            };
            let rec = rec.map_err(|e| bad(e.to_string()))?;
            let f = |n: usize| rec.get(n).unwrap_or_default();
            let flag = |n: usize| match f(n) {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(bad(format!("column {n}: {other:?} is not true/false"))),
            };
            let level = match f(2) {
                "commune" => Level::Commune,
                "province" => Level::Province,
                "ministry" => Level::Ministry,
                other => return Err(bad(format!("level {other:?}"))),
            };
            procedures.push(Procedure {
                code: f(0).to_owned(),
                name: f(1).to_owned(),
                level,
                handling_days: f(3)
                    .parse()
                    .map_err(|e| bad(format!("handling_days: {e}")))?,
                fee: flag(4)?,
                full_online: flag(5)?,
                field: f(6).to_owned(),
                real: flag(7)?,
            });
        }
        Ok(Self { procedures })
    }

    pub fn by_level(&self, level: Level) -> Vec<&Procedure> {
        self.procedures
            .iter()
            .filter(|p| p.level == level)
            .collect()
    }

    pub fn get(&self, code: &str) -> Option<&Procedure> {
        self.procedures.iter().find(|p| p.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_covers_every_level_with_national_codes() {
        let c = Catalogue::embedded().unwrap();
        assert!(c.procedures.len() >= 300);
        for level in [Level::Commune, Level::Province, Level::Ministry] {
            assert!(c.by_level(level).len() >= 50, "{level:?}");
        }
        let mut codes: Vec<_> = c.procedures.iter().map(|p| p.code.as_str()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), c.procedures.len(), "codes are unique");
        assert!(c.procedures.iter().all(|p| {
            let b = p.code.as_bytes();
            b.len() == 8
                && b[1] == b'.'
                && b.iter()
                    .enumerate()
                    .all(|(i, c)| i == 1 || c.is_ascii_digit())
        }));
        assert_eq!(
            c.get("1.001193").map(|p| p.name.as_str()),
            Some("Đăng ký khai sinh")
        );
    }
}
