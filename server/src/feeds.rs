//! Feed health per source (DESIGN.md, KPI "feed health"): events a minute,
//! age of the last event, lateness, rejected share. Kept in memory by the
//! ingest path since the server started; the totals in the log and the
//! rejected store are the durable truth.

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Feed {
    accepted: u64,
    duplicates: u64,
    rejected: u64,
    /// (when, accepted) of appends in the last minute.
    recent: VecDeque<(Instant, u64)>,
    last_received: Option<DateTime<Utc>>,
    newest_event: Option<DateTime<FixedOffset>>,
    /// Receive time minus event time of the newest event of the last batch.
    lateness_secs: Option<i64>,
}

/// One source's health, as served by `GET /api/v1/sources` and `/metrics`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FeedHealth {
    pub source: String,
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: u64,
    /// Rejected over (accepted + duplicates + rejected), in percent.
    pub rejected_pct: Option<f64>,
    pub events_last_minute: u64,
    pub last_received: Option<DateTime<Utc>>,
    /// Seconds since the last batch with an accepted event arrived.
    pub last_event_age_secs: Option<i64>,
    pub newest_event: Option<DateTime<FixedOffset>>,
    /// How far behind real time the newest event of the last batch was.
    pub lateness_secs: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Feeds {
    feeds: Mutex<HashMap<String, Feed>>,
}

impl Feeds {
    /// Count one append for `source`.
    pub fn record(
        &self,
        source: &str,
        accepted: usize,
        duplicates: usize,
        rejected: usize,
        newest: Option<DateTime<FixedOffset>>,
    ) {
        let now = Instant::now();
        let wall = Utc::now();
        let mut feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        let f = feeds.entry(source.to_owned()).or_default();
        f.accepted += accepted as u64;
        f.duplicates += duplicates as u64;
        f.rejected += rejected as u64;
        while f
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= MINUTE)
        {
            f.recent.pop_front();
        }
        if accepted > 0 {
            f.recent.push_back((now, accepted as u64));
            f.last_received = Some(wall);
            if let Some(n) = newest {
                f.newest_event = Some(f.newest_event.map_or(n, |o| o.max(n)));
                f.lateness_secs = Some((wall - n.with_timezone(&Utc)).num_seconds());
            }
        }
    }

    /// Every source seen since start, by name.
    pub fn health(&self) -> Vec<FeedHealth> {
        let now = Instant::now();
        let wall = Utc::now();
        let feeds = self.feeds.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<FeedHealth> = feeds
            .iter()
            .map(|(name, f)| {
                let seen = f.accepted + f.duplicates + f.rejected;
                FeedHealth {
                    source: name.clone(),
                    accepted: f.accepted,
                    duplicates: f.duplicates,
                    rejected: f.rejected,
                    rejected_pct: (seen > 0).then(|| f.rejected as f64 * 100.0 / seen as f64),
                    events_last_minute: f
                        .recent
                        .iter()
                        .filter(|(t, _)| now.duration_since(*t) < MINUTE)
                        .map(|(_, n)| n)
                        .sum(),
                    last_received: f.last_received,
                    last_event_age_secs: f.last_received.map(|t| (wall - t).num_seconds()),
                    newest_event: f.newest_event,
                    lateness_secs: f.lateness_secs,
                }
            })
            .collect();
        out.sort_by(|a, b| a.source.cmp(&b.source));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_shares_per_source() {
        let feeds = Feeds::default();
        let t = DateTime::parse_from_rfc3339("2025-11-20T08:00:00+07:00").unwrap();
        feeds.record("a", 8, 1, 1, Some(t));
        feeds.record("a", 2, 0, 0, None);
        feeds.record("b", 0, 0, 4, None);
        let h = feeds.health();
        assert_eq!(h.len(), 2);
        assert_eq!((h[0].accepted, h[0].events_last_minute), (10, 10));
        assert_eq!(h[0].rejected_pct, Some(100.0 / 12.0));
        assert_eq!(h[0].newest_event, Some(t));
        assert!(h[0].lateness_secs.unwrap() > 0);
        assert_eq!(h[1].rejected_pct, Some(100.0));
        assert_eq!(h[1].last_received, None, "no accepted event yet");
    }
}
