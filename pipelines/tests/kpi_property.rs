//! Property: for generated event sets delivered in any order and cut into
//! micro-batches of any size, the report equals a brute-force count written
//! directly over the events (no DataFusion, no partial sums, no spans).

use chrono::NaiveDate;
use model::{Channel, DossierStatus as S, Event, EventKind, MeetingMode};
use pipelines::kpi::report::{Level, ReportSpec, report};
use pipelines::units::UnitRegistry;
use pipelines::windows::periods::Period;
use proptest::prelude::*;
use sample_data::generator::{GenConfig, Generator, Record};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

fn generate(seed: u64, days: u32) -> Vec<Event> {
    let from = NaiveDate::from_ymd_opt(2025, 11, 19).unwrap();
    Generator::new(GenConfig::new(from, days, 0.0004, seed))
        .unwrap()
        .collect()
        .into_iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some(e),
            Record::Raw(_) => None,
        })
        .collect()
}

/// KPI name → (numerator, denominator), per (day start, province).
type Counts = BTreeMap<(i64, String), BTreeMap<&'static str, (i64, i64)>>;

/// KPI name → (numerator, denominator), per (day start, province), counted
/// event by event.
fn brute_force(events: &[Event], units: &UnitRegistry) -> Counts {
    let mut out: Counts = BTreeMap::new();
    // Due date in force and resolution per dossier, for on-time.
    let mut dues: HashMap<&str, Vec<(i64, i64)>> = HashMap::new();
    let mut accepted_at: HashMap<&str, i64> = HashMap::new();
    for e in events {
        if let (Some(id), Some(S::Accepted | S::SupplementReceived), Some(d)) =
            (e.dossier_id.as_deref(), e.status, e.due_at)
        {
            dues.entry(id)
                .or_default()
                .push((e.occurred_at.timestamp(), d.timestamp()));
        }
        if let (Some(id), Some(S::Accepted)) = (e.dossier_id.as_deref(), e.status) {
            accepted_at.insert(id, e.occurred_at.timestamp());
        }
    }
    for v in dues.values_mut() {
        v.sort_unstable();
    }
    for e in events {
        let Some(province) = Level::Province.key(e.unit.as_str(), units) else {
            continue;
        };
        let t = e.occurred_at.timestamp();
        let row = out
            .entry((Period::Day.start(t), province.to_owned()))
            .or_default();
        let mut add = |k: &'static str, num: bool, den: bool| {
            let s = row.entry(k).or_default();
            s.0 += i64::from(num && den);
            s.1 += i64::from(den);
        };
        match (e.kind, e.status) {
            (EventKind::Dossier, Some(S::Accepted)) => {
                add("online_dossiers", e.channel == Some(Channel::Online), true);
                add("data_reuse", e.reused_data == Some(true), true);
            }
            (EventKind::Dossier, Some(S::Resolved)) => {
                add("digitized", e.digitized == Some(true), true);
                add("e_result", e.e_result == Some(true), true);
                let id = e.dossier_id.as_deref().unwrap_or_default();
                let on_time = accepted_at.contains_key(id)
                    && dues
                        .get(id)
                        .and_then(|v| v.iter().rev().find(|(at, _)| *at <= t).or(v.first()))
                        .is_some_and(|(_, d)| t <= *d);
                // Only the resolved part of on-time: open dossiers are state.
                add("on_time_resolved", on_time, true);
            }
            (EventKind::Dossier, Some(S::Paid)) => {
                add("online_payment", e.online == Some(true), true)
            }
            (EventKind::Dossier, Some(S::Rated)) => {
                add("satisfaction", e.rating.is_some_and(|r| r >= 4), true)
            }
            (EventKind::Document, _) => {
                add("electronic_documents", e.electronic == Some(true), true);
                add("signed_documents", e.signed == Some(true), true);
            }
            (EventKind::Report, _) => add(
                "online_reports",
                e.online == Some(true) && e.due_at.is_some_and(|d| e.occurred_at <= d),
                true,
            ),
            (EventKind::Meeting, _) => add(
                "video_meetings",
                matches!(e.mode, Some(MeetingMode::Video | MeetingMode::Hybrid)),
                true,
            ),
            _ => {}
        }
    }
    out
}

/// A seeded Fisher–Yates shuffle, with a few events held back to the end
/// (late arrivals).
fn shuffle(events: &mut [Event], seed: u64) {
    let mut rng = sample_data::rng::Rng::new(seed);
    for i in (1..events.len()).rev() {
        let j = rng.range(0, i as i64 + 1) as usize;
        events.swap(i, j);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn report_equals_brute_force_in_any_order(seed in 1u64..10_000, days in 1u32..3, chunk in 1usize..5000, order in any::<u64>()) {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let calendar = sample_data::calendar().unwrap();
        let mut events = generate(seed, days);
        let expected = brute_force(&events, &units);
        shuffle(&mut events, order);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let rows = rt
            .block_on(report(&events, units.clone(), &calendar, ReportSpec { level: Level::Province, period: Period::Day, chunk }))
            .unwrap();
        let by_key: HashMap<(i64, &str), _> = rows
            .iter()
            .map(|r| ((chrono::DateTime::parse_from_rfc3339(&r.period_start).unwrap().timestamp(), &*r.unit), r))
            .collect();
        for ((start, unit), want) in &expected {
            let r = by_key.get(&(*start, unit.as_str()));
            prop_assert!(r.is_some(), "no report row for {unit} at {start}");
            let r = r.unwrap();
            for (name, (num, den)) in want {
                if *name == "on_time_resolved" {
                    // The report's on-time adds open-and-not-due over open.
                    let v = &r.kpis["on_time"];
                    prop_assert!(v.numerator >= *num && v.denominator >= *den, "{} {}: {:?} vs {}/{}", r.period, unit, v, num, den);
                    continue;
                }
                let v = &r.kpis[name];
                prop_assert_eq!((v.numerator, v.denominator), (*num, *den), "{} {} {}", r.period, unit, name);
            }
        }
    }

    #[test]
    fn folds_of_parts_merged_in_any_order_equal_one_pass(seed in 1u64..10_000, order in any::<u64>(), cuts in proptest::collection::vec(0.0f64..1.0, 1..5)) {
        use pipelines::kpi::fold::{Fold, Folder};
        use pipelines::kpi::report::report_of;
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let calendar = sample_data::calendar().unwrap();
        let mut events = generate(seed, 1);
        shuffle(&mut events, order);
        let spec = ReportSpec { level: Level::Commune, period: Period::Hour, chunk: 1000 };
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let whole = rt.block_on(report(&events, units.clone(), &calendar, spec)).unwrap();
        // Cut the arrival order into parts, fold each alone, send one
        // through a checkpoint, and merge them last part first.
        let mut at: Vec<usize> = cuts.iter().map(|c| (c * events.len() as f64) as usize).collect();
        at.push(0);
        at.push(events.len());
        at.sort_unstable();
        let folder = Folder::new(units.clone());
        let mut parts: Vec<Fold> = at
            .windows(2)
            .map(|w| {
                let mut f = Fold::default();
                for chunk in events[w[0]..w[1]].chunks(700) {
                    rt.block_on(folder.fold(chunk, &mut f)).unwrap();
                }
                f
            })
            .collect();
        let json = serde_json::to_vec(&parts[0].checkpoint(&units)).unwrap();
        parts[0] = Fold::restore(serde_json::from_slice(&json).unwrap(), &units);
        let mut merged = Fold::default();
        for p in parts.into_iter().rev() {
            merged.merge(p);
        }
        let rows = report_of(merged, &units, &calendar, spec).unwrap();
        prop_assert_eq!(rows, whole);
    }

    #[test]
    fn compacting_at_any_cuts_changes_no_report(seed in 1u64..10_000, cuts in proptest::collection::vec(0.0f64..1.0, 1..4)) {
        use pipelines::kpi::fold::{Fold, Folder};
        use pipelines::kpi::report::report_of;
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let calendar = sample_data::calendar().unwrap();
        let events = generate(seed, 2);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let folder = Folder::new(units.clone());
        let mut whole = Fold::default();
        for chunk in events.chunks(5000) {
            rt.block_on(folder.fold(chunk, &mut whole)).unwrap();
        }
        let (oldest, newest) = whole.span.unwrap();
        let specs = [
            ReportSpec { level: Level::Commune, period: Period::Hour, chunk: 5000 },
            ReportSpec { level: Level::Province, period: Period::Day, chunk: 5000 },
            ReportSpec { level: Level::Nation, period: Period::All, chunk: 5000 },
        ];
        let expected: Vec<_> = specs
            .iter()
            .map(|s| report_of(whole.clone(), &units, &calendar, *s).unwrap())
            .collect();
        // Cuts in increasing order, as the watermark moves.
        let mut at: Vec<i64> = cuts
            .iter()
            .map(|c| oldest + (c * (newest - oldest) as f64) as i64)
            .collect();
        at.sort_unstable();
        let mut compacted = whole;
        for cut in at {
            compacted.compact(cut, &calendar);
            for (s, rows) in specs.iter().zip(&expected) {
                let got = report_of(compacted.clone(), &units, &calendar, *s).unwrap();
                prop_assert!(got == *rows, "{:?}/{:?} after cut {}", s.level, s.period, cut);
            }
        }
    }
}
