//! The rejected-records store, bounded: exact counts per source, hour,
//! field and rule, and the records themselves in full only up to a sample
//! per source and hour, kept for a number of days and under a size cap,
//! the oldest hours going first (DESIGN.md, "Ingest").
//!
//! It writes on a connection of its own, so a source that floods ingest
//! with bad records never holds the connection that logins, sessions and
//! other sources' lookups use; SQLite's WAL lets readers go on meanwhile,
//! and each write is one short transaction whatever the size of the input.
//!
//! ```text
//!  ingest ─► Rejections {counts per rule, first N in full}
//!              │ add_rejections (one transaction)
//!              ▼
//!  rejected_hours  (source, hour) records, kept, kept_bytes
//!  rejected_rules  (source, hour, field, rule) count
//!  rejected        the sample rows, up to sample_per_hour per (source, hour)
//! ```

use super::{Store, StoreError, parse_time, raw_unit};
use chrono::{DateTime, Utc};
use pipelines::sources::{Rejection, Rejections, RuleCount};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::sync::atomic::Ordering;

/// How much of the rejected records the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectedLimits {
    /// Records kept in full per source and hour.
    pub sample_per_hour: u64,
    /// Days records and counts are kept.
    pub retention_days: u64,
    /// Most bytes of raw records kept; the oldest hours' records go first.
    pub max_kept_bytes: u64,
}

impl Default for RejectedLimits {
    fn default() -> Self {
        Self {
            sample_per_hour: 1000,
            retention_days: 30,
            max_kept_bytes: 256 << 20,
        }
    }
}

/// One stored rejection, as listed and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRejection {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub source: String,
    #[serde(flatten)]
    pub record: Rejection,
}

/// Filters for [`Store::rejections`].
#[derive(Debug, Clone, Default)]
pub struct RejectionQuery {
    pub source: Option<String>,
    /// Keyset paging: only rejections with a larger id.
    pub after_id: i64,
    pub limit: usize,
}

/// What [`Store::add_rejections`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Kept {
    /// Rejections counted.
    pub counted: u64,
    /// Of those, records stored in full.
    pub stored: u64,
}

/// Totals of the store, for one source or all.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RejectionTotals {
    /// Rejections counted within the retention.
    pub counted: u64,
    /// Records stored in full.
    pub kept: u64,
    /// Counted rejections per field and rule.
    pub rules: Vec<RuleCount>,
}

/// Seconds between prunes (retention and size cap).
const PRUNE_EVERY_SECS: i64 = 60;

impl Store {
    /// Count one input's rejections and keep its records in full while
    /// the hour's sample for the source has room; one transaction, durable
    /// before this returns. Prunes by age and size at most once a minute.
    pub fn add_rejections(
        &self,
        source: &str,
        rejected: &Rejections,
        limits: RejectedLimits,
    ) -> Result<Kept, StoreError> {
        if rejected.is_empty() {
            return Ok(Kept::default());
        }
        let now = Utc::now();
        let hour = now.timestamp().div_euclid(3600) * 3600;
        let at = now.to_rfc3339();
        let mut conn = self.rejects();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        let kept_before: u64 = tx
            .query_row(
                "SELECT kept FROM rejected_hours WHERE source = ?1 AND hour = ?2",
                params![source, hour],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?
            .map_or(0, |n| n.max(0) as u64);
        let room = limits.sample_per_hour.saturating_sub(kept_before);
        let (mut stored, mut bytes) = (0u64, 0u64);
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO rejected (at, source, line, event_id, unit, errors, raw, hour)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(|e| self.sql(e))?;
            for r in rejected.sample().iter().take(room as usize) {
                let errors = serde_json::to_string(&r.errors).unwrap_or_else(|_| "[]".into());
                stmt.execute(params![
                    at,
                    source,
                    r.line as i64,
                    r.event_id,
                    raw_unit(&r.raw),
                    errors,
                    r.raw,
                    hour
                ])
                .map_err(|e| self.sql(e))?;
                stored += 1;
                bytes += r.raw.len() as u64;
            }
        }
        tx.execute(
            "INSERT INTO rejected_hours (source, hour, records, kept, kept_bytes)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (source, hour) DO UPDATE SET
               records = records + excluded.records,
               kept = kept + excluded.kept,
               kept_bytes = kept_bytes + excluded.kept_bytes",
            params![
                source,
                hour,
                count(rejected.total()),
                count(stored),
                count(bytes)
            ],
        )
        .map_err(|e| self.sql(e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO rejected_rules (source, hour, field, rule, count)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (source, hour, field, rule) DO UPDATE SET
                       count = count + excluded.count",
                )
                .map_err(|e| self.sql(e))?;
            for rc in rejected.by_rule() {
                stmt.execute(params![source, hour, rc.field, rc.rule, count(rc.count)])
                    .map_err(|e| self.sql(e))?;
            }
        }
        tx.commit().map_err(|e| self.sql(e))?;
        let last = self.last_prune.load(Ordering::Relaxed);
        if now.timestamp() - last >= PRUNE_EVERY_SECS
            && self
                .last_prune
                .compare_exchange(last, now.timestamp(), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.prune_rejections_with(&mut conn, limits, now)?;
        }
        Ok(Kept {
            counted: rejected.total(),
            stored,
        })
    }

    /// Drop what is past the retention, then the oldest hours' records
    /// until the records kept fit the size cap (their counts stay).
    pub fn prune_rejections(&self, limits: RejectedLimits) -> Result<(), StoreError> {
        let mut conn = self.rejects();
        self.prune_rejections_with(&mut conn, limits, Utc::now())
    }

    fn prune_rejections_with(
        &self,
        conn: &mut rusqlite::Connection,
        limits: RejectedLimits,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let days = i64::try_from(limits.retention_days).unwrap_or(i64::MAX / 86_400);
        let cut = now - chrono::Duration::days(days);
        let cut_hour = cut.timestamp().div_euclid(3600) * 3600;
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        tx.execute(
            "DELETE FROM rejected WHERE hour < ?1 OR (hour IS NULL AND at < ?2)",
            params![cut_hour, cut.to_rfc3339()],
        )
        .map_err(|e| self.sql(e))?;
        tx.execute("DELETE FROM rejected_hours WHERE hour < ?1", [cut_hour])
            .map_err(|e| self.sql(e))?;
        tx.execute("DELETE FROM rejected_rules WHERE hour < ?1", [cut_hour])
            .map_err(|e| self.sql(e))?;
        let mut kept: u64 = tx
            .query_row(
                "SELECT coalesce(sum(kept_bytes), 0) FROM rejected_hours",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| self.sql(e))?
            .max(0) as u64;
        while kept > limits.max_kept_bytes {
            let Some((source, hour, bytes)) = tx
                .query_row(
                    "SELECT source, hour, kept_bytes FROM rejected_hours
                     WHERE kept > 0 ORDER BY hour, source LIMIT 1",
                    [],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(|e| self.sql(e))?
            else {
                break;
            };
            tx.execute(
                "DELETE FROM rejected WHERE source = ?1 AND hour = ?2",
                params![source, hour],
            )
            .map_err(|e| self.sql(e))?;
            tx.execute(
                "UPDATE rejected_hours SET kept = 0, kept_bytes = 0 WHERE source = ?1 AND hour = ?2",
                params![source, hour],
            )
            .map_err(|e| self.sql(e))?;
            kept = kept.saturating_sub(bytes.max(0) as u64);
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Stored rejections in id order, after `q.after_id`, at most `q.limit`.
    pub fn rejections(&self, q: &RejectionQuery) -> Result<Vec<StoredRejection>, StoreError> {
        let conn = self.rejects();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, at, source, line, event_id, errors, raw FROM rejected
                 WHERE id > ?1 AND (?2 IS NULL OR source = ?2)
                 ORDER BY id LIMIT ?3",
            )
            .map_err(|e| self.sql(e))?;
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        stmt.query_map(params![q.after_id, q.source, limit], |r| {
            let errors: String = r.get(5)?;
            Ok(StoredRejection {
                id: r.get(0)?,
                at: parse_time(r.get::<_, String>(1)?),
                source: r.get(2)?,
                record: Rejection {
                    line: usize::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                    event_id: r.get(4)?,
                    errors: serde_json::from_str(&errors).unwrap_or_default(),
                    raw: r.get(6)?,
                },
            })
        })
        .map_err(|e| self.sql(e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| self.sql(e))
    }

    /// How many rejections were counted (for one source, or all), kept in
    /// full or not, and per field and rule.
    pub fn rejection_totals(&self, source: Option<&str>) -> Result<RejectionTotals, StoreError> {
        let conn = self.rejects();
        let (counted, kept_hours): (i64, i64) = conn
            .query_row(
                "SELECT coalesce(sum(records), 0), coalesce(sum(kept), 0) FROM rejected_hours
                 WHERE ?1 IS NULL OR source = ?1",
                [source],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.sql(e))?;
        // Records kept before counts existed have no hour.
        let legacy: i64 = conn
            .query_row(
                "SELECT count(*) FROM rejected WHERE hour IS NULL AND (?1 IS NULL OR source = ?1)",
                [source],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT field, rule, sum(count) FROM rejected_rules
                 WHERE ?1 IS NULL OR source = ?1 GROUP BY field, rule ORDER BY field, rule",
            )
            .map_err(|e| self.sql(e))?;
        let rules = stmt
            .query_map([source], |r| {
                Ok(RuleCount {
                    field: r.get(0)?,
                    rule: r.get(1)?,
                    count: r.get::<_, i64>(2)?.max(0) as u64,
                })
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(RejectionTotals {
            counted: (counted + legacy).max(0) as u64,
            kept: (kept_hours + legacy).max(0) as u64,
            rules,
        })
    }
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipelines::sources::FieldError;

    fn rej(line: usize, rule: &str) -> Rejection {
        Rejection {
            line,
            event_id: Some(format!("e{line}")),
            errors: vec![FieldError {
                field: "unit".into(),
                rule: rule.into(),
                message: "outside".into(),
            }],
            raw: format!(r#"{{"unit":"79","n":{line}}}"#),
        }
    }

    fn batch(lines: std::ops::Range<usize>, rule: &str) -> Rejections {
        let mut r = Rejections::default();
        for l in lines {
            r.push(rej(l, rule));
        }
        r
    }

    fn open() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn rejections_are_kept_listed_and_paged() {
        let (_d, store) = open();
        let limits = RejectedLimits::default();
        store
            .add_rejections("a", &batch(1..3, "scope"), limits)
            .unwrap();
        store
            .add_rejections("b", &batch(7..8, "scope"), limits)
            .unwrap();
        assert_eq!(store.rejection_totals(None).unwrap().counted, 3);
        assert_eq!(store.rejection_totals(Some("a")).unwrap().counted, 2);
        let page = store
            .rejections(&RejectionQuery {
                source: Some("a".into()),
                after_id: 0,
                limit: 1,
            })
            .unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].record, rej(1, "scope"));
        let rest = store
            .rejections(&RejectionQuery {
                source: None,
                after_id: page[0].id,
                limit: 10,
            })
            .unwrap();
        assert_eq!(
            rest.iter().map(|r| r.record.line).collect::<Vec<_>>(),
            [2, 7]
        );
    }

    #[test]
    fn a_flood_is_counted_exactly_and_kept_only_up_to_the_hours_sample() {
        let (_d, store) = open();
        let limits = RejectedLimits {
            sample_per_hour: 50,
            ..RejectedLimits::default()
        };
        let first = store
            .add_rejections("flood", &batch(1..40, "json"), limits)
            .unwrap();
        assert_eq!(
            first,
            Kept {
                counted: 39,
                stored: 39
            }
        );
        // 20,000 more: the input itself keeps only its first ones, and the
        // hour has room for 11.
        let second = store
            .add_rejections("flood", &batch(40..20_040, "type"), limits)
            .unwrap();
        assert_eq!(
            second,
            Kept {
                counted: 20_000,
                stored: 11
            }
        );
        let totals = store.rejection_totals(Some("flood")).unwrap();
        assert_eq!((totals.counted, totals.kept), (20_039, 50));
        assert_eq!(
            totals.rules,
            vec![
                RuleCount {
                    field: "unit".into(),
                    rule: "json".into(),
                    count: 39
                },
                RuleCount {
                    field: "unit".into(),
                    rule: "type".into(),
                    count: 20_000
                },
            ]
        );
        let rows = store
            .rejections(&RejectionQuery {
                source: Some("flood".into()),
                after_id: 0,
                limit: 1000,
            })
            .unwrap();
        assert_eq!(rows.len(), 50);
        // Another source has its own sample.
        let other = store
            .add_rejections("other", &batch(1..3, "json"), limits)
            .unwrap();
        assert_eq!(other.stored, 2);
    }

    #[test]
    fn pruning_drops_old_hours_then_the_oldest_records_over_the_size_cap() {
        let (_d, store) = open();
        let limits = RejectedLimits::default();
        store
            .add_rejections("a", &batch(1..11, "json"), limits)
            .unwrap();
        store
            .add_rejections("b", &batch(1..11, "json"), limits)
            .unwrap();
        let hour = Utc::now().timestamp().div_euclid(3600) * 3600;
        // Make `a`'s records two hours old and `b`'s 40 days old.
        let conn = store.rejects();
        for (src, h) in [("a", hour - 7200), ("b", hour - 40 * 86_400)] {
            for table in ["rejected", "rejected_hours", "rejected_rules"] {
                conn.execute(
                    &format!("UPDATE {table} SET hour = ?2 WHERE source = ?1"),
                    params![src, h],
                )
                .unwrap();
            }
        }
        drop(conn);
        store
            .add_rejections("c", &batch(1..11, "json"), limits)
            .unwrap();
        store.prune_rejections(limits).unwrap();
        assert_eq!(
            store.rejection_totals(Some("b")).unwrap().counted,
            0,
            "past retention"
        );
        assert_eq!(store.rejection_totals(None).unwrap().kept, 20);
        // A cap of one hour's bytes keeps the newest hour's records; the
        // older hour's counts stay.
        let one_hour: i64 = store
            .rejects()
            .query_row(
                "SELECT kept_bytes FROM rejected_hours WHERE source = 'c'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        store
            .prune_rejections(RejectedLimits {
                max_kept_bytes: one_hour as u64,
                ..limits
            })
            .unwrap();
        let a = store.rejection_totals(Some("a")).unwrap();
        assert_eq!((a.counted, a.kept), (10, 0));
        let c = store.rejection_totals(Some("c")).unwrap();
        assert_eq!((c.counted, c.kept), (10, 10));
    }
}
