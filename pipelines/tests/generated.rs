//! The generator's output through the real decoders and validator: the
//! baseline is valid in every format, and the dirty scenario's malformed
//! records are rejected for the reasons they were made to break.

use chrono::NaiveDate;
use pipelines::sources::validate::Checks;
use pipelines::sources::{Decoded, csv, ndjson, parquet};
use pipelines::units::UnitRegistry;
use sample_data::generator::{GenConfig, Generator, RawRecord, Record, Scenario};
use std::collections::{BTreeSet, HashSet};

fn generate(cfg: GenConfig) -> Vec<Record> {
    Generator::new(cfg).unwrap().collect()
}

fn cfg(scenario: Scenario) -> GenConfig {
    let from = NaiveDate::from_ymd_opt(2025, 11, 17).unwrap();
    GenConfig {
        scenario,
        dirty_share: 0.03,
        ..GenConfig::new(from, 2, 0.001, 21)
    }
}

fn as_ndjson(records: &[Record]) -> Vec<u8> {
    let mut buf = Vec::new();
    for r in records {
        r.write_ndjson(&mut buf).unwrap();
    }
    buf
}

fn value(r: &Record) -> Option<serde_json::Value> {
    match r {
        Record::Event(e) => Some(serde_json::to_value(e).unwrap()),
        Record::Raw(RawRecord::Json(v)) => Some(v.clone()),
        Record::Raw(RawRecord::Text(_)) => None,
    }
}

fn all_valid(d: &Decoded, n: usize) {
    assert!(d.rejected.is_empty(), "{:?}", d.rejected.sample().first());
    assert_eq!(d.events.len(), n);
}

#[test]
fn the_baseline_is_valid_in_every_format() {
    let units = UnitRegistry::embedded().unwrap();
    let records = generate(cfg(Scenario::Baseline));
    let n = records.len();
    assert!(n > 1000);
    all_valid(
        &ndjson::decode(&as_ndjson(&records), &units, Checks::default()),
        n,
    );

    let mut w = csv::Writer::new(Vec::new()).unwrap();
    for r in &records {
        w.write_value(&value(r).unwrap()).unwrap();
    }
    all_valid(
        &csv::decode(&w.finish().unwrap(), &units, Checks::default()),
        n,
    );

    let mut buf = Vec::new();
    let mut w = parquet::Writer::new(&mut buf).unwrap();
    for r in &records {
        w.write_value(value(r).unwrap()).unwrap();
    }
    w.finish().unwrap();
    all_valid(&parquet::decode(buf.into(), &units, Checks::default()), n);
}

#[test]
fn dirty_records_are_rejected_for_what_they_break() {
    let units = UnitRegistry::embedded().unwrap();
    let records = generate(cfg(Scenario::Dirty));
    let d = ndjson::decode(&as_ndjson(&records), &units, Checks::default());
    let rules: BTreeSet<(String, String)> = d
        .rejected
        .by_rule()
        .into_iter()
        .map(|c| (c.field, c.rule))
        .collect();
    let has = |field: &str, rule: &str| rules.contains(&(field.to_owned(), rule.to_owned()));
    assert!(
        has("unit", "unknown_unit") && has("unit", "format"),
        "bad codes: {rules:?}"
    );
    assert!(has("procedure_code", "format"), "bad procedure: {rules:?}");
    assert!(
        rules.iter().any(|(_, r)| r == "required"),
        "missing fields: {rules:?}"
    );
    assert!(
        has("occurred_at", "format") && has("occurred_at", "range"),
        "impossible times: {rules:?}"
    );
    assert!(
        rules.iter().any(|(_, r)| r == "enum"),
        "bad enums: {rules:?}"
    );
    assert!(
        rules.iter().any(|(_, r)| r == "type"),
        "bad types: {rules:?}"
    );
    assert!(has("$", "json"), "not JSON: {rules:?}");
    // Duplicates are valid records with an event_id seen before: the log's
    // dedup, not validation, has to catch them.
    let mut seen = HashSet::new();
    let dups = d
        .events
        .iter()
        .filter(|(_, e)| !seen.insert(e.event_id.clone()))
        .count();
    assert!(dups > 0);
    let clean = records
        .iter()
        .filter(|r| matches!(r, Record::Event(_)))
        .count();
    assert_eq!(d.events.len(), clean + dups, "every clean event passes");
}
