//! Reference data and sample events, embedded in the binary.
//!
//! ```text
//!  reference/*.csv ──► pipelines::units (registry: code → name, parent)
//!  demo/*.ndjson   ──► govpulse serve (embedded default stream)
//! ```
//!
//! The reference files are copied as they are from the project's shared
//! reference folder (GSO codes after the 1 July 2025 reorganisation; the 17
//! ministries and ministerial-level agencies of Resolution 176/2025/QH15), so
//! the project never reads files outside its own tree at run time.

/// 34 provinces and 3,321 communes: `level,code,name,codename,division_type,parent_code`.
pub const ADMINISTRATIVE_UNITS_CSV: &str =
    include_str!("../reference/administrative-units-2025.csv");

/// 14 ministries and 3 ministerial-level agencies: `code,name_vi,name_en,kind`.
pub const MINISTRIES_CSV: &str = include_str!("../reference/ministries-2025.csv");

/// The embedded default stream of `govpulse serve`: 120 dossiers in ten
/// provinces, each submitted then accepted (made by `tools/make_slice.py`).
pub const DEMO_SLICE_NDJSON: &str = include_str!("../demo/slice.ndjson");

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
}
