//! KPI rows as the engine emits them and the dashboard shows them.

use serde::{Deserialize, Serialize};

/// Accepted and online dossiers of one unit in one one-minute event-time
/// bucket. `minute` is the bucket start as RFC 3339 in UTC+7.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCount {
    pub minute: String,
    pub accepted: u64,
    pub online: u64,
    /// How many times late events changed this bucket after it was final
    /// (after the global watermark had passed its end): each such change
    /// reached clients as a correction. Absent when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub corrections: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One province in the overview: totals over everything the engine holds,
/// and the most recent minute buckets, newest last.
///
/// In a live delta, `minutes` carries only the buckets that changed since
/// the client's base; the client upserts them by `minute` and drops those
/// before `minutes_from`, the first bucket of the row's current window.
///
/// Buckets that end at or before `final_before` (the engine's global
/// watermark, RFC 3339 in UTC+7) are final; later ones are early results
/// that may still grow. A late event that lands in a final bucket is a
/// correction: the bucket's `corrections` goes up and the row's
/// `corrections` counts every such change since the log began.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvinceRow {
    pub code: String,
    pub name: String,
    pub accepted: u64,
    pub online: u64,
    #[serde(default)]
    pub minutes_from: String,
    pub minutes: Vec<MinuteCount>,
    #[serde(default)]
    pub final_before: String,
    #[serde(default)]
    pub corrections: u64,
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

impl MinuteCount {
    /// Whether the bucket is final: it ends at or before `final_before`.
    /// Both are RFC 3339 in the same offset, so text order is time order.
    pub fn is_final(&self, final_before: &str) -> bool {
        !final_before.is_empty()
            && self.minute.len() == final_before.len()
            && bucket_end(&self.minute).is_some_and(|end| end.as_str() <= final_before)
    }
}

/// The end of the minute bucket starting at `minute` (RFC 3339), as text in
/// the same offset; `None` when `minute` is not in that form.
fn bucket_end(minute: &str) -> Option<String> {
    // "YYYY-MM-DDTHH:MM:SS+07:00": add one minute without a time library
    // (the model compiles to wasm32 and stays small).
    let (h, m) = (minute.get(11..13)?, minute.get(14..16)?);
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if m < 59 {
        return Some(format!("{}{:02}{}", &minute[..14], m + 1, &minute[16..]));
    }
    if h < 23 {
        return Some(format!("{}{:02}:00{}", &minute[..11], h + 1, &minute[16..]));
    }
    // 23:59: the next day's 00:00 sorts after any time of this day, and
    // before any later day, as the next day's text would.
    Some(format!("{}24:00{}", &minute[..11], &minute[16..]))
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
    fn a_bucket_is_final_once_the_watermark_passes_its_end() {
        let m = |minute: &str| MinuteCount {
            minute: minute.into(),
            accepted: 1,
            online: 1,
            corrections: 0,
        };
        let wm = "2025-11-20T08:01:00+07:00";
        assert!(m("2025-11-20T08:00:00+07:00").is_final(wm));
        assert!(!m("2025-11-20T08:01:00+07:00").is_final(wm));
        assert!(!m("2025-11-20T08:00:00+07:00").is_final(""));
        assert!(m("2025-11-20T07:59:00+07:00").is_final(wm));
        assert!(m("2025-11-19T23:59:00+07:00").is_final("2025-11-20T00:00:00+07:00"));
        assert!(!m("2025-11-19T23:59:00+07:00").is_final("2025-11-19T23:59:30+07:00"));
        assert!(m("2025-11-19T23:59:00+07:00").is_final("2025-11-20T00:00:30+07:00"));
        // No `corrections` on the wire when there are none.
        let json = serde_json::to_string(&m("2025-11-20T08:00:00+07:00")).unwrap();
        assert!(!json.contains("corrections"), "{json}");
    }

    #[test]
    fn percent_is_undefined_without_a_denominator() {
        assert_eq!(pct(0, 0), None);
        assert_eq!(pct(1, 4), Some(25.0));
    }
}
