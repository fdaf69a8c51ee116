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
///
/// In a live delta, `minutes` carries only the buckets that changed since
/// the client's base; the client upserts them by `minute` and drops those
/// before `minutes_from`, the first bucket of the row's current window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvinceRow {
    pub code: String,
    pub name: String,
    pub accepted: u64,
    pub online: u64,
    #[serde(default)]
    pub minutes_from: String,
    pub minutes: Vec<MinuteCount>,
}

impl ProvinceRow {
    /// Apply a later version of this row whose `minutes` may be partial.
    pub fn merge(&mut self, later: ProvinceRow) {
        let mut buckets: std::collections::BTreeMap<String, MinuteCount> = self
            .minutes
            .drain(..)
            .chain(later.minutes)
            .map(|m| (m.minute.clone(), m))
            .collect();
        if !later.minutes_from.is_empty() {
            buckets = buckets.split_off(&later.minutes_from);
        }
        *self = ProvinceRow {
            minutes: buckets.into_values().collect(),
            ..later
        };
    }
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
