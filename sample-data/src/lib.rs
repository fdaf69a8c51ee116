//! Reference data, the national event generator, and sample events.
//!
//! ```text
//!  reference/*.csv ──► units::UnitRegistry, catalogue::Catalogue, calendar()
//!                        │
//!                        ▼
//!  generator::Generator (seeded) ──► Record stream in arrival order
//!                        │              (govpulse generate, govpulse demo,
//!                        ▼               tests, benchmarks)
//!  demo/*.ndjson, golden/*  ──► govpulse serve's default stream, golden tests
//! ```
//!
//! The reference files are copied as they are from the project's shared
//! reference folder (GSO codes after the 1 July 2025 reorganisation; the 17
//! ministries and ministerial-level agencies of Resolution 176/2025/QH15), so
//! the project never reads files outside its own tree at run time. What is
//! real and what is illustrative is in `reference/PROVENANCE.md`.

pub mod catalogue;
pub mod generator;
pub mod rng;
pub mod units;

use chrono::NaiveDate;
use model::calendar::WorkCalendar;

/// 34 provinces and 3,321 communes: `level,code,name,codename,division_type,parent_code`.
pub const ADMINISTRATIVE_UNITS_CSV: &str =
    include_str!("../reference/administrative-units-2025.csv");

/// 14 ministries and 3 ministerial-level agencies: `code,name_vi,name_en,kind`.
pub const MINISTRIES_CSV: &str = include_str!("../reference/ministries-2025.csv");

/// Administrative procedures: `code,name_vi,level,handling_days,fee,full_online,field,real`.
pub const PROCEDURES_CSV: &str = include_str!("../reference/procedures.csv");

/// Public holidays (days off) 2024–2027: `date,name_vi,name_en,kind`.
pub const HOLIDAYS_CSV: &str = include_str!("../reference/holidays.csv");

/// Saturdays worked in exchange for a bridge day off (Ministry of Home
/// Affairs notices): 4 May 2024 for 2 May, 26 April 2025 for 2 May.
pub const MAKEUP_WORKING_DAYS: [&str; 2] = ["2024-05-04", "2025-04-26"];

/// The embedded default stream of `govpulse serve`: 120 dossiers in ten
/// provinces, each submitted then accepted (made by `tools/make_slice.py`).
pub const DEMO_SLICE_NDJSON: &str = include_str!("../demo/slice.ndjson");

/// A reference file that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError {
    pub file: &'static str,
    pub message: String,
}

impl std::fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "reference data {}: {}", self.file, self.message)
    }
}

impl std::error::Error for ReferenceError {}

pub type Result<T, E = ReferenceError> = std::result::Result<T, E>;

/// The working-time calendar with the embedded holiday table.
pub fn calendar() -> Result<WorkCalendar> {
    let file = "holidays.csv";
    let parse = |s: &str| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| ReferenceError {
            file,
            message: format!("{s:?}: {e}"),
        })
    };
    let mut holidays = Vec::new();
    let mut rdr = csv::Reader::from_reader(HOLIDAYS_CSV.as_bytes());
    for rec in rdr.records() {
        let rec = rec.map_err(|e| ReferenceError {
            file,
            message: e.to_string(),
        })?;
        holidays.push(parse(rec.get(0).unwrap_or_default())?);
    }
    let makeup = MAKEUP_WORKING_DAYS
        .iter()
        .map(|d| parse(d))
        .collect::<Result<Vec<_>>>()?;
    Ok(WorkCalendar::new(holidays, makeup))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_files_have_the_published_counts() {
        let rows = |level: &str| {
            ADMINISTRATIVE_UNITS_CSV
                .lines()
                .filter(|l| l.starts_with(&format!("{level},")))
                .count()
        };
        assert_eq!(rows("province"), 34);
        assert_eq!(rows("commune"), 3321);
        assert_eq!(MINISTRIES_CSV.lines().count(), 1 + 17);
    }

    #[test]
    fn the_calendar_knows_tet_and_makeup_saturdays() {
        let c = calendar().unwrap();
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(!c.is_working_day(d("2025-01-28")), "Tết 2025");
        assert!(c.is_working_day(d("2025-04-26")), "make-up Saturday");
        assert!(!c.is_working_day(d("2025-09-02")), "National Day");
        assert!(c.is_working_day(d("2025-11-20")));
    }
}
