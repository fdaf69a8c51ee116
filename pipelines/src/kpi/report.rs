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
    COUNTS, KPIS, YEAR_ON_YEAR, at_resolution, counter_index, counter_names, processing_bucket,
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
    /// The channel of a `--by channel` row (that of each dossier's
    /// `accepted`); `None` for documents, reports, meetings and dossiers
    /// never seen accepted, and in reports without breakdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub kpis: BTreeMap<&'static str, KpiValue>,
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

/// The year-on-year volumes per level key and breakdown value as running
/// totals over hours, so the volume of any window is two binary searches.
struct VolumeIndex {
    /// (hour start, totals up to and including that hour), by hour.
    by_key: HashMap<(String, u64), Vec<(i64, Volumes)>>,
}

impl VolumeIndex {
    fn new<'a>(partials: &Partials, key: impl Fn(u32) -> Option<&'a str>) -> Self {
        let idx: [usize; YEAR_ON_YEAR.len()] =
            std::array::from_fn(|i| counter_index(YEAR_ON_YEAR[i].0).unwrap_or(0));
        let mut by_key: HashMap<(String, u64), Vec<(i64, Volumes)>> = HashMap::new();
        for ((unit, hour, dim), v) in partials {
            let vals = idx.map(|i| v[i]);
            if vals.iter().all(|x| *x == 0) {
                continue;
            }
            let Some(k) = key(*unit) else { continue };
            by_key
                .entry((k.to_owned(), *dim))
                .or_default()
                .push((*hour, vals));
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
        Self { by_key }
    }

    /// Volumes of the hours starting in `[from, to)`.
    fn sum(&self, key: &(String, u64), from: i64, to: i64) -> Volumes {
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
    let facts = fold.dossiers.facts_by(calendar, fold.breakdown);
    rows(
        fold.partials,
        facts,
        oldest,
        newest,
        units,
        spec,
        fold.breakdown,
    )
}

/// Rows from hourly partial sums and dossier facts (by dense unit index
/// and `breakdown` value) over `[oldest, newest]` (Unix seconds): hours
/// merged into periods and rolled up to the level, state counters read at
/// each period's end.
/// Shared by [`report`] and the history over the Parquet archive (which
/// has no dossier facts).
pub fn rows(
    mut partials: Partials,
    facts: HashMap<(u32, u64), dossiers::UnitFacts>,
    oldest: i64,
    newest: i64,
    units: &Arc<UnitRegistry>,
    spec: ReportSpec,
    breakdown: Breakdown,
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
    let volumes = VolumeIndex::new(&partials, |u| {
        code(u).and_then(|c| spec.level.key(c, units))
    });

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
    // Positions of the processing-time bucket counters, in bucket order.
    let processing: Vec<usize> = (0..width)
        .filter(|i| names[*i].starts_with("processing_"))
        .collect();
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
            let year_on_year = if spec.period == Period::All {
                BTreeMap::new()
            } else {
                let end = spec.period.next(start).min(newest + 1);
                let before = volumes.sum(
                    &(key.clone(), dim),
                    Period::year_before(start),
                    Period::year_before(end),
                );
                YEAR_ON_YEAR
                    .iter()
                    .zip(before)
                    .filter(|(_, last)| *last > 0)
                    .map(|(&(name, target_pct), last)| {
                        let now = v[idx(name)];
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
            };
            KpiRow {
                score_766,
                year_on_year,
                procedure: (breakdown == Breakdown::Procedure)
                    .then(|| super::dossiers::unpack_code(dim))
                    .flatten(),
                channel: (breakdown == Breakdown::Channel)
                    .then(|| super::dossiers::unpack_code(dim))
                    .flatten(),
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
                    let buckets: Vec<i64> = processing.iter().map(|i| v[*i]).collect();
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
            r.channel.clone().unwrap_or_default(),
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
        for (name, _) in YEAR_ON_YEAR {
            let v = r.year_on_year.get(name);
            rec.extend([
                v.map_or(String::new(), |v| v.year_before.to_string()),
                v.and_then(|v| v.change_pct)
                    .map_or(String::new(), |p| format!("{p:.1}")),
            ]);
        }
        w.write_record(rec).map_err(io)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{ndjson, validate::Checks};

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
        let now = rows.iter().find(|r| r.period == "2025-11").unwrap();
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
        let then = rows.iter().find(|r| r.period == "2024-11").unwrap();
        assert!(then.year_on_year.is_empty());
    }
}
