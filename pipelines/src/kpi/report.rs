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
    COUNTS, KPIS, at_resolution, counter_index, counter_names, processing_bucket,
    processing_percentile, score_766,
};
use super::dossiers;
use super::fold::{Breakdown, Fold, Folder, Partials};
use crate::error::{Error, Result};
use crate::units::UnitRegistry;
use crate::windows::periods::Period;
use model::calendar::WorkCalendar;
use model::{Event, UnitLevel};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
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

/// One output row: a unit in a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiRow {
    pub period: String,
    pub period_start: String,
    pub unit: String,
    pub name: String,
    /// The procedure of a `--by procedure` row; `None` for events without
    /// one (documents, reports, meetings) and in reports without breakdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub procedure: Option<String>,
    pub kpis: BTreeMap<&'static str, KpiValue>,
    pub overdue_open: i64,
    pub due_soon_open: i64,
    /// Working time from accepted to resolved of the dossiers resolved in
    /// the period, read off the mergeable histogram.
    pub processing_hours: ProcessingTime,
    /// The 766-style composite score, 0–100 ([`super::defs::score_766`]).
    pub score_766: Option<f64>,
}

/// Percentiles of the processing-time histogram, in working hours.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessingTime {
    /// Resolved dossiers the histogram holds.
    pub resolved: i64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

/// A span's start (+1) or end (-1) for one counter: (time, counter index,
/// change).
type Delta = (i64, usize, i64);

/// One key's state counters, swept forward through period ends.
struct Sweep {
    /// (unit at the level, breakdown value)
    key: (String, u64),
    /// Span starts and ends, sorted.
    deltas: Vec<Delta>,
    cursor: usize,
    current: Vec<i64>,
}

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
    let Some((oldest, newest)) = fold.span else {
        return Ok(Vec::new());
    };
    let facts = fold
        .dossiers
        .facts_by(calendar, fold.breakdown == Breakdown::Procedure);
    rows(fold.partials, facts, oldest, newest, units, spec)
}

/// Rows from hourly partial sums and dossier facts (by dense unit index
/// and breakdown value) over `[oldest, newest]` (Unix seconds): hours merged into periods and
/// rolled up to the level, state counters read at each period's end.
/// Shared by [`report`] and the history over the Parquet archive (which
/// has no dossier facts).
pub fn rows(
    mut partials: Partials,
    facts: HashMap<(u32, u64), dossiers::UnitFacts>,
    oldest: i64,
    newest: i64,
    units: &Arc<UnitRegistry>,
    spec: ReportSpec,
) -> Result<Vec<KpiRow>> {
    let names = counter_names();
    let width = names.len();
    let on_time = counter_index("resolved_on_time")
        .ok_or_else(|| Error::Schema("resolved_on_time".into()))?;
    for (&(unit, dim), f) in &facts {
        for &t in &f.resolved_on_time {
            partials
                .entry((unit, t.div_euclid(3600) * 3600, dim))
                .or_insert_with(|| vec![0; width])[on_time] += 1;
        }
        for &(t, minutes) in &f.processing {
            let bucket = counter_index(processing_bucket(minutes))
                .ok_or_else(|| Error::Schema("processing buckets".into()))?;
            partials
                .entry((unit, t.div_euclid(3600) * 3600, dim))
                .or_insert_with(|| vec![0; width])[bucket] += 1;
        }
    }
    let code = |i: u32| units.at(i).map(|u| u.code.as_str());

    // Event counters: merge hours into (key, period).
    let mut sums: BTreeMap<(i64, String, u64), Vec<i64>> = BTreeMap::new();
    for ((unit, hour, dim), v) in partials {
        let Some(key) = code(unit).and_then(|c| spec.level.key(c, units)) else {
            continue;
        };
        let slot = sums
            .entry((spec.period.start(hour), key.to_owned(), dim))
            .or_insert_with(|| vec![0; width]);
        for (a, b) in slot.iter_mut().zip(&v) {
            *a += b;
        }
    }

    // State counters at the end of every period from the oldest to the
    // newest event: one sorted sweep per key over span starts (+1) and ends
    // (-1), so a span counts at `at` exactly when start <= at < end.
    let state: Vec<(&str, usize)> = super::defs::STATE_COUNTERS
        .iter()
        .filter(|n| !at_resolution(n))
        .filter_map(|n| Some((*n, counter_index(n)?)))
        .collect();
    let mut deltas_by_key: HashMap<(String, u64), Vec<Delta>> = HashMap::new();
    for ((unit, dim), f) in facts {
        let Some(key) = code(unit).and_then(|c| spec.level.key(c, units)) else {
            continue;
        };
        let deltas = deltas_by_key.entry((key.to_owned(), dim)).or_default();
        for s in f.spans {
            let Some(&(_, i)) = state.iter().find(|(n, _)| *n == s.counter) else {
                continue;
            };
            deltas.push((s.start, i, 1));
            if s.end != i64::MAX {
                deltas.push((s.end, i, -1));
            }
        }
    }
    let mut sweeps: Vec<Sweep> = deltas_by_key
        .into_iter()
        .map(|(key, mut deltas)| {
            deltas.sort_unstable();
            Sweep {
                key,
                deltas,
                cursor: 0,
                current: vec![0i64; width],
            }
        })
        .collect();
    let mut period = spec.period.start(oldest);
    loop {
        let at = spec.period.next(period).min(newest + 1) - 1;
        for sw in &mut sweeps {
            while let Some(&(_, i, d)) = sw.deltas.get(sw.cursor).filter(|(t, _, _)| *t <= at) {
                sw.current[i] += d;
                sw.cursor += 1;
            }
            if sw.current.iter().any(|v| *v != 0) {
                let slot = sums
                    .entry((period, sw.key.0.clone(), sw.key.1))
                    .or_insert_with(|| vec![0; width]);
                for &(_, i) in &state {
                    slot[i] = sw.current[i];
                }
            }
        }
        let next = spec.period.next(period);
        if next > newest || spec.period == Period::All {
            break;
        }
        period = next;
    }

    let idx = |n: &str| counter_index(n).unwrap_or(0);
    let rows = sums
        .into_iter()
        .map(|((start, key, dim), v)| {
            let sum = |names: &[&str]| names.iter().map(|n| v[idx(n)]).sum::<i64>();
            let kpis: BTreeMap<&'static str, KpiValue> = KPIS
                .iter()
                .map(|k| {
                    let (numerator, denominator) = (sum(k.numerator), sum(k.denominator));
                    let value =
                        (denominator > 0).then(|| numerator as f64 * 100.0 / denominator as f64);
                    (
                        k.name,
                        KpiValue {
                            numerator,
                            denominator,
                            value,
                        },
                    )
                })
                .collect();
            let score_766 = score_766(|k| kpis.get(k).and_then(|v| v.value));
            KpiRow {
                score_766,
                procedure: super::dossiers::unpack_procedure(dim),
                period: spec.period.label(start),
                period_start: if spec.period == Period::All {
                    String::new()
                } else {
                    label_time(start)
                },
                name: unit_name(&key, units),
                unit: key,
                kpis,
                overdue_open: v[idx(COUNTS[0])],
                due_soon_open: v[idx(COUNTS[1])],
                processing_hours: {
                    let buckets: Vec<i64> = names
                        .iter()
                        .zip(&v)
                        .filter(|(n, _)| n.starts_with("processing_"))
                        .map(|(_, c)| *c)
                        .collect();
                    ProcessingTime {
                        resolved: buckets.iter().sum(),
                        p50: processing_percentile(&buckets, 0.5),
                        p90: processing_percentile(&buckets, 0.9),
                    }
                },
            }
        })
        .collect();
    Ok(rows)
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
    let mut h: Vec<String> = ["period", "period_start", "unit", "name", "procedure"]
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
    h
}

/// Write rows as CSV, one line per period and unit.
pub fn write_csv(rows: &[KpiRow], out: impl std::io::Write) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let io = |e: csv::Error| std::io::Error::other(e.to_string());
    w.write_record(csv_header()).map_err(io)?;
    for r in rows {
        let mut rec = vec![
            r.period.clone(),
            r.period_start.clone(),
            r.unit.clone(),
            r.name.clone(),
            r.procedure.clone().unwrap_or_default(),
        ];
        for k in KPIS {
            let v = &r.kpis[k.name];
            rec.extend([
                v.numerator.to_string(),
                v.denominator.to_string(),
                v.value.map_or(String::new(), |p| format!("{p:.2}")),
            ]);
        }
        rec.extend([r.overdue_open.to_string(), r.due_soon_open.to_string()]);
        let p = &r.processing_hours;
        let hours = |h: Option<f64>| h.map_or(String::new(), |h| format!("{h:.1}"));
        rec.extend([p.resolved.to_string(), hours(p.p50), hours(p.p90)]);
        rec.push(r.score_766.map_or(String::new(), |s| format!("{s:.1}")));
        w.write_record(rec).map_err(io)?;
    }
    w.flush()
}
