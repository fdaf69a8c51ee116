//! Event-time progress per source, and what it says about each event.
//!
//! A source's *watermark* is the newest event time it has sent minus the
//! allowed lateness: the engine expects nothing older from it any more. An
//! event behind its source's watermark is *late*: it is still folded in,
//! and the windows it lands in change after they looked settled (a
//! correction). An event more than the correction horizon behind the
//! watermark is *too late*: the engine leaves it out of the live state and
//! counts it per source. It stays in the durable log and the Parquet
//! archive, so `govpulse kpi --data` and history queries still count it.
//!
//! The *global* watermark, before which live results are final, is the
//! lowest watermark of the sources that are not idle. A source is idle when
//! its newest event is more than `idle` behind the newest event of any
//! source, so a silent feed does not hold the others back.
//!
//! Every decision depends on event times in log order only, never on the
//! wall clock, so a restart from a checkpoint decides exactly as an
//! uninterrupted run.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The lateness settings, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lateness {
    /// How far behind its newest event a source may still send without
    /// the event counting as late.
    pub allowed: i64,
    /// How far behind the watermark a late event still updates the state.
    pub horizon: i64,
    /// How far a source's newest event may trail the newest of all sources
    /// before the source stops holding back the global watermark.
    pub idle: i64,
}

impl Default for Lateness {
    fn default() -> Self {
        Self {
            allowed: 5 * 60,
            horizon: 14 * 86_400,
            idle: 15 * 60,
        }
    }
}

/// What the engine makes of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// At or after its source's watermark.
    OnTime,
    /// Behind the watermark, inside the horizon: folded in as a correction.
    Late,
    /// Beyond the horizon: left out of the live state, counted.
    TooLate,
}

/// One source's event-time clock and counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceClock {
    /// Newest event time seen (Unix seconds).
    pub newest: i64,
    pub events: u64,
    pub late: u64,
    pub too_late: u64,
    /// The largest distance behind `newest` an event arrived at (seconds).
    pub max_behind: i64,
}

/// The clocks of every source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermarks {
    sources: BTreeMap<String, SourceClock>,
}

impl Watermarks {
    /// Judge an event of `source` at `t` and advance the source's clock.
    pub fn observe(&mut self, source: &str, t: i64, lateness: &Lateness) -> Verdict {
        let clock = match self.sources.get_mut(source) {
            Some(c) => c,
            None => self
                .sources
                .entry(source.to_owned())
                .or_insert(SourceClock {
                    newest: t,
                    ..SourceClock::default()
                }),
        };
        clock.events += 1;
        let behind = clock.newest.saturating_sub(t);
        clock.max_behind = clock.max_behind.max(behind);
        let verdict = if behind > lateness.allowed + lateness.horizon {
            clock.too_late += 1;
            Verdict::TooLate
        } else if behind > lateness.allowed {
            clock.late += 1;
            Verdict::Late
        } else {
            Verdict::OnTime
        };
        clock.newest = clock.newest.max(t);
        verdict
    }

    /// The watermark of one source.
    pub fn source_watermark(&self, source: &str, lateness: &Lateness) -> Option<i64> {
        self.sources
            .get(source)
            .map(|c| c.newest.saturating_sub(lateness.allowed))
    }

    /// The global watermark: the lowest watermark of the sources that are
    /// not idle. Results for times before it are final.
    pub fn watermark(&self, lateness: &Lateness) -> Option<i64> {
        let newest = self.sources.values().map(|c| c.newest).max()?;
        self.sources
            .values()
            .filter(|c| newest - c.newest <= lateness.idle)
            .map(|c| c.newest.saturating_sub(lateness.allowed))
            .min()
    }

    /// The time before which no event of any source seen so far can enter
    /// the live state any more: the lowest of every source's newest event
    /// time less the allowed lateness and the correction horizon (idle
    /// sources included). State that only older events could change can be
    /// folded away (`kpi::fold::Fold::compact`). A source never seen before
    /// starts its own clock, so its first events are taken whatever their
    /// time (see `Fold::compact` for what that means for dossiers).
    pub fn compaction_cut(&self, lateness: &Lateness) -> Option<i64> {
        self.sources
            .values()
            .map(|c| {
                c.newest
                    .saturating_sub(lateness.allowed.saturating_add(lateness.horizon))
            })
            .min()
    }

    /// Whether a source currently counts as idle.
    pub fn is_idle(&self, source: &str, lateness: &Lateness) -> bool {
        let newest = self.sources.values().map(|c| c.newest).max();
        match (self.sources.get(source), newest) {
            (Some(c), Some(n)) => n - c.newest > lateness.idle,
            _ => false,
        }
    }

    pub fn sources(&self) -> impl Iterator<Item = (&str, &SourceClock)> {
        self.sources.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Sums over every source: (late, too late).
    pub fn totals(&self) -> (u64, u64) {
        self.sources
            .values()
            .fold((0, 0), |(l, t), c| (l + c.late, t + c.too_late))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Lateness = Lateness {
        allowed: 60,
        horizon: 3600,
        idle: 600,
    };

    #[test]
    fn events_are_on_time_late_or_too_late_against_their_own_source() {
        let mut w = Watermarks::default();
        assert_eq!(w.observe("a", 10_000, &L), Verdict::OnTime);
        assert_eq!(
            w.observe("a", 9_950, &L),
            Verdict::OnTime,
            "inside the allowed lateness"
        );
        assert_eq!(w.observe("a", 9_939, &L), Verdict::Late);
        assert_eq!(
            w.observe("a", 10_000 - 60 - 3600, &L),
            Verdict::Late,
            "the horizon's edge"
        );
        assert_eq!(w.observe("a", 10_000 - 60 - 3601, &L), Verdict::TooLate);
        // Another source far behind is judged by its own clock.
        assert_eq!(w.observe("b", 1_000, &L), Verdict::OnTime);
        let a = w.sources().find(|(s, _)| *s == "a").unwrap().1.clone();
        assert_eq!((a.events, a.late, a.too_late, a.newest), (5, 2, 1, 10_000));
        assert_eq!(w.totals(), (2, 1));
    }

    #[test]
    fn an_idle_source_does_not_hold_the_global_watermark_back() {
        let mut w = Watermarks::default();
        w.observe("a", 10_000, &L);
        w.observe("b", 9_700, &L);
        assert_eq!(w.watermark(&L), Some(9_700 - 60), "b is behind but active");
        w.observe("a", 10_400, &L);
        assert!(w.is_idle("b", &L));
        assert_eq!(w.watermark(&L), Some(10_400 - 60), "b went quiet");
        w.observe("b", 10_390, &L);
        assert_eq!(w.watermark(&L), Some(10_390 - 60), "b is back");
        assert_eq!(w.source_watermark("a", &L), Some(10_340));
    }

    #[test]
    fn decisions_depend_only_on_the_order_of_events() {
        let times: Vec<(String, i64)> = (0..2_000)
            .map(|i: i64| {
                (
                    format!("s{}", i % 3),
                    1_000_000 + (i * 7919) % 20_000 - (i % 11) * 500,
                )
            })
            .collect();
        let run = |w: &mut Watermarks, part: &[(String, i64)]| -> Vec<Verdict> {
            part.iter().map(|(s, t)| w.observe(s, *t, &L)).collect()
        };
        let mut whole = Watermarks::default();
        let all = run(&mut whole, &times);
        // A checkpoint half way through, serialised and read back.
        let mut first = Watermarks::default();
        let mut v = run(&mut first, &times[..1_000]);
        let json = serde_json::to_string(&first).unwrap();
        let mut resumed: Watermarks = serde_json::from_str(&json).unwrap();
        v.extend(run(&mut resumed, &times[1_000..]));
        assert_eq!(v, all);
        assert_eq!(resumed, whole);
        assert!(all.contains(&Verdict::Late) && all.contains(&Verdict::TooLate));
    }
}
