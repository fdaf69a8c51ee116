//! The rejection budget: a source whose records are rejected faster than
//! `rejected.max_per_minute` is refused with 429 and `Retry-After` until it
//! is back under, so one broken or hostile sender cannot keep a core busy
//! and fill the rejected store for everybody else.
//!
//! A token bucket per source holding up to a minute's budget, refilled at
//! the budget's rate. Rejections take tokens even past zero — a request is
//! decoded whole before its rejections are known — and the debt is capped
//! at one minute's budget, so a single flood costs its source about a
//! minute of refusals, however large it was.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RejectionBudget {
    per_minute: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RejectionBudget {
    /// A budget of `per_minute` rejections a minute per source; 0 turns
    /// throttling off.
    pub fn new(per_minute: u64) -> Self {
        Self {
            per_minute: per_minute as f64,
            buckets: Mutex::default(),
        }
    }

    fn rate(&self) -> f64 {
        self.per_minute / 60.0
    }

    /// The bucket topped up for the time since it was last touched.
    fn refill(&self, b: &mut Bucket, now: Instant) {
        b.tokens =
            (b.tokens + self.rate() * now.duration_since(b.at).as_secs_f64()).min(self.per_minute);
        b.at = now;
    }

    /// `Some(wait)` while `source` is over its budget.
    pub fn over(&self, source: &str) -> Option<Duration> {
        self.over_at(source, Instant::now())
    }

    fn over_at(&self, source: &str, now: Instant) -> Option<Duration> {
        if self.per_minute <= 0.0 {
            return None;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets.get_mut(source)?;
        self.refill(b, now);
        // Until the bucket holds a token again (at most about a minute,
        // as the debt is capped); at least a second.
        (b.tokens <= 0.0)
            .then(|| Duration::from_secs_f64(((1.0 - b.tokens) / self.rate()).max(1.0)))
    }

    /// Charge `n` rejections to `source`.
    pub fn charge(&self, source: &str, n: u64) {
        self.charge_at(source, n, Instant::now());
    }

    fn charge_at(&self, source: &str, n: u64, now: Instant) {
        if self.per_minute <= 0.0 || n == 0 {
            return;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        // Sources are configured, not chosen by clients, so the map stays
        // small; full buckets carry no information and are dropped anyway.
        if buckets.len() > 1024 {
            let per_minute = self.per_minute;
            buckets.retain(|_, b| b.tokens < per_minute);
        }
        let b = buckets.entry(source.to_owned()).or_insert(Bucket {
            tokens: self.per_minute,
            at: now,
        });
        self.refill(b, now);
        b.tokens = (b.tokens - n as f64).max(-self.per_minute);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_over_its_budget_waits_and_others_do_not() {
        let budget = RejectionBudget::new(600); // 10 a second
        let t0 = Instant::now();
        assert_eq!(budget.over_at("a", t0), None);
        budget.charge_at("a", 599, t0);
        assert_eq!(budget.over_at("a", t0), None, "one token left");
        budget.charge_at("a", 1, t0);
        assert!(budget.over_at("a", t0).is_some());
        assert_eq!(budget.over_at("b", t0), None);
        // A second later ten tokens are back.
        assert_eq!(budget.over_at("a", t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn a_flood_costs_about_a_minute_however_large() {
        let budget = RejectionBudget::new(600);
        let t0 = Instant::now();
        budget.charge_at("a", 10_000_000, t0);
        let wait = budget.over_at("a", t0).unwrap();
        assert!(
            wait > Duration::from_secs(59) && wait <= Duration::from_secs(61),
            "{wait:?}"
        );
        assert!(budget.over_at("a", t0 + Duration::from_secs(59)).is_some());
        assert_eq!(budget.over_at("a", t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn zero_turns_it_off() {
        let budget = RejectionBudget::new(0);
        budget.charge("a", 1 << 40);
        assert_eq!(budget.over("a"), None);
    }
}
