//! The batch KPI report behind `govpulse kpi`: every KPI of [`super::defs`]
//! per period and unit at one level, from a set of events.
//!
//! ```text
//!  events ─► Arrow batches ─► DataFusion hourly partial sums per unit ─┐
//!        └─► dossier histories (on time, open/overdue/due-soon spans) ──┤
//!                                              roll up to the level, ◄─┘
//!                                              merge hours into periods
//! ```

use super::defs::{
    COUNTS, KPIS, SCORE_766, YEAR_ON_YEAR, at_resolution, counter_index, counter_names,
    processing_bucket, processing_percentile, score_766_by_item,
};
use super::dossiers;
use super::fold::{Breakdown, Fold, Folder, Partials};
use crate::error::{Error, Result};
use crate::units::UnitRegistry;
use crate::windows::periods::Period;
use model::calendar::WorkCalendar;
use model::{Event, UnitLevel};
use serde::Serialize;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

/// The roll-up levels of the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Commune,
    Province,
    Ministry,
    Ministries,
    Localities,
    Nation,
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "commune" => Self::Commune,
            "province" => Self::Province,
            "ministry" => Self::Ministry,
            "ministries" => Self::Ministries,
            "localities" => Self::Localities,
            "nation" => Self::Nation,
            _ => {
                return Err(format!(
                    "unknown level {s:?}: use commune, province, ministry, ministries, localities or nation"
                ));
            }
        })
    }
}

/// Codes of the aggregate units.
pub const ALL_MINISTRIES: &str = "MINISTRIES";
pub const ALL_LOCALITIES: &str = "LOCALITIES";

impl Level {
    /// The unit at this level that a leaf unit rolls up into, if any.
    pub fn key<'a>(self, unit: &'a str, units: &'a UnitRegistry) -> Option<&'a str> {
        let level = model::UnitCode::parse(unit).ok()?.level();
        let ministry = level == UnitLevel::Ministry;
        match self {
            Self::Commune => (level == UnitLevel::Commune).then_some(unit),
            Self::Province => (!ministry).then(|| units.top_unit(unit)).flatten(),
            Self::Ministry => ministry.then_some(unit),
            Self::Ministries => ministry.then_some(ALL_MINISTRIES),
            Self::Localities => (!ministry).then_some(ALL_LOCALITIES),
            Self::Nation => Some(model::UnitCode::NATION),
        }
    }
}

/// One KPI value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiValue {
    pub numerator: i64,
    pub denominator: i64,
    /// Percent; `None` when the denominator is zero.
    pub value: Option<f64>,
}

impl KpiValue {
    /// `numerator / denominator` in percent.
    pub fn ratio(numerator: i64, denominator: i64) -> Self {
        Self {
            numerator,
            denominator,
            value: (denominator > 0).then(|| numerator as f64 * 100.0 / denominator as f64),
        }
    }
}

/// The KPIs of a row, one per entry of [`KPIS`] in that order: read by
/// name, and written as a map in name order, as a `BTreeMap` would be.
/// A fixed array: building a row allocates nothing for its KPIs.
#[derive(Debug, Clone, PartialEq)]
pub struct Kpis([KpiValue; KPIS.len()]);

/// Positions in [`KPIS`] in the order of the names.
static KPIS_BY_NAME: std::sync::LazyLock<[usize; KPIS.len()]> = std::sync::LazyLock::new(|| {
    let mut at: [usize; KPIS.len()] = std::array::from_fn(|i| i);
    at.sort_unstable_by_key(|i| KPIS[*i].name);
    at
});

impl Kpis {
    /// The KPI called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&KpiValue> {
        let by_name = &*KPIS_BY_NAME;
        by_name
            .binary_search_by(|i| KPIS[*i].name.cmp(name))
            .ok()
            .map(|at| &self.0[by_name[at]])
    }

    /// (name, value) in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &KpiValue)> {
        KPIS_BY_NAME.iter().map(|i| (KPIS[*i].name, &self.0[*i]))
    }

    /// The values in name order.
    pub fn values(&self) -> impl Iterator<Item = &KpiValue> {
        self.iter().map(|(_, v)| v)
    }

    /// The values in [`KPIS`] order.
    pub fn in_definition_order(&self) -> &[KpiValue] {
        &self.0
    }
}

impl std::ops::Index<&str> for Kpis {
    type Output = KpiValue;
    fn index(&self, name: &str) -> &KpiValue {
        self.get(name)
            .unwrap_or_else(|| panic!("no KPI called {name:?}"))
    }
}

impl Serialize for Kpis {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

fn shared_text<S: serde::Serializer>(t: &Arc<str>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(t)
}

/// One output row: a unit in a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiRow {
    // Labels are shared by the rows of a period or of a unit.
    #[serde(serialize_with = "shared_text")]
    pub period: Arc<str>,
    #[serde(serialize_with = "shared_text")]
    pub period_start: Arc<str>,
    #[serde(serialize_with = "shared_text")]
    pub unit: Arc<str>,
    #[serde(serialize_with = "shared_text")]
    pub name: Arc<str>,
    /// The procedure of a `--by procedure` row; `None` for events without
    /// one (documents, reports, meetings) and in reports without breakdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procedure: Option<String>,
    /// The channel of a `--by channel` row (that of each dossier's
    /// `accepted`); `None` for documents, reports, meetings and dossiers
    /// never seen accepted, and in reports without breakdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub kpis: Kpis,
    pub overdue_open: i64,
    pub due_soon_open: i64,
    /// Working time from accepted to resolved of the dossiers resolved in
    /// the period, read off the mergeable histogram.
    pub processing_hours: ProcessingTime,
    /// The 766-style composite score, 0–100 ([`super::defs::score_766`]).
    pub score_766: Option<f64>,
    /// Documents and meetings against the same part of the period a year
    /// before, by name; empty when the events reach back less than a year.
    pub year_on_year: BTreeMap<&'static str, VolumeChange>,
}

/// A volume against the same part of the same period a year before.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VolumeChange {
    pub this_period: i64,
    pub year_before: i64,
    /// Percent change; `None` when there was nothing a year before.
    pub change_pct: Option<f64>,
    /// The yearly target change in percent (documents −15, meetings −10).
    pub target_pct: f64,
}

/// Percentiles of the processing-time histogram, in working hours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessingTime {
    /// Resolved dossiers the histogram holds.
    pub resolved: i64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

/// The year-on-year volumes ([`YEAR_ON_YEAR`]) of one hour.
type Volumes = [i64; YEAR_ON_YEAR.len()];

/// A row's key besides its period: (level key id, breakdown value).
type RowKey = (u32, u64);

/// One row's sums: ((period start, level key id, breakdown value), sums in
/// [`counter_names`] order).
type RowSums = ((i64, u32, u64), Vec<i64>);

/// The keys of one report level (unit codes, or the roll-up names), each
/// interned as a small number in text order, so that rows sorted by
/// (period, key id, breakdown) come out as sorted by (period, key text,
/// breakdown), and each leaf unit's key is found by index, not by
/// parsing its code again for every partial sum.
struct LevelKeys {
    /// Per key id: its code and display name as rows carry them (shared
    /// by every row of the key).
    labels: Vec<(Arc<str>, Arc<str>)>,
    /// Per dense unit index: its key id at the level, if it has one.
    of_unit: Vec<Option<u32>>,
}

impl LevelKeys {
    fn new(units: &UnitRegistry, level: Level) -> Self {
        let texts: Vec<Option<&str>> = (0..units.len() as u32)
            .map(|i| units.at(i).and_then(|u| level.key(u.code.as_str(), units)))
            .collect();
        let mut names: Vec<&str> = texts.iter().flatten().copied().collect();
        names.sort_unstable();
        names.dedup();
        let of_unit = texts
            .iter()
            .map(|t| {
                t.and_then(|t| names.binary_search(&t).ok())
                    .map(|i| i as u32)
            })
            .collect();
        let labels = names
            .iter()
            .map(|k| (Arc::from(*k), Arc::from(unit_name(k, units))))
            .collect();
        Self { labels, of_unit }
    }

    fn of(&self, unit: u32) -> Option<u32> {
        self.of_unit.get(unit as usize).copied().flatten()
    }

    /// The code and display name of key id `key`.
    fn labels(&self, key: u32) -> (Arc<str>, Arc<str>) {
        self.labels[key as usize].clone()
    }
}

/// The year-on-year volumes per row key as running totals over hours, so
/// the volume of any window is two binary searches.
struct VolumeIndex {
    /// (hour start, totals up to and including that hour), by hour.
    by_key: crate::keys::FastMap<RowKey, Vec<(i64, Volumes)>>,
    /// The earliest hour of any key (`i64::MAX` when there is none).
    first: i64,
}

impl VolumeIndex {
    fn new(partials: &Partials, keys: &LevelKeys) -> Self {
        let idx: [usize; YEAR_ON_YEAR.len()] =
            std::array::from_fn(|i| counter_index(YEAR_ON_YEAR[i].0).unwrap_or(0));
        let mut by_key: crate::keys::FastMap<RowKey, Vec<(i64, Volumes)>> = Default::default();
        for ((unit, hour, dim), v) in partials {
            let vals = idx.map(|i| v[i]);
            if vals.iter().all(|x| *x == 0) {
                continue;
            }
            let Some(k) = keys.of(*unit) else { continue };
            by_key.entry((k, *dim)).or_default().push((*hour, vals));
        }
        for list in by_key.values_mut() {
            list.sort_unstable_by_key(|(h, _)| *h);
            let mut acc: Volumes = [0; YEAR_ON_YEAR.len()];
            for (_, v) in list.iter_mut() {
                for (a, x) in acc.iter_mut().zip(v.iter()) {
                    *a += x;
                }
                *v = acc;
            }
        }
        let first = by_key
            .values()
            .filter_map(|l| l.first().map(|(h, _)| *h))
            .min()
            .unwrap_or(i64::MAX);
        Self { by_key, first }
    }

    /// Volumes of the hours starting in `[from, to)`.
    fn sum(&self, key: &RowKey, from: i64, to: i64) -> Volumes {
        let Some(list) = self.by_key.get(key) else {
            return [0; YEAR_ON_YEAR.len()];
        };
        let upto = |t: i64| {
            let n = list.partition_point(|(h, _)| *h < t);
            n.checked_sub(1)
                .map_or([0; YEAR_ON_YEAR.len()], |i| list[i].1)
        };
        let (b, a) = (upto(to), upto(from));
        std::array::from_fn(|i| b[i] - a[i])
    }
}

/// Where one row key's state counters come from ([`plan`]).
#[derive(Default)]
struct KeySources<'a> {
    /// The spans of each of the key's units.
    spans: Vec<&'a [dossiers::Span]>,
    /// (hour, sums) of the key's compacted dossiers.
    frozen: Vec<(i64, &'a Vec<i64>)>,
    /// At most this many deltas.
    len: usize,
}

/// A span's start (+1) or end (-1) for one state counter: (time, its slot
/// among the state counters read at period ends, change).
type Delta = (i64, usize, i64);

/// The state counters read at period ends ([`super::defs::STATE_COUNTERS`]
/// less those counted at resolution), at most this many: the sweep keeps
/// them in a fixed array rather than a full-width vector per reading (a
/// test holds the definitions to it).
const STATE_READ: usize = 4;

/// The state counters of one key at one period end, by slot.
type StateRead = ((i64, u32, u64), [i64; STATE_READ]);

/// Options of a batch report.
#[derive(Debug, Clone, Copy)]
pub struct ReportSpec {
    pub level: Level,
    pub period: Period,
    /// Events per DataFusion micro-batch.
    pub chunk: usize,
}

/// Compute the report over a slice of events, folded in micro-batches of
/// `spec.chunk` events. State counters are read at the end of each period,
/// or at the newest event time for the period that holds it.
pub async fn report(
    events: &[Event],
    units: Arc<UnitRegistry>,
    calendar: &WorkCalendar,
    spec: ReportSpec,
) -> Result<Vec<KpiRow>> {
    let folder = Folder::new(units.clone());
    let mut fold = Fold::default();
    for part in events.chunks(spec.chunk.max(1)) {
        folder.fold(part, &mut fold).await?;
    }
    report_of(fold, &units, calendar, spec)
}

/// The report of everything folded into `fold`.
pub fn report_of(
    fold: Fold,
    units: &Arc<UnitRegistry>,
    calendar: &WorkCalendar,
    spec: ReportSpec,
) -> Result<Vec<KpiRow>> {
    Ok(plan_of(fold, units, calendar, spec)?.rows())
}

/// The rows of everything folded into `fold`, ready to be built or
/// written block by block ([`RowPlan::write`]) without holding them all.
pub fn plan_of(
    fold: Fold,
    units: &Arc<UnitRegistry>,
    calendar: &WorkCalendar,
    spec: ReportSpec,
) -> Result<RowPlan> {
    let Some((oldest, newest)) = fold.span else {
        return plan(
            Partials::default(),
            dossiers::FactsMap::default(),
            Partials::default(),
            0,
            -1,
            units,
            spec,
            fold.breakdown,
        );
    };
    let Fold {
        partials,
        dossiers,
        frozen,
        breakdown,
        ..
    } = fold;
    // The histories are freed as their facts are taken.
    let facts = dossiers.into_facts_by(calendar, breakdown);
    plan(
        partials, facts, frozen, oldest, newest, units, spec, breakdown,
    )
}

/// Rows from hourly partial sums and dossier facts (by dense unit index
/// and `breakdown` value) over `[oldest, newest]` (Unix seconds): hours
/// merged into periods and rolled up to the level, state counters read at
/// each period's end.
/// Shared by [`report`] and the history over the Parquet archive (which
/// has no dossier facts).
pub fn rows(
    partials: Partials,
    facts: dossiers::FactsMap,
    oldest: i64,
    newest: i64,
    units: &Arc<UnitRegistry>,
    spec: ReportSpec,
    breakdown: Breakdown,
) -> Result<Vec<KpiRow>> {
    Ok(plan(
        partials,
        facts,
        Partials::default(),
        oldest,
        newest,
        units,
        spec,
        breakdown,
    )?
    .rows())
}

/// The sums of every row, in row order, and what turns them into
/// [`KpiRow`]s. Building a row is independent of the others, so rows are
/// built on every core, and written a block at a time.
pub struct RowPlan {
    sums: Vec<RowSums>,
    keys: LevelKeys,
    volumes: VolumeIndex,
    shape: RowShape,
    spec: ReportSpec,
    newest: i64,
    breakdown: Breakdown,
}

/// Rows built and encoded per block when writing: bounds the memory of
/// the rows in flight, whatever the report's size.
const ROW_BLOCK: usize = 16_384;

impl RowPlan {
    /// Rows the plan gives.
    pub fn len(&self) -> usize {
        self.sums.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }

    /// Every row, built on every core.
    pub fn rows(&self) -> Vec<KpiRow> {
        let mut out = Vec::with_capacity(self.sums.len());
        for part in self.in_parallel(&self.sums, 0, |_, rows| rows) {
            out.extend(part);
        }
        out
    }

    /// Write every row: `encode` turns a run of consecutive rows, the
    /// first of them at the given position in the report, into bytes (on
    /// every core), and the bytes go to `out` in row order, one block of
    /// rows at a time. Returns the number of rows.
    pub fn write<E>(&self, encode: E, out: &mut dyn std::io::Write) -> std::io::Result<usize>
    where
        E: Fn(usize, &[KpiRow]) -> std::io::Result<Vec<u8>> + Sync,
    {
        for (i, block) in self.sums.chunks(ROW_BLOCK).enumerate() {
            let parts = self.in_parallel(block, i * ROW_BLOCK, |at, rows| encode(at, &rows));
            for bytes in parts {
                out.write_all(&bytes?)?;
            }
        }
        Ok(self.sums.len())
    }

    /// `then` of the rows of consecutive parts of `sums` (the first at
    /// position `base` of the report), one part per core, in order.
    fn in_parallel<T: Send>(
        &self,
        sums: &[RowSums],
        base: usize,
        then: impl Fn(usize, Vec<KpiRow>) -> T + Sync,
    ) -> Vec<T> {
        let workers = super::cores();
        let part = sums.len().div_ceil(workers).max(1024);
        if sums.len() <= part {
            return vec![then(base, self.build(sums))];
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = sums
                .chunks(part)
                .enumerate()
                .map(|(i, p)| {
                    let then = &then;
                    s.spawn(move || then(base + i * part, self.build(p)))
                })
                .collect();
            handles
                .into_iter()
                // A worker can only panic on a bug; fail loudly rather
                // than report partial rows.
                .map(|h| h.join().expect("a report worker panicked"))
                .collect()
        })
    }

    fn build(&self, part: &[RowSums]) -> Vec<KpiRow> {
        let spec = self.spec;
        // The period of the last row: its start, labels and end.
        let mut labels: (i64, Arc<str>, Arc<str>, Option<i64>) =
            (i64::MIN, "".into(), "".into(), None);
        part.iter()
            .map(|((start, key, dim), v)| {
                if labels.0 != *start {
                    let period_start = if spec.period == Period::All {
                        String::new()
                    } else {
                        label_time(*start)
                    };
                    labels = (
                        *start,
                        spec.period.label(*start).into(),
                        period_start.into(),
                        (spec.period != Period::All)
                            .then(|| spec.period.next(*start).min(self.newest + 1)),
                    );
                }
                let mut row = self.shape.row(
                    v,
                    (labels.1.clone(), labels.2.clone()),
                    self.keys.labels(*key),
                );
                let value = || super::dossiers::unpack_code(*dim);
                row.procedure = (self.breakdown == Breakdown::Procedure)
                    .then(value)
                    .flatten();
                row.channel = (self.breakdown == Breakdown::Channel).then(value).flatten();
                // A year before `end` is at least 365 days before it: when
                // that is before the first hour with volumes, there is
                // nothing to compare with.
                if let Some(end) = labels.3.filter(|e| e - 365 * 86_400 > self.volumes.first) {
                    let before = self.volumes.sum(
                        &(*key, *dim),
                        Period::year_before(*start),
                        Period::year_before(end),
                    );
                    row.year_on_year = self.shape.year_on_year(v, before);
                }
                row
            })
            .collect()
    }
}

/// Positions of `resolved_on_time` and of each processing-time bucket
/// counter (in bucket order) in a sum vector.
static RESOLUTION_COUNTERS: std::sync::LazyLock<(usize, Vec<usize>)> =
    std::sync::LazyLock::new(|| {
        let at = |n: &str| counter_index(n).expect("a counter of defs.rs");
        let buckets = (0..=super::defs::PROCESSING_BOUNDS_HOURS.len())
            .map(|i| {
                let minutes = super::defs::PROCESSING_BOUNDS_HOURS
                    .get(i)
                    .map_or(i64::MAX, |h| h * 60);
                at(processing_bucket(minutes))
            })
            .collect();
        (at("resolved_on_time"), buckets)
    });

/// Add the facts counted at a dossier's resolution (on time, processing
/// time) to the hourly sums of `unit` and breakdown value `dim`.
pub(crate) fn add_resolution_facts(
    partials: &mut Partials,
    unit: u32,
    dim: u64,
    f: &dossiers::UnitFacts,
) {
    let (on_time, buckets) = &*RESOLUTION_COUNTERS;
    let width = counter_names().len();
    let mut add = |t: i64, counter: usize| {
        partials
            .entry((unit, t.div_euclid(3600) * 3600, dim))
            .or_insert_with(|| vec![0; width])[counter] += 1;
    };
    for &t in &f.resolved_on_time {
        add(t, *on_time);
    }
    for &(t, minutes) in &f.processing {
        let i = super::defs::PROCESSING_BOUNDS_HOURS.partition_point(|h| minutes > h * 60);
        add(t, buckets[i]);
    }
}

/// The [`RowPlan`] of hourly partial sums, dossier facts, and the span
/// changes of compacted dossiers ([`Fold::frozen`]).
#[allow(clippy::too_many_arguments)]
fn plan(
    mut partials: Partials,
    facts: dossiers::FactsMap,
    frozen: Partials,
    oldest: i64,
    newest: i64,
    units: &Arc<UnitRegistry>,
    spec: ReportSpec,
    breakdown: Breakdown,
) -> Result<RowPlan> {
    let names = counter_names();
    let width = names.len();
    for (&(unit, dim), f) in &facts {
        add_resolution_facts(&mut partials, unit, dim, f);
    }
    let keys = LevelKeys::new(units, spec.level);
    let volumes = VolumeIndex::new(&partials, &keys);

    // Event counters: merge hours into (period, key), sorted.
    let mut sums: Vec<RowSums> = partials
        .into_iter()
        .filter_map(|((unit, hour, dim), v)| {
            Some(((spec.period.start(hour), keys.of(unit)?, dim), v))
        })
        .collect();
    sums.sort_unstable_by_key(|(k, _)| *k);
    sums.dedup_by(|(k, later), (first_k, first)| {
        let same = k == first_k;
        if same {
            for (a, b) in first.iter_mut().zip(later.iter()) {
                *a += b;
            }
        }
        same
    });

    // State counters at the end of every period from the oldest to the
    // newest event: one sorted sweep per key over span starts (+1) and ends
    // (-1), so a span counts at `at` exactly when start <= at < end.
    let state: Vec<(&str, usize)> = super::defs::STATE_COUNTERS
        .iter()
        .filter(|n| !at_resolution(n))
        .filter_map(|n| Some((*n, counter_index(n)?)))
        .collect();
    if state.len() > STATE_READ {
        return Err(Error::Schema(format!(
            "{} state counters, the report reads at most {STATE_READ}",
            state.len()
        )));
    }
    // What each key's state is made of: the spans of its units' dossiers
    // and the changes of its compacted ones, gathered by reference. They
    // become the key's deltas on the core that sweeps it.
    let mut sources: crate::keys::FastMap<RowKey, KeySources<'_>> = Default::default();
    for (&(unit, dim), f) in &facts {
        let Some(key) = keys.of(unit) else {
            continue;
        };
        let src = sources.entry((key, dim)).or_default();
        src.spans.push(&f.spans);
        src.len += 2 * f.spans.len();
    }
    for (&(unit, hour, dim), v) in &frozen {
        let Some(key) = keys.of(unit) else {
            continue;
        };
        let src = sources.entry((key, dim)).or_default();
        src.frozen.push((hour, v));
        src.len += state.len();
    }
    // The period ends at which the state is read.
    let mut ends: Vec<(i64, i64)> = Vec::new();
    let mut period = spec.period.start(oldest);
    loop {
        ends.push((period, spec.period.next(period).min(newest + 1) - 1));
        let next = spec.period.next(period);
        if next > newest || spec.period == Period::All {
            break;
        }
        period = next;
    }
    // Each key's deltas sorted and swept through the period ends: keys
    // are independent, so they are shared out between the cores.
    let sweep = |keys: Vec<(RowKey, KeySources<'_>)>| {
        let mut read: Vec<StateRead> = Vec::new();
        let mut deltas: Vec<Delta> = Vec::new();
        for (key, src) in keys {
            deltas.clear();
            for spans in src.spans {
                for s in spans {
                    let Some(i) = state.iter().position(|(n, _)| *n == s.counter) else {
                        continue;
                    };
                    deltas.push((s.start, i, 1));
                    if s.end != i64::MAX {
                        deltas.push((s.end, i, -1));
                    }
                }
            }
            // Compacted dossiers' spans: each change counts from the end
            // of its hour on, as the span it came from did at every
            // hour-boundary reading.
            for (hour, v) in src.frozen {
                for (slot, &(_, i)) in state.iter().enumerate() {
                    if v[i] != 0 {
                        deltas.push((hour + 3599, slot, v[i]));
                    }
                }
            }
            deltas.sort_unstable();
            let mut current = [0i64; STATE_READ];
            let mut cursor = 0;
            for &(period, at) in &ends {
                while let Some(&(_, i, d)) = deltas.get(cursor).filter(|(t, _, _)| *t <= at) {
                    current[i] += d;
                    cursor += 1;
                }
                if current.iter().any(|v| *v != 0) {
                    read.push(((period, key.0, key.1), current));
                }
            }
        }
        read
    };
    let mut todo: Vec<(RowKey, KeySources<'_>)> = sources.into_iter().collect();
    let workers = super::cores();
    let mut read = if workers == 1 || todo.len() < 64 {
        sweep(todo)
    } else {
        // Dealt out largest first, so that the few keys with most of the
        // dossiers (ministries) do not all land on one core.
        todo.sort_by_key(|(_, src)| std::cmp::Reverse(src.len));
        let mut parts: Vec<Vec<(RowKey, KeySources<'_>)>> =
            (0..workers).map(|_| Vec::new()).collect();
        for (i, item) in todo.into_iter().enumerate() {
            parts[i % workers].push(item);
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|part| s.spawn(|| sweep(part)))
                .collect();
            let parts: Vec<Vec<StateRead>> = handles
                .into_iter()
                // A worker can only panic on a bug; fail loudly rather
                // than report partial numbers.
                .map(|h| h.join().expect("a state sweep panicked"))
                .collect();
            // One list of exactly the readings' size.
            parts.concat()
        })
    };
    // The spans are all read: free them before the rows are merged.
    drop(facts);
    read.sort_unstable_by_key(|(k, _)| *k);
    // A row's state counters are those read at its period's end (they
    // replace whatever the sums held there), or the state is a row of its
    // own.
    let put = |into: &mut [i64], read: [i64; STATE_READ]| {
        for (slot, &(_, i)) in state.iter().enumerate() {
            into[i] = read[slot];
        }
    };
    let mut sums = merge_sorted(
        sums,
        read,
        |into, read| put(into, read),
        |read| {
            let mut row = vec![0; width];
            put(&mut row, read);
            row
        },
    );
    if oldest > newest {
        sums.clear();
    }
    Ok(RowPlan {
        sums,
        keys,
        volumes,
        shape: RowShape::new(&names)?,
        spec,
        newest,
        breakdown,
    })
}

/// Two lists sorted by key, each key at most once in each, as one sorted
/// list; `both` combines the values of a key in both into the first's,
/// `alone` makes a value of the first kind of one only in the second.
fn merge_sorted<K: Ord, V, W>(
    a: Vec<(K, V)>,
    b: Vec<(K, W)>,
    both: impl Fn(&mut V, W),
    alone: impl Fn(W) -> V,
) -> Vec<(K, V)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => break,
        };
        match next {
            std::cmp::Ordering::Less => out.extend(a.next()),
            std::cmp::Ordering::Greater => out.extend(b.next().map(|(k, w)| (k, alone(w)))),
            std::cmp::Ordering::Equal => {
                if let (Some(mut x), Some(y)) = (a.next(), b.next()) {
                    both(&mut x.1, y.1);
                    out.push(x);
                }
            }
        }
    }
    out
}

/// Where each KPI's numerator and denominator, the counts, the
/// processing-time buckets and the year-on-year volumes sit in a sum
/// vector: found once per report, not once per row.
struct RowShape {
    /// Per KPI of [`KPIS`]: the positions summed into its numerator and
    /// its denominator.
    kpis: Vec<(Vec<usize>, Vec<usize>)>,
    counts: [usize; 2],
    /// The processing-time bucket counters, in bucket order.
    processing: Vec<usize>,
    volumes: [usize; YEAR_ON_YEAR.len()],
    /// Per indicator of [`SCORE_766`], the position of its KPI in [`KPIS`].
    score: Vec<Option<usize>>,
}

impl RowShape {
    fn new(names: &[&str]) -> Result<Self> {
        let idx = |n: &str| {
            names
                .iter()
                .position(|x| *x == n)
                .ok_or_else(|| Error::Schema(format!("no counter {n}")))
        };
        let all = |ns: &[&str]| ns.iter().map(|n| idx(n)).collect::<Result<Vec<_>>>();
        let kpis = KPIS
            .iter()
            .map(|k| Ok((all(k.numerator)?, all(k.denominator)?)))
            .collect::<Result<_>>()?;
        let mut volumes = [0; YEAR_ON_YEAR.len()];
        for (slot, (name, _)) in volumes.iter_mut().zip(YEAR_ON_YEAR) {
            *slot = idx(name)?;
        }
        Ok(Self {
            kpis,
            counts: [idx(COUNTS[0])?, idx(COUNTS[1])?],
            processing: (0..names.len())
                .filter(|i| names[*i].starts_with("processing_"))
                .collect(),
            volumes,
            score: SCORE_766
                .iter()
                .map(|item| KPIS.iter().position(|k| k.name == item.kpi))
                .collect(),
        })
    }

    /// The row of sums `v` of a unit or roll-up (code and name), in the
    /// period labelled `period`; no breakdown and no year-on-year yet.
    fn row(
        &self,
        v: &[i64],
        (period, period_start): (Arc<str>, Arc<str>),
        (unit, name): (Arc<str>, Arc<str>),
    ) -> KpiRow {
        let sum = |at: &[usize]| at.iter().map(|i| v[*i]).sum::<i64>();
        let kpis = Kpis(std::array::from_fn(|i| {
            let (num, den) = &self.kpis[i];
            KpiValue::ratio(sum(num), sum(den))
        }));
        let buckets: Vec<i64> = self.processing.iter().map(|i| v[*i]).collect();
        KpiRow {
            score_766: score_766_by_item(|i| self.score[i].and_then(|k| kpis.0[k].value)),
            year_on_year: BTreeMap::new(),
            procedure: None,
            channel: None,
            period,
            period_start,
            name,
            unit,
            kpis,
            overdue_open: v[self.counts[0]],
            due_soon_open: v[self.counts[1]],
            processing_hours: ProcessingTime {
                resolved: buckets.iter().sum(),
                p50: processing_percentile(&buckets, 0.5),
                p90: processing_percentile(&buckets, 0.9),
            },
        }
    }

    /// The year-on-year changes of sums `v` against the volumes of the
    /// same part of the period a year before; volumes that were 0 then
    /// are left out.
    fn year_on_year(&self, v: &[i64], before: Volumes) -> BTreeMap<&'static str, VolumeChange> {
        YEAR_ON_YEAR
            .iter()
            .zip(self.volumes)
            .zip(before)
            .filter(|(_, last)| *last > 0)
            .map(|((&(name, target_pct), at), last)| {
                let now = v[at];
                (
                    name,
                    VolumeChange {
                        this_period: now,
                        year_before: last,
                        change_pct: Some((now - last) as f64 * 100.0 / last as f64),
                        target_pct,
                    },
                )
            })
            .collect()
    }
}

fn label_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .with_timezone(&model::calendar::vn_offset())
        .to_rfc3339()
}

fn unit_name(key: &str, units: &UnitRegistry) -> String {
    match key {
        ALL_MINISTRIES => "Các bộ, cơ quan ngang bộ".into(),
        ALL_LOCALITIES => "Các địa phương".into(),
        model::UnitCode::NATION => "Toàn quốc".into(),
        k => units.name(k).to_owned(),
    }
}

/// The CSV header of [`write_csv`].
pub fn csv_header() -> Vec<String> {
    let mut h: Vec<String> = [
        "period",
        "period_start",
        "unit",
        "name",
        "procedure",
        "channel",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for k in KPIS {
        h.extend([
            format!("{}_numerator", k.name),
            format!("{}_denominator", k.name),
            format!("{}_pct", k.name),
        ]);
    }
    h.extend(COUNTS.iter().map(|c| c.to_string()));
    h.extend(
        [
            "processing_resolved",
            "processing_p50_hours",
            "processing_p90_hours",
            "score_766",
        ]
        .map(String::from),
    );
    for (name, _) in YEAR_ON_YEAR {
        h.extend([format!("{name}_year_before"), format!("{name}_change_pct")]);
    }
    h
}

/// Write rows as CSV, one line per period and unit.
pub fn write_csv(rows: &[KpiRow], mut out: impl std::io::Write) -> std::io::Result<()> {
    out.write_all(&csv_lines(&csv_header())?)?;
    out.write_all(&csv_rows(0, rows)?)?;
    out.flush()
}

/// Write a plan's rows as CSV, built and encoded on every core; as
/// [`write_csv`] of [`RowPlan::rows`], without holding every row.
pub fn write_csv_plan(plan: &RowPlan, out: &mut dyn std::io::Write) -> std::io::Result<usize> {
    out.write_all(&csv_lines(&csv_header())?)?;
    plan.write(csv_rows, out)
}

/// Write a plan's rows as one pretty-printed JSON array, byte for byte as
/// `serde_json::to_writer_pretty` of [`RowPlan::rows`], built and encoded
/// on every core without holding every row.
pub fn write_json_plan(plan: &RowPlan, out: &mut dyn std::io::Write) -> std::io::Result<usize> {
    if plan.is_empty() {
        out.write_all(b"[]")?;
        return Ok(0);
    }
    out.write_all(b"[")?;
    let n = plan.write(json_elements, out)?;
    out.write_all(b"\n]")?;
    Ok(n)
}

/// Rows as elements of a pretty-printed array: each on its own lines,
/// indented one level, after "\n" (the first of the array) or ",\n".
fn json_elements(at: usize, rows: &[KpiRow]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(rows.len() * 2048);
    for (i, r) in rows.iter().enumerate() {
        out.extend_from_slice(if at + i == 0 { b"\n" } else { b",\n" });
        let text = serde_json::to_string_pretty(r).map_err(std::io::Error::other)?;
        for (j, line) in text.split('\n').enumerate() {
            if j > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(b"  ");
            out.extend_from_slice(line.as_bytes());
        }
    }
    Ok(out)
}

fn csv_lines(record: &[String]) -> std::io::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(record).map_err(csv_error)?;
    w.into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

fn csv_error(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// CSV lines of `rows`, no header: byte for byte what `csv::Writer`
/// writes for them (fields quoted only when they hold a comma, a quote or
/// a line break; `\n` after each record), written straight into one
/// buffer instead of through a `String` per field.
fn csv_rows(_at: usize, rows: &[KpiRow]) -> std::io::Result<Vec<u8>> {
    let mut line = CsvLine {
        out: Vec::with_capacity(rows.len() * 400),
        first: true,
    };
    for r in rows {
        for text in [&r.period, &r.period_start, &r.unit, &r.name] {
            line.text(text);
        }
        line.text(r.procedure.as_deref().unwrap_or_default());
        line.text(r.channel.as_deref().unwrap_or_default());
        for v in r.kpis.in_definition_order() {
            line.int(v.numerator);
            line.int(v.denominator);
            line.fixed(v.value, 2);
        }
        line.int(r.overdue_open);
        line.int(r.due_soon_open);
        let p = &r.processing_hours;
        line.int(p.resolved);
        line.fixed(p.p50, 1);
        line.fixed(p.p90, 1);
        line.fixed(r.score_766, 1);
        for (name, _) in YEAR_ON_YEAR {
            match r.year_on_year.get(name) {
                Some(v) => {
                    line.int(v.year_before);
                    line.fixed(v.change_pct, 1);
                }
                None => {
                    line.text("");
                    line.text("");
                }
            }
        }
        line.end();
    }
    Ok(line.out)
}

/// One CSV record being written field by field.
struct CsvLine {
    out: Vec<u8>,
    first: bool,
}

impl CsvLine {
    fn sep(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
    }

    /// A text cell, neutralised against spreadsheet formulas
    /// ([`crate::csv_cell`]).
    fn text(&mut self, s: &str) {
        self.sep();
        let s = crate::csv_cell::text(s);
        if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            self.out.push(b'"');
            for b in s.bytes() {
                if b == b'"' {
                    self.out.push(b'"');
                }
                self.out.push(b);
            }
            self.out.push(b'"');
        } else {
            self.out.extend_from_slice(s.as_bytes());
        }
    }

    fn int(&mut self, n: i64) {
        self.sep();
        self.out
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// `value` with `decimals` places, as `format!("{v:.N}")`; empty for none.
    fn fixed(&mut self, value: Option<f64>, decimals: usize) {
        use std::io::Write;
        self.sep();
        let Some(v) = value else { return };
        // Whole numbers (0 and 100 % above all) are most values of small
        // units' rows; they skip the general float formatting.
        if v.fract() == 0.0 && v.abs() < 1e15 && !(v == 0.0 && v.is_sign_negative()) {
            self.out
                .extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
            if decimals > 0 {
                self.out.push(b'.');
                self.out.resize(self.out.len() + decimals, b'0');
            }
            return;
        }
        // Writing into a Vec cannot fail.
        let _ = write!(self.out, "{v:.decimals$}");
    }

    fn end(&mut self) {
        self.out.push(b'\n');
        self.first = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{ndjson, validate::Checks};

    #[test]
    fn the_state_counters_fit_the_sweep() {
        let read = super::super::defs::STATE_COUNTERS
            .iter()
            .filter(|n| !at_resolution(n))
            .count();
        assert_eq!(read, STATE_READ, "resize STATE_READ with the definitions");
    }

    #[test]
    fn csv_fields_are_written_as_the_csv_crate_writes_them() {
        let texts = [
            "",
            "a",
            "a,b",
            "say \"hi\"",
            "line\nbreak",
            "cr\r",
            " lead ",
            "#hash",
            "\t",
            "Thành phố Hà Nội",
            "'quote'",
            ";",
            "=1+1",
            "@SUM(A1)",
            "-x,y",
            "+1",
            "\r=1",
        ];
        for t in texts {
            let mut line = CsvLine {
                out: Vec::new(),
                first: true,
            };
            line.text("x");
            line.text(t);
            line.int(-12);
            line.fixed(Some(2.0 / 3.0), 2);
            line.fixed(None, 1);
            line.end();
            // Text cells are neutralised as every CSV export's are;
            // numbers are not.
            let t: &str = &crate::csv_cell::text(t);
            let want = csv_lines(&["x", t, "-12", "0.67", ""].map(String::from)).unwrap();
            assert_eq!(
                String::from_utf8(line.out).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }

    #[test]
    fn fixed_point_numbers_are_written_as_format_writes_them() {
        let values = [
            0.0,
            -0.0,
            100.0,
            50.0,
            -15.0,
            2.0 / 3.0,
            0.125,
            99.995,
            1e15,
            -1e15,
            1e300,
            f64::MIN_POSITIVE,
            123456789.0,
            f64::NAN,
            f64::INFINITY,
        ];
        for v in values {
            for d in 0..=3 {
                let mut line = CsvLine {
                    out: Vec::new(),
                    first: true,
                };
                line.fixed(Some(v), d);
                assert_eq!(String::from_utf8(line.out).unwrap(), format!("{v:.d$}"));
            }
        }
    }

    fn meetings(at: &str, n: usize, tag: &str) -> String {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"event_id":"{tag}{i}","kind":"meeting","occurred_at":"{at}","unit":"01","meeting_id":"M{tag}{i}","mode":"video"}}"#
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn volumes_compare_with_the_same_part_of_the_period_a_year_before() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let input = [
            // a year before: 10 meetings early in the month, 7 later on
            meetings("2024-11-02T09:00:00+07:00", 10, "a"),
            meetings("2024-11-20T09:00:00+07:00", 7, "b"),
            // this year, up to the 3rd: 9 meetings
            meetings("2025-11-03T09:00:00+07:00", 9, "c"),
        ]
        .join("\n");
        let d = ndjson::decode(input.as_bytes(), &units, Checks::default());
        assert!(d.rejected.is_empty());
        let events: Vec<Event> = d.events.into_iter().map(|(_, e)| e).collect();
        let spec = ReportSpec {
            level: Level::Province,
            period: Period::Month,
            chunk: 1000,
        };
        let rows = report(&events, units, &WorkCalendar::default(), spec)
            .await
            .unwrap();
        let now = rows.iter().find(|r| &*r.period == "2025-11").unwrap();
        let m = &now.year_on_year["meetings"];
        // Only the part of November 2024 up to 3 November counts.
        assert_eq!((m.this_period, m.year_before), (9, 10));
        assert_eq!(m.change_pct, Some(-10.0));
        assert_eq!(m.target_pct, -10.0);
        assert!(
            !now.year_on_year.contains_key("documents"),
            "no documents a year before"
        );
        // The complete November 2024 has nothing a year before it.
        let then = rows.iter().find(|r| &*r.period == "2024-11").unwrap();
        assert!(then.year_on_year.is_empty());
    }
}
