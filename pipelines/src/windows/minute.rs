//! One-minute tumbling windows per top unit (province or ministry), keyed by
//! event time. Each micro-batch is aggregated by DataFusion into per-minute
//! partial sums ([`crate::kpi::MINUTE_ONLINE_DOSSIERS`]) that are added to the
//! state, so an event that arrives late still lands in its own minute.
//! Buckets older than the retention behind the newest event time are pruned;
//! unit totals keep counting.
//!
//! Buckets that end at or before the global watermark
//! ([`MinuteWindows::set_final_before`]) are final. Live results are
//! emitted early, before that; a late event that still lands in a final
//! bucket is a *correction*, counted on the bucket and on the unit, so the
//! changed row reaches clients flagged as one.

use super::batch::{bin_starts_micros, to_record_batch};
use crate::error::Result;
use crate::kpi::{MINUTE_ONLINE_DOSSIERS, query_batch};
use crate::units::UnitRegistry;
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use chrono::{DateTime, FixedOffset};
use datafusion::prelude::SessionContext;
use model::Event;
use model::kpi::{MinuteCount, ProvinceRow};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

const MINUTE_MICROS: i64 = 60_000_000;

/// Asia/Ho_Chi_Minh: UTC+7 all year, no daylight saving.
pub fn local_offset() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Counts {
    accepted: u64,
    online: u64,
    /// Changes after the bucket was final.
    corrections: u64,
}

/// Keyed state of the one-minute windows.
pub struct MinuteWindows {
    ctx: SessionContext,
    units: Arc<UnitRegistry>,
    retention_minutes: i64,
    /// How many recent buckets a [`ProvinceRow`] carries.
    row_minutes: usize,
    bins: HashMap<String, BTreeMap<i64, Counts>>,
    totals: HashMap<String, Counts>,
    max_event_micros: i64,
    /// Buckets ending at or before this (UTC µs) are final.
    final_before_micros: i64,
}

impl std::fmt::Debug for MinuteWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinuteWindows")
            .field("units", &self.bins.len())
            .finish()
    }
}

impl MinuteWindows {
    /// `retention_minutes` of buckets are kept behind the newest event
    /// (48 hours in the server); rows show the last `row_minutes` buckets.
    pub fn new(units: Arc<UnitRegistry>, retention_minutes: i64, row_minutes: usize) -> Self {
        Self {
            ctx: SessionContext::new(),
            units,
            retention_minutes,
            row_minutes,
            bins: HashMap::new(),
            totals: HashMap::new(),
            max_event_micros: i64::MIN,
            final_before_micros: i64::MIN,
        }
    }

    /// Advance the global watermark (Unix seconds) behind which the rows
    /// are final. The engine calls this after each micro-batch, before
    /// publishing its rows; a later batch that changes a bucket behind it
    /// changes what clients were told is final, which counts as a
    /// correction. Depends on log order only, like the watermark itself.
    pub fn set_final_before(&mut self, watermark: Option<i64>) {
        if let Some(w) = watermark {
            self.final_before_micros = self.final_before_micros.max(w.saturating_mul(1_000_000));
        }
    }

    /// Fold a micro-batch into the windows; returns the top units whose rows
    /// changed.
    pub async fn apply(&mut self, events: &[Event]) -> Result<BTreeSet<String>> {
        if events.is_empty() {
            return Ok(BTreeSet::new());
        }
        let batch = to_record_batch(events, &self.units)?;
        self.apply_batch(batch).await
    }

    /// [`Self::apply`] for a micro-batch already in Arrow form
    /// ([`to_record_batch`]), so that a caller folding the same events
    /// elsewhere builds it once.
    pub async fn apply_batch(&mut self, batch: RecordBatch) -> Result<BTreeSet<String>> {
        let mut changed = BTreeSet::new();
        if batch.num_rows() == 0 {
            return Ok(changed);
        }
        let result = query_batch(&self.ctx, MINUTE_ONLINE_DOSSIERS, batch).await?;
        for rb in result {
            let unit = rb.column(0).as_string::<i32>();
            let minute = bin_starts_micros(rb.column(1).as_ref())?;
            let accepted = rb.column(2).as_primitive::<Int64Type>();
            let online = rb.column(3).as_primitive::<Int64Type>();
            for (i, start) in minute.into_iter().enumerate() {
                let Some(start) = start else { continue };
                let correction =
                    u64::from(start.saturating_add(MINUTE_MICROS) <= self.final_before_micros);
                let part = Counts {
                    accepted: accepted.value(i).max(0) as u64,
                    online: online.value(i).max(0) as u64,
                    corrections: correction,
                };
                let code = unit.value(i).to_owned();
                let bin = self
                    .bins
                    .entry(code.clone())
                    .or_default()
                    .entry(start)
                    .or_default();
                bin.accepted += part.accepted;
                bin.online += part.online;
                bin.corrections += part.corrections;
                let total = self.totals.entry(code.clone()).or_default();
                total.accepted += part.accepted;
                total.online += part.online;
                total.corrections += part.corrections;
                self.max_event_micros = self.max_event_micros.max(start);
                changed.insert(code);
            }
        }
        self.prune();
        Ok(changed)
    }

    fn prune(&mut self) {
        let horizon = self
            .max_event_micros
            .saturating_sub(self.retention_minutes * MINUTE_MICROS);
        for bins in self.bins.values_mut() {
            *bins = bins.split_off(&horizon);
        }
    }

    /// The overview row of one top unit.
    pub fn row(&self, code: &str) -> ProvinceRow {
        let total = self.totals.get(code).copied().unwrap_or_default();
        let tz = local_offset();
        // A dense series ending at the newest minute of any unit, so the
        // rows' sparklines share one time axis; minutes without data are 0.
        let bins = self.bins.get(code);
        let end = self.max_event_micros;
        let minutes = (0..self.row_minutes as i64)
            .rev()
            .map(|back| end - back * MINUTE_MICROS)
            .filter(|_| bins.is_some())
            .map(|m| {
                let c = bins.and_then(|b| b.get(&m)).copied().unwrap_or_default();
                MinuteCount {
                    minute: DateTime::from_timestamp_micros(m)
                        .map(|t| t.with_timezone(&tz).to_rfc3339())
                        .unwrap_or_default(),
                    accepted: c.accepted,
                    online: c.online,
                    corrections: c.corrections,
                }
            })
            .collect::<Vec<MinuteCount>>();
        ProvinceRow {
            code: code.to_owned(),
            name: self.units.name(code).to_owned(),
            accepted: total.accepted,
            online: total.online,
            minutes_from: minutes
                .first()
                .map(|m| m.minute.clone())
                .unwrap_or_default(),
            minutes,
            final_before: DateTime::from_timestamp_micros(self.final_before_micros)
                .filter(|_| self.final_before_micros > i64::MIN)
                .map(|t| t.with_timezone(&tz).to_rfc3339())
                .unwrap_or_default(),
            corrections: total.corrections,
        }
    }

    /// The whole window state, for a checkpoint. Together with the log
    /// offset it was taken at, [`MinuteWindows::restore`] plus the log after
    /// that offset gives exactly the state of an uninterrupted run: bins
    /// and totals are sums, and pruning depends only on the newest event
    /// time seen.
    pub fn checkpoint(&self) -> WindowsCheckpoint {
        let sorted = |m: &HashMap<String, BTreeMap<i64, Counts>>| {
            let mut v: Vec<_> = m
                .iter()
                .map(|(code, bins)| {
                    let bins = bins
                        .iter()
                        .map(|(start, c)| (*start, c.accepted, c.online, c.corrections));
                    (code.clone(), bins.collect())
                })
                .collect();
            v.sort();
            v
        };
        let mut totals: Vec<_> = self
            .totals
            .iter()
            .map(|(code, c)| (code.clone(), c.accepted, c.online, c.corrections))
            .collect();
        totals.sort();
        WindowsCheckpoint {
            max_event_micros: self.max_event_micros,
            final_before_micros: self.final_before_micros,
            bins: sorted(&self.bins),
            totals,
        }
    }

    /// Windows holding the state of `checkpoint`.
    pub fn restore(
        units: Arc<UnitRegistry>,
        retention_minutes: i64,
        row_minutes: usize,
        checkpoint: WindowsCheckpoint,
    ) -> Self {
        let mut w = Self::new(units, retention_minutes, row_minutes);
        w.max_event_micros = checkpoint.max_event_micros;
        w.final_before_micros = checkpoint.final_before_micros;
        for (code, bins) in checkpoint.bins {
            let bins = bins
                .into_iter()
                .map(|(start, accepted, online, corrections)| {
                    let c = Counts {
                        accepted,
                        online,
                        corrections,
                    };
                    (start, c)
                });
            w.bins.insert(code, bins.collect());
        }
        for (code, accepted, online, corrections) in checkpoint.totals {
            let c = Counts {
                accepted,
                online,
                corrections,
            };
            w.totals.insert(code, c);
        }
        // A checkpoint from a server with a longer retention.
        w.prune();
        w
    }

    /// Every top unit that has seen a dossier, ordered by code.
    pub fn rows(&self) -> Vec<ProvinceRow> {
        let mut codes: Vec<_> = self.totals.keys().collect();
        codes.sort();
        codes.into_iter().map(|c| self.row(c)).collect()
    }
}

/// One minute bin: (start in UTC microseconds, accepted, online,
/// corrections).
pub type BinCounts = (i64, u64, u64, u64);

/// The state of [`MinuteWindows`] as plain data, ordered by unit code so
/// the same state always serialises to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowsCheckpoint {
    pub max_event_micros: i64,
    /// The global watermark the last results were final behind (UTC µs).
    pub final_before_micros: i64,
    /// Per top unit: its minute bins.
    pub bins: Vec<(String, Vec<BinCounts>)>,
    /// Per top unit: (accepted, online, corrections) since the log began.
    pub totals: Vec<(String, u64, u64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{ndjson, validate::Checks};

    fn events(text: &str, units: &UnitRegistry) -> Vec<Event> {
        let d = ndjson::decode(text.as_bytes(), units, Checks::default());
        assert!(d.rejected.is_empty(), "{:?}", d.rejected);
        d.events.into_iter().map(|(_, e)| e).collect()
    }

    fn accepted(id: &str, at: &str, unit: &str, channel: &str) -> String {
        format!(
            r#"{{"event_id":"{id}","kind":"dossier","occurred_at":"{at}","unit":"{unit}","dossier_id":"{id}","status":"accepted","procedure_code":"1.001757","channel":"{channel}","due_at":"2026-01-01T00:00:00+07:00"}}"#
        )
    }

    #[tokio::test]
    async fn counts_land_in_their_event_time_minute_whatever_the_batch() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let mut w = MinuteWindows::new(units.clone(), 48 * 60, 10);
        let first = [
            accepted("a", "2025-11-20T08:00:10+07:00", "00070", "online"),
            accepted("b", "2025-11-20T08:00:50+07:00", "00073", "counter"),
            accepted("c", "2025-11-20T08:01:00+07:00", "01", "online"),
        ]
        .join("\n");
        let changed = w.apply(&events(&first, &units)).await.unwrap();
        assert_eq!(
            changed.into_iter().collect::<Vec<_>>(),
            vec!["01".to_string()]
        );
        // A late event for 08:00 arrives in a later batch, with one for HCMC.
        let late = [
            accepted("d", "2025-11-20T08:00:30+07:00", "00070", "online"),
            accepted("e", "2025-11-20T08:05:00+07:00", "79", "postal"),
        ]
        .join("\n");
        w.apply(&events(&late, &units)).await.unwrap();

        let hn = w.row("01");
        assert_eq!(hn.name, "Thành phố Hà Nội");
        assert_eq!((hn.accepted, hn.online), (4, 3));
        // Ten minutes ending at the newest minute seen (08:05, from HCMC).
        assert_eq!(hn.minutes.len(), 10);
        assert_eq!(hn.minutes[0].minute, "2025-11-20T07:56:00+07:00");
        assert_eq!(hn.minutes[9].minute, "2025-11-20T08:05:00+07:00");
        let bins: Vec<_> = hn
            .minutes
            .iter()
            .filter(|m| m.accepted > 0)
            .map(|m| (m.minute.as_str(), m.accepted, m.online))
            .collect();
        assert_eq!(
            bins,
            vec![
                ("2025-11-20T08:00:00+07:00", 3, 2),
                ("2025-11-20T08:01:00+07:00", 1, 1)
            ]
        );
        assert_eq!(
            w.rows().iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
            vec!["01", "79"]
        );
    }

    #[tokio::test]
    async fn restoring_a_checkpoint_then_the_rest_equals_one_run() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let all: Vec<String> = (0..60)
            .map(|i| {
                let unit = ["00070", "79", "01", "00073"][i % 4];
                let channel = ["online", "counter"][i % 3 % 2];
                // Out of order, some far behind: pruning must agree too.
                let minute = (i * 37) % 90;
                let at = format!(
                    "2025-11-20T{:02}:{:02}:05+07:00",
                    8 + minute / 60,
                    minute % 60
                );
                accepted(&format!("e{i}"), &at, unit, channel)
            })
            .collect();
        let (first, rest) = all.split_at(23);
        let mut whole = MinuteWindows::new(units.clone(), 30, 40);
        whole.apply(&events(&all.join("\n"), &units)).await.unwrap();

        let mut before = MinuteWindows::new(units.clone(), 30, 40);
        before
            .apply(&events(&first.join("\n"), &units))
            .await
            .unwrap();
        let saved = serde_json::to_string(&before.checkpoint()).unwrap();
        let mut after =
            MinuteWindows::restore(units.clone(), 30, 40, serde_json::from_str(&saved).unwrap());
        for part in rest.chunks(7) {
            after
                .apply(&events(&part.join("\n"), &units))
                .await
                .unwrap();
        }
        assert_eq!(after.checkpoint(), whole.checkpoint());
        assert_eq!(after.rows(), whole.rows());
    }

    #[tokio::test]
    async fn a_change_behind_the_watermark_is_a_correction() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let mut w = MinuteWindows::new(units.clone(), 48 * 60, 10);
        let first = accepted("a", "2025-11-20T08:05:00+07:00", "01", "online");
        w.apply(&events(&first, &units)).await.unwrap();
        // Before any watermark nothing is final.
        assert_eq!(w.row("01").final_before, "");
        // Final behind 08:03 (Unix seconds of 01:03 UTC).
        let wm = chrono::DateTime::parse_from_rfc3339("2025-11-20T08:03:00+07:00")
            .unwrap()
            .timestamp();
        w.set_final_before(Some(wm));
        // An older watermark never moves it back.
        w.set_final_before(Some(wm - 600));
        let later = [
            // Ends at 08:03: final, so a correction.
            accepted("b", "2025-11-20T08:02:59+07:00", "00070", "online"),
            // Ends at 08:04: still an early result.
            accepted("c", "2025-11-20T08:03:00+07:00", "01", "counter"),
            accepted("d", "2025-11-20T08:02:10+07:00", "01", "counter"),
        ]
        .join("\n");
        w.apply(&events(&later, &units)).await.unwrap();
        let row = w.row("01");
        assert_eq!(row.final_before, "2025-11-20T08:03:00+07:00");
        assert_eq!(row.corrections, 1, "one bucket, changed once");
        let flagged: Vec<_> = row
            .minutes
            .iter()
            .map(|m| {
                (
                    &m.minute[11..16],
                    m.accepted,
                    m.corrections,
                    m.is_final(&row.final_before),
                )
            })
            .filter(|m| m.1 > 0)
            .collect();
        assert_eq!(
            flagged,
            [
                ("08:02", 2, 1, true),
                ("08:03", 1, 0, false),
                ("08:05", 1, 0, false)
            ]
        );
        // Corrections survive a checkpoint.
        let back = MinuteWindows::restore(units.clone(), 48 * 60, 10, w.checkpoint());
        assert_eq!(back.rows(), w.rows());
    }

    #[tokio::test]
    async fn old_buckets_are_pruned_but_totals_stay() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let mut w = MinuteWindows::new(units.clone(), 10, 120);
        let text = [
            accepted("a", "2025-11-20T08:00:00+07:00", "01", "online"),
            accepted("b", "2025-11-20T09:00:00+07:00", "01", "online"),
        ]
        .join("\n");
        w.apply(&events(&text, &units)).await.unwrap();
        let row = w.row("01");
        assert_eq!(row.accepted, 2);
        let kept: Vec<_> = row.minutes.iter().filter(|m| m.accepted > 0).collect();
        assert_eq!(kept.len(), 1, "08:00 is more than 10 minutes behind 09:00");
    }
}
