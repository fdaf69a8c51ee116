use super::calibration::Rate;
use super::*;
use crate::units::UnitRegistry;
use model::DossierStatus as S;
use std::collections::HashMap;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn run(cfg: GenConfig) -> (Vec<Record>, Summary) {
    let mut out = Vec::new();
    let summary = Generator::new(cfg)
        .unwrap()
        .run(
            |r| {
                out.push(r);
                Ok::<_, ()>(())
            },
            |_| {},
        )
        .unwrap();
    (out, summary)
}

fn bytes(records: &[Record]) -> Vec<u8> {
    let mut buf = Vec::new();
    for r in records {
        r.write_ndjson(&mut buf).unwrap();
    }
    buf
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let cfg = GenConfig::new(date("2025-11-17"), 3, 0.0005, 42);
    let (a, _) = run(cfg.clone());
    let (b, _) = run(cfg.clone());
    assert!(a.len() > 1000, "{} records", a.len());
    assert_eq!(bytes(&a), bytes(&b));
    let (c, _) = run(GenConfig { seed: 43, ..cfg });
    assert_ne!(bytes(&a), bytes(&c));
}

#[derive(Default, Debug)]
struct Tally {
    accepted: u64,
    online: u64,
    reused: u64,
    paid: u64,
    paid_online: u64,
    resolved: u64,
    digitized: u64,
    e_result: u64,
}

#[test]
fn a_generated_month_lands_on_the_2024_baselines() {
    let (records, summary) = run(GenConfig::new(date("2025-10-01"), 30, 0.01, 7));
    let mut t: [Tally; 2] = Default::default();
    for r in &records {
        let Record::Event(e) = r else { continue };
        let side = match e.unit.level() {
            UnitLevel::Ministry => 0,
            _ => 1,
        };
        let t = &mut t[side];
        match e.status {
            Some(S::Accepted) => {
                t.accepted += 1;
                t.online += u64::from(e.channel == Some(Channel::Online));
                t.reused += u64::from(e.reused_data == Some(true));
            }
            Some(S::Paid) => {
                t.paid += 1;
                t.paid_online += u64::from(e.online == Some(true));
            }
            Some(S::Resolved) => {
                t.resolved += 1;
                t.digitized += u64::from(e.digitized == Some(true));
                t.e_result += u64::from(e.e_result == Some(true));
            }
            _ => {}
        }
    }
    // A month at 1 % of the country: about 75,000 dossiers.
    let expected = (DOSSIERS_PER_YEAR[0] + DOSSIERS_PER_YEAR[1]) * 0.01 / 12.0;
    assert!(
        (summary.dossiers as f64 / expected - 1.0).abs() < 0.15,
        "{} dossiers, expected about {expected}",
        summary.dossiers
    );
    for (side, t) in t.iter().enumerate() {
        let check = |what: &str, rate: Rate, num: u64, den: u64| {
            let got = num as f64 / den as f64;
            let want = rate.baseline()[side];
            assert!(
                (got - want).abs() < 0.01,
                "side {side} {what}: {:.2} % generated, {:.2} % baseline ({num}/{den})",
                got * 100.0,
                want * 100.0
            );
        };
        check("online", Rate::Online, t.online, t.accepted);
        check("online payment", Rate::PaymentOnline, t.paid_online, t.paid);
        check("digitised", Rate::Digitized, t.digitized, t.resolved);
        check("e-result", Rate::EResult, t.e_result, t.resolved);
        check("data reuse", Rate::Reuse, t.reused, t.accepted);
    }
}

#[test]
fn every_unit_and_procedure_code_is_valid_and_lifecycles_are_ordered() {
    let registry = UnitRegistry::embedded().unwrap();
    let catalogue = crate::catalogue::Catalogue::embedded().unwrap();
    let (records, _) = run(GenConfig::new(date("2025-04-25"), 10, 0.005, 3));
    let mut per_dossier: HashMap<model::Id, Vec<(DateTime<FixedOffset>, S)>> = HashMap::new();
    let mut kinds = std::collections::BTreeSet::new();
    for r in &records {
        let Record::Event(e) = r else {
            panic!("baseline emits only valid events")
        };
        assert!(registry.contains(e.unit.as_str()), "unit {}", e.unit);
        kinds.insert(format!("{:?}", e.kind));
        if let Some(code) = &e.procedure_code {
            let p = catalogue
                .get(code)
                .unwrap_or_else(|| panic!("procedure {code}"));
            let level_ok = match e.unit.level() {
                UnitLevel::Commune => p.level == Level::Commune,
                UnitLevel::Province => p.level == Level::Province,
                _ => p.level == Level::Ministry,
            };
            assert!(level_ok, "{code} ({:?}) at {}", p.level, e.unit);
            per_dossier
                .entry(e.dossier_id.clone().unwrap())
                .or_default()
                .push((e.occurred_at, e.status.unwrap()));
        }
        if let (Some(due), Some(S::Accepted)) = (e.due_at, e.status) {
            assert!(due > e.occurred_at);
        }
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    for (id, mut events) in per_dossier {
        events.sort_by_key(|(t, _)| *t);
        assert_eq!(events[0].1, S::Submitted, "{id}: {events:?}");
        if let Some(pos) = events.iter().position(|(_, s)| *s == S::Resolved) {
            assert!(
                events[..pos].iter().any(|(_, s)| *s == S::Accepted),
                "{id}: {events:?}"
            );
        }
    }
}

#[test]
fn counter_dossiers_are_accepted_in_working_hours() {
    let cal = crate::calendar().unwrap();
    let (records, _) = run(GenConfig::new(date("2025-11-15"), 4, 0.001, 5));
    let mut seen = 0;
    for r in &records {
        let Record::Event(e) = r else { continue };
        if e.status == Some(S::Accepted) && e.channel == Some(Channel::Counter) {
            let t = e.occurred_at;
            assert!(cal.is_working_day(t.date_naive()), "{t}");
            let m = chrono::Timelike::hour(&t) * 60 + chrono::Timelike::minute(&t);
            assert!((7 * 60..17 * 60 + 15).contains(&m), "{t}");
            seen += 1;
        }
    }
    assert!(seen > 100);
}

#[test]
fn lagging_injects_slowdowns_and_a_silent_feed() {
    let cfg = GenConfig {
        scenario: Scenario::Lagging,
        ..GenConfig::new(date("2025-11-03"), 9, 0.01, 11)
    };
    let (records, summary) = run(cfg);
    let kinds: Vec<_> = summary.injected.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "slowdown").count(),
        5,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "feed_silence").count(), 1);
    // Dossiers that slowed provinces accept a day into the slowdown are far more
    // often late (resolved after the due date, or still open past it at
    // the end of the run) than everyone else's.
    let slow: Vec<&str> = summary.injected[..2]
        .iter()
        .map(|i| i.unit.as_str())
        .collect();
    let registry = UnitRegistry::embedded().unwrap();
    let start_last_third = DateTime::parse_from_rfc3339(&summary.injected[0].start).unwrap()
        + chrono::Duration::days(1);
    let period_end = DateTime::parse_from_rfc3339("2025-11-12T00:00:00+07:00").unwrap();
    let mut due: HashMap<model::Id, (DateTime<FixedOffset>, usize)> = HashMap::new();
    let mut resolved: HashMap<model::Id, DateTime<FixedOffset>> = HashMap::new();
    for r in &records {
        let Record::Event(e) = r else { continue };
        let Some(id) = &e.dossier_id else { continue };
        match e.status {
            Some(S::Accepted) if e.occurred_at > start_last_third => {
                let top = registry.top_unit(e.unit.as_str()).unwrap();
                due.insert(
                    id.clone(),
                    (e.due_at.unwrap(), usize::from(slow.contains(&top))),
                );
            }
            Some(S::SupplementReceived) => {
                if let Some(d) = due.get_mut(id) {
                    d.0 = e.due_at.unwrap();
                }
            }
            Some(S::Resolved | S::Withdrawn | S::Stopped) => {
                resolved.insert(id.clone(), e.occurred_at);
            }
            _ => {}
        }
    }
    let (mut late, mut n) = ([0u64; 2], [0u64; 2]);
    for (id, (d, i)) in &due {
        let done = resolved.get(id);
        if done.is_none() && *d >= period_end {
            continue; // still open and not yet due: neither late nor on time
        }
        n[*i] += 1;
        late[*i] += u64::from(done.is_none_or(|r| r > d));
    }
    let share = |i: usize| late[i] as f64 / n[i].max(1) as f64;
    assert!(n[1] > 20, "{n:?}");
    assert!(
        share(1) > share(0) + 0.1,
        "late share slowed {:.2} vs others {:.2} ({n:?})",
        share(1),
        share(0)
    );
    // The silent province's events from the silence arrive after it ends.
    let silence = summary
        .injected
        .iter()
        .find(|i| i.kind == "feed_silence")
        .unwrap();
    let (s, e) = (
        DateTime::parse_from_rfc3339(&silence.start).unwrap(),
        DateTime::parse_from_rfc3339(&silence.end).unwrap(),
    );
    let position = |pred: &dyn Fn(&Event) -> bool| {
        records
            .iter()
            .position(|r| matches!(r, Record::Event(ev) if pred(ev)))
    };
    let first_silenced = position(&|ev| {
        registry.top_unit(ev.unit.as_str()) == Some(silence.unit.as_str())
            && ev.occurred_at >= s
            && ev.occurred_at < e
    });
    let first_after_end = position(&|ev| ev.occurred_at >= e + chrono::Duration::minutes(30));
    if let (Some(a), Some(b)) = (first_silenced, first_after_end) {
        assert!(
            a > b.saturating_sub(5000),
            "silenced events should arrive around the end of the silence"
        );
    }
}

#[test]
fn dirty_emits_every_kind_of_malformed_record() {
    let cfg = GenConfig {
        scenario: Scenario::Dirty,
        ..GenConfig::new(date("2025-11-17"), 2, 0.001, 9)
    };
    let (records, summary) = run(cfg);
    for kind in scenario::DIRTY_KINDS {
        assert!(
            summary.dirty.get(kind).copied().unwrap_or(0) > 0,
            "{kind} missing: {:?}",
            summary.dirty
        );
    }
    let raw = records
        .iter()
        .filter(|r| matches!(r, Record::Raw(_)))
        .count() as u64;
    assert_eq!(raw, summary.dirty.values().sum::<u64>());
}
