//! KPI rows as the engine emits them and the dashboard shows them.

use serde::{Deserialize, Serialize};

/// Accepted and online dossiers of one unit in one one-minute event-time
/// bucket. `minute` is the bucket start as RFC 3339 in UTC+7.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCount {
    pub minute: String,
    pub accepted: u64,
    pub online: u64,
}

/// One province in the overview: totals over everything the engine holds,
/// and the most recent minute buckets, newest last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvinceRow {
    pub code: String,
    pub name: String,
    pub accepted: u64,
    pub online: u64,
    pub minutes: Vec<MinuteCount>,
}

impl ProvinceRow {
    /// Online share in percent, `None` before anything was accepted.
    pub fn online_pct(&self) -> Option<f64> {
        pct(self.online, self.accepted)
    }
}

/// `num / den` in percent, `None` when the denominator is zero.
pub fn pct(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 * 100.0 / den as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_is_undefined_without_a_denominator() {
        assert_eq!(pct(0, 0), None);
        assert_eq!(pct(1, 4), Some(25.0));
    }
}
