//! One-minute tumbling windows per top unit (province or ministry), keyed by
//! event time, holding every SQL counter of [`crate::kpi::defs::COUNTERS`].
//! Each micro-batch is aggregated by DataFusion into per-minute partial
//! sums ([`crate::kpi::defs::minute_sql`]) that are added to the state, so
//! an event that arrives late still lands in its own minute. Buckets older
//! than the retention (48 hours in the server) behind the newest event time
//! are pruned; unit totals keep counting. "Last hour" and "last 24 hours"
//! are sums of buckets ([`MinuteState::recent`]).
//!
//! Buckets that end at or before the global watermark
//! ([`MinuteState::set_final_before`]) are final. Live results are
//! emitted early, before that; a late event that still lands in a final
//! bucket is a *correction*, counted on the bucket and on the unit, so the
//! changed row reaches clients flagged as one.
//!
//! The state sits behind a lock shared with the API ([`MinuteWindows::attach`]):
//! the engine runs the query without it and holds it only to add the sums.

use super::batch::{bin_starts_micros, to_record_batch};
use crate::error::{Error, Result};
use crate::kpi::BatchQuery;
use crate::kpi::defs::{COUNTERS, KPIS, minute_sql};
use crate::kpi::report::KpiValue;
use crate::units::UnitRegistry;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use chrono::{DateTime, FixedOffset};
use datafusion::prelude::{SessionConfig, SessionContext};
use model::Event;
use model::kpi::{MinuteCount, ProvinceRow};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, RwLock};

const MINUTE_MICROS: i64 = 60_000_000;

/// The SQL counters a bucket holds, in [`COUNTERS`] order.
const N: usize = COUNTERS.len();

/// Positions of the counters the overview rows show: accepted, accepted
/// online, and dossier events (a unit with none has no row).
static ROW_COUNTERS: LazyLock<(usize, usize, usize)> = LazyLock::new(|| {
    let at = |n: &str| COUNTERS.iter().position(|c| c.name == n).unwrap_or(0);
    (at("accepted"), at("accepted_online"), at("dossier_events"))
});

/// Asia/Ho_Chi_Minh: UTC+7 all year, no daylight saving.
pub fn local_offset() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
}

/// One bucket (or one unit's totals): the counters and how many times a
/// late event changed it after it was final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bin {
    sums: [i64; N],
    corrections: u64,
}

impl Default for Bin {
    fn default() -> Self {
        Self {
            sums: [0; N],
            corrections: 0,
        }
    }
}

impl Bin {
    fn add(&mut self, other: &Bin) {
        for (a, b) in self.sums.iter_mut().zip(other.sums) {
            *a += b;
        }
        self.corrections += other.corrections;
    }

    fn from_parts(sums: &[i64], corrections: u64) -> Self {
        let mut b = Bin {
            corrections,
            ..Bin::default()
        };
        // Sums written by a build with fewer counters are padded with zeros.
        for (a, v) in b.sums.iter_mut().zip(sums) {
            *a = *v;
        }
        b
    }
}

/// The KPIs of the minute buckets in a time range: those whose counters
/// are all event sums (on-time needs dossier state: `/kpis`).
#[derive(Debug, Clone, PartialEq)]
pub struct Recent {
    /// First minute (UTC µs) and the end of the last (exclusive).
    pub from_micros: i64,
    pub to_micros: i64,
    /// Every SQL counter summed over the range, by name.
    pub counters: BTreeMap<&'static str, i64>,
    pub kpis: BTreeMap<&'static str, KpiValue>,
    /// Corrections to final buckets in the range.
    pub corrections: u64,
}

/// The windows' state: every top unit's minute buckets and totals.
#[derive(Debug)]
pub struct MinuteState {
    units: Arc<UnitRegistry>,
    retention_minutes: i64,
    /// How many recent buckets a [`ProvinceRow`] carries.
    row_minutes: usize,
    bins: HashMap<String, BTreeMap<i64, Bin>>,
    totals: HashMap<String, Bin>,
    max_event_micros: i64,
    /// Buckets ending at or before this (UTC µs) are final.
    final_before_micros: i64,
}

/// One-minute windows: the DataFusion query and the state it feeds.
pub struct MinuteWindows {
    query: BatchQuery,
    state: Arc<RwLock<MinuteState>>,
}

impl std::fmt::Debug for MinuteWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinuteWindows").finish_non_exhaustive()
    }
}

impl MinuteWindows {
    /// `retention_minutes` of buckets are kept behind the newest event
    /// (48 hours in the server); rows show the last `row_minutes` buckets.
    pub fn new(units: Arc<UnitRegistry>, retention_minutes: i64, row_minutes: usize) -> Self {
        Self::attach(Arc::new(RwLock::new(MinuteState::new(
            units,
            retention_minutes,
            row_minutes,
        ))))
    }

    /// Windows that feed `state`, which others may read meanwhile.
    pub fn attach(state: Arc<RwLock<MinuteState>>) -> Self {
        Self {
            // One micro-batch is one partition (see `kpi::fold::Folder`).
            query: BatchQuery::new(
                SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1)),
                minute_sql(crate::kpi::BATCH_TABLE),
            ),
            state,
        }
    }

    /// Fold a micro-batch into the windows; returns the top units whose rows
    /// changed.
    pub async fn apply(&mut self, events: &[Event]) -> Result<BTreeSet<String>> {
        if events.is_empty() {
            return Ok(BTreeSet::new());
        }
        let units = self.read().units.clone();
        let batch = to_record_batch(events, &units)?;
        self.apply_batch(batch).await
    }

    /// [`Self::apply`] for a micro-batch already in Arrow form
    /// ([`to_record_batch`]), so that a caller folding the same events
    /// elsewhere builds it once.
    pub async fn apply_batch(&mut self, batch: RecordBatch) -> Result<BTreeSet<String>> {
        if batch.num_rows() == 0 {
            return Ok(BTreeSet::new());
        }
        let result = self.query.run(batch).await?;
        self.write().add(&result)
    }

    /// The state, for reading.
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, MinuteState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The state, for changing.
    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, MinuteState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// See [`MinuteState::set_final_before`].
    pub fn set_final_before(&mut self, watermark: Option<i64>) {
        self.write().set_final_before(watermark);
    }

    pub fn row(&self, code: &str) -> ProvinceRow {
        self.read().row(code)
    }

    pub fn rows(&self) -> Vec<ProvinceRow> {
        self.read().rows()
    }

    pub fn checkpoint(&self) -> WindowsCheckpoint {
        self.read().checkpoint()
    }

    /// Windows holding the state of `checkpoint`.
    pub fn restore(
        units: Arc<UnitRegistry>,
        retention_minutes: i64,
        row_minutes: usize,
        checkpoint: WindowsCheckpoint,
    ) -> Self {
        let w = Self::new(units, retention_minutes, row_minutes);
        w.write().restore(checkpoint);
        w
    }
}

impl MinuteState {
    pub fn new(units: Arc<UnitRegistry>, retention_minutes: i64, row_minutes: usize) -> Self {
        Self {
            units,
            retention_minutes,
            row_minutes,
            bins: HashMap::new(),
            totals: HashMap::new(),
            max_event_micros: i64::MIN,
            final_before_micros: i64::MIN,
        }
    }

    /// Add the result of [`minute_sql`] over one micro-batch; returns the
    /// top units whose rows changed.
    pub fn add(&mut self, result: &[RecordBatch]) -> Result<BTreeSet<String>> {
        let mut changed = BTreeSet::new();
        for rb in result {
            let unit = rb
                .column(0)
                .as_string_opt::<i32>()
                .ok_or_else(|| Error::Schema("top_unit is not text".into()))?;
            let minute = bin_starts_micros(rb.column(1).as_ref())?;
            let cols: Vec<_> = (0..N)
                .map(|c| rb.column(2 + c).as_primitive_opt::<Int64Type>())
                .collect();
            for (i, start) in minute.into_iter().enumerate() {
                let Some(start) = start else { continue };
                let mut part = Bin {
                    corrections: u64::from(
                        start.saturating_add(MINUTE_MICROS) <= self.final_before_micros,
                    ),
                    ..Bin::default()
                };
                for (slot, col) in part.sums.iter_mut().zip(&cols) {
                    *slot = col.filter(|a| !a.is_null(i)).map_or(0, |a| a.value(i));
                }
                let code = unit.value(i);
                let bins = match self.bins.get_mut(code) {
                    Some(b) => b,
                    None => self.bins.entry(code.to_owned()).or_default(),
                };
                bins.entry(start).or_default().add(&part);
                match self.totals.get_mut(code) {
                    Some(t) => t.add(&part),
                    None => {
                        self.totals.insert(code.to_owned(), part);
                    }
                }
                self.max_event_micros = self.max_event_micros.max(start);
                // Rows are about dossiers: a unit's row changes with its
                // dossier events, or with a correction once it has a row.
                let dossiers =
                    part.sums[ROW_COUNTERS.2] > 0 || (part.corrections > 0 && self.has_row(code));
                if dossiers && !changed.contains(code) {
                    changed.insert(code.to_owned());
                }
            }
        }
        self.prune();
        Ok(changed)
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

    fn prune(&mut self) {
        let horizon = self
            .max_event_micros
            .saturating_sub(self.retention_minutes * MINUTE_MICROS);
        for bins in self.bins.values_mut() {
            if bins.first_key_value().is_some_and(|(t, _)| *t < horizon) {
                *bins = bins.split_off(&horizon);
            }
        }
    }

    /// The last `minutes` one-minute buckets up to the newest minute of
    /// any unit, summed over the top units `keep` admits (all of them for
    /// the nation); `None` before any event. `minutes` is capped at the
    /// retention.
    pub fn recent(&self, minutes: i64, keep: impl Fn(&str) -> bool) -> Option<Recent> {
        if self.max_event_micros == i64::MIN {
            return None;
        }
        let minutes = minutes.clamp(1, self.retention_minutes.max(1));
        let to = self.max_event_micros + MINUTE_MICROS;
        let from = to - minutes * MINUTE_MICROS;
        let mut sum = Bin::default();
        for (code, bins) in &self.bins {
            if keep(code) {
                for (_, b) in bins.range(from..to) {
                    sum.add(b);
                }
            }
        }
        let counters: BTreeMap<&'static str, i64> = COUNTERS
            .iter()
            .zip(sum.sums)
            .map(|(c, v)| (c.name, v))
            .collect();
        let kpis = KPIS
            .iter()
            .filter_map(|k| {
                let total = |names: &[&str]| -> Option<i64> {
                    names.iter().map(|n| counters.get(n).copied()).sum()
                };
                let value = KpiValue::ratio(total(k.numerator)?, total(k.denominator)?);
                Some((k.name, value))
            })
            .collect();
        Some(Recent {
            from_micros: from,
            to_micros: to,
            counters,
            kpis,
            corrections: sum.corrections,
        })
    }

    /// The overview row of one top unit.
    pub fn row(&self, code: &str) -> ProvinceRow {
        let (accepted_at, online_at, _) = *ROW_COUNTERS;
        let count = |b: &Bin, at: usize| b.sums[at].max(0) as u64;
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
                    accepted: count(&c, accepted_at),
                    online: count(&c, online_at),
                    corrections: c.corrections,
                }
            })
            .collect::<Vec<MinuteCount>>();
        ProvinceRow {
            code: code.to_owned(),
            name: self.units.name(code).to_owned(),
            accepted: count(&total, accepted_at),
            online: count(&total, online_at),
            minutes_from: minutes
                .first()
                .map(|m| m.minute.clone())
                .unwrap_or_default(),
            minutes,
            final_before: micros_label(self.final_before_micros),
            corrections: total.corrections,
        }
    }

    /// The global watermark the rows are final behind, as RFC 3339 in
    /// UTC+7 (empty before there is one).
    pub fn final_before(&self) -> String {
        micros_label(self.final_before_micros)
    }

    /// The whole window state, for a checkpoint. Together with the log
    /// offset it was taken at, [`MinuteState::restore`] plus the log after
    /// that offset gives exactly the state of an uninterrupted run: bins
    /// and totals are sums, and pruning depends only on the newest event
    /// time seen.
    pub fn checkpoint(&self) -> WindowsCheckpoint {
        let mut bins: Vec<_> = self
            .bins
            .iter()
            .map(|(code, bins)| {
                let bins = bins
                    .iter()
                    .map(|(start, b)| (*start, trimmed(&b.sums), b.corrections));
                (code.clone(), bins.collect())
            })
            .collect();
        bins.sort();
        let mut totals: Vec<_> = self
            .totals
            .iter()
            .map(|(code, b)| (code.clone(), trimmed(&b.sums), b.corrections))
            .collect();
        totals.sort();
        WindowsCheckpoint {
            max_event_micros: self.max_event_micros,
            final_before_micros: self.final_before_micros,
            bins,
            totals,
        }
    }

    /// Replace the state by that of `checkpoint`.
    pub fn restore(&mut self, checkpoint: WindowsCheckpoint) {
        self.max_event_micros = checkpoint.max_event_micros;
        self.final_before_micros = checkpoint.final_before_micros;
        self.bins = checkpoint
            .bins
            .into_iter()
            .map(|(code, bins)| {
                let bins = bins
                    .into_iter()
                    .map(|(start, sums, corrections)| (start, Bin::from_parts(&sums, corrections)));
                (code, bins.collect())
            })
            .collect();
        self.totals = checkpoint
            .totals
            .into_iter()
            .map(|(code, sums, corrections)| (code, Bin::from_parts(&sums, corrections)))
            .collect();
        // A checkpoint from a server with a longer retention.
        self.prune();
    }

    fn has_row(&self, code: &str) -> bool {
        self.totals
            .get(code)
            .is_some_and(|t| t.sums[ROW_COUNTERS.2] > 0)
    }

    /// Every top unit that has seen a dossier event, ordered by code.
    pub fn rows(&self) -> Vec<ProvinceRow> {
        let mut codes: Vec<_> = self.totals.keys().filter(|c| self.has_row(c)).collect();
        codes.sort();
        codes.into_iter().map(|c| self.row(c)).collect()
    }
}

/// Counters without their trailing zeros (restore pads them back).
fn trimmed(sums: &[i64]) -> Vec<i64> {
    let len = sums.iter().rposition(|x| *x != 0).map_or(0, |i| i + 1);
    sums[..len].to_vec()
}

fn micros_label(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .filter(|_| micros > i64::MIN)
        .map(|t| t.with_timezone(&local_offset()).to_rfc3339())
        .unwrap_or_default()
}

/// One minute bin: (start in UTC microseconds, counters in
/// [`COUNTERS`] order, corrections).
pub type BinCounts = (i64, Vec<i64>, u64);

/// The state of [`MinuteWindows`] as plain data, ordered by unit code so
/// the same state always serialises to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowsCheckpoint {
    pub max_event_micros: i64,
    /// The global watermark the last results were final behind (UTC µs).
    pub final_before_micros: i64,
    /// Per top unit: its minute bins.
    pub bins: Vec<(String, Vec<BinCounts>)>,
    /// Per top unit: (counters, corrections) since the log began.
    pub totals: Vec<(String, Vec<i64>, u64)>,
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
    async fn last_hour_and_last_day_are_sums_of_minute_buckets_of_every_counter() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let mut w = MinuteWindows::new(units.clone(), 48 * 60, 30);
        let doc = |id: &str, at: &str, unit: &str, electronic: bool| {
            format!(
                r#"{{"event_id":"{id}","kind":"document","occurred_at":"{at}","unit":"{unit}","doc_id":"{id}","direction":"issued","electronic":{electronic},"signed":true}}"#
            )
        };
        let text = [
            // Yesterday evening: in the last 24 hours, not the last hour.
            accepted("a", "2025-11-19T18:00:00+07:00", "00070", "counter"),
            doc("d1", "2025-11-19T18:00:00+07:00", "01", false),
            // The last hour, ending with the newest minute (10:30).
            accepted("b", "2025-11-20T09:31:00+07:00", "01", "online"),
            accepted("c", "2025-11-20T10:30:59+07:00", "79", "online"),
            doc("d2", "2025-11-20T10:00:00+07:00", "01", true),
            // A ministry's documents count but give it no overview row.
            doc("d3", "2025-11-20T10:10:00+07:00", "BNG", true),
            // Just outside the hour.
            accepted("e", "2025-11-20T09:30:59+07:00", "01", "counter"),
        ]
        .join("\n");
        w.apply(&events(&text, &units)).await.unwrap();
        let state = w.read();
        let hour = state.recent(60, |_| true).unwrap();
        assert_eq!(micros_label(hour.from_micros), "2025-11-20T09:31:00+07:00");
        assert_eq!(micros_label(hour.to_micros), "2025-11-20T10:31:00+07:00");
        let kpi = |r: &Recent, k: &str| (r.kpis[k].numerator, r.kpis[k].denominator);
        assert_eq!(kpi(&hour, "online_dossiers"), (2, 2));
        assert_eq!(kpi(&hour, "electronic_documents"), (2, 2));
        assert!(!hour.kpis.contains_key("on_time"), "needs dossier state");
        let day = state.recent(24 * 60, |_| true).unwrap();
        assert_eq!(kpi(&day, "online_dossiers"), (2, 4));
        assert_eq!(kpi(&day, "electronic_documents"), (2, 3));
        // Hà Nội alone.
        let hanoi = state.recent(24 * 60, |u| u == "01").unwrap();
        assert_eq!(kpi(&hanoi, "online_dossiers"), (1, 3));
        assert_eq!(hanoi.counters["documents"], 2);
        // The ministry has no overview row; the localities with dossiers do.
        let rows: Vec<_> = state.rows().into_iter().map(|r| r.code).collect();
        assert_eq!(rows, ["01", "79"]);
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
