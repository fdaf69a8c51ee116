//! Bad records at scale and in disguise: many rejections cost a count
//! per rule and a sample, not a copy of every record; control characters
//! in ids are refused in every format.

use pipelines::kpi::batch::{fold_parallel, ndjson_chunks};
use pipelines::kpi::fold::Breakdown;
use pipelines::sources::validate::Checks;
use pipelines::sources::{Decoded, Rejections, csv, ndjson, parquet};
use pipelines::units::UnitRegistry;
use serde_json::{Value, json};
use std::sync::Arc;

const LINES: usize = 100_000;

/// Four kinds of bad line in turn, and the (field, rule) pairs each breaks.
fn bad_line(i: usize) -> String {
    match i % 4 {
        0 => "x".into(),
        1 => format!(r#"{{"event_id":"a{i}"}}"#),
        2 => format!(
            r#"{{"event_id":"u{i}","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"99999","meeting_id":"M1","mode":"video"}}"#
        ),
        _ => format!(
            r#"{{"event_id":"m{i}","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"radio","minutes":-5}}"#
        ),
    }
}

fn bad_ndjson() -> Vec<u8> {
    (0..LINES)
        .flat_map(|i| format!("{}\n", bad_line(i)).into_bytes())
        .collect()
}

/// The exact count of every (field, rule), sorted by field then rule.
fn expected_counts() -> Vec<(String, String, u64)> {
    let quarter = (LINES / 4) as u64;
    [
        ("$", "json"),
        ("kind", "required"),
        ("minutes", "range"),
        ("mode", "enum"),
        ("occurred_at", "required"),
        ("unit", "required"),
        ("unit", "unknown_unit"),
    ]
    .into_iter()
    .map(|(f, r)| (f.to_owned(), r.to_owned(), quarter))
    .collect()
}

fn counts(r: &Rejections) -> Vec<(String, String, u64)> {
    r.by_rule()
        .into_iter()
        .map(|c| (c.field, c.rule, c.count))
        .collect()
}

/// Every line counted, each rule exactly, and the first lines in full.
fn check(r: &Rejections) {
    assert_eq!(r.total(), LINES as u64);
    assert_eq!(counts(r), expected_counts());
    let sample = r.sample();
    assert_eq!(sample.len(), Rejections::DEFAULT_KEEP);
    for (i, s) in sample.iter().enumerate() {
        assert_eq!(s.line, i + 1);
        assert_eq!(s.raw, bad_line(i));
    }
}

#[test]
fn a_hundred_thousand_bad_lines_are_counted_and_sampled() {
    let units = UnitRegistry::embedded().unwrap();
    let bytes = bad_ndjson();
    let d = ndjson::decode(&bytes, &units, Checks::default());
    assert!(d.events.is_empty());
    check(&d.rejected);
}

#[test]
fn the_batch_engine_counts_and_samples_bad_lines_across_workers() {
    let units = Arc::new(UnitRegistry::embedded().unwrap());
    let bytes = bad_ndjson();
    // Chunks of 4 MiB: the input is cut in two at least, so both
    // workers meet bad lines.
    assert!(bytes.len() > pipelines::kpi::batch::NDJSON_CHUNK);
    let out = fold_parallel(
        ndjson_chunks(0, bytes.as_slice()),
        2,
        units,
        Checks::default(),
        Breakdown::None,
    )
    .unwrap();
    assert_eq!(out.fold.events, 0);
    assert_eq!(out.rejected.len(), 1);
    check(&out.rejected[0]);
}

#[test]
fn bad_csv_rows_are_counted_and_sampled() {
    let units = UnitRegistry::embedded().unwrap();
    let mut text = String::from("event_id,kind,occurred_at,unit,meeting_id,mode\n");
    for i in 0..LINES {
        text.push_str(&format!(
            "m{i},meeting,2025-11-20T08:00:00+07:00,99999,M1,video\n"
        ));
    }
    let d = csv::decode(text.as_bytes(), &units, Checks::default());
    assert_eq!(d.rejected.total(), LINES as u64);
    assert_eq!(
        counts(&d.rejected),
        [("unit".into(), "unknown_unit".into(), LINES as u64)]
    );
    assert_eq!(d.rejected.sample().len(), Rejections::DEFAULT_KEEP);
    assert_eq!(d.rejected.sample()[0].line, 2);
}

/// A valid record of each kind, and the id fields it carries.
fn records() -> Vec<(Value, &'static [&'static str])> {
    vec![
        (
            json!({"event_id":"e1","kind":"dossier","occurred_at":"2025-11-20T08:00:00+07:00","unit":"00070",
                   "dossier_id":"D1","status":"accepted","procedure_code":"1.001757","channel":"online",
                   "due_at":"2025-11-25T17:00:00+07:00"}),
            &["event_id", "dossier_id", "procedure_code", "unit"],
        ),
        (
            json!({"event_id":"d1","kind":"document","occurred_at":"2025-11-20T08:00:00+07:00","unit":"79",
                   "doc_id":"VB1","direction":"issued","electronic":true,"signed":true}),
            &["doc_id"],
        ),
        (
            json!({"event_id":"r1","kind":"report","occurred_at":"2025-11-20T08:00:00+07:00","unit":"79",
                   "report_id":"R1","due_at":"2025-11-21T08:00:00+07:00","online":true}),
            &["report_id"],
        ),
        (
            json!({"event_id":"m1","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC",
                   "meeting_id":"M1","mode":"video"}),
            &["meeting_id"],
        ),
    ]
}

/// Each record with a control character (C0, DEL, C1) put into each of
/// its id fields in turn, with the field.
fn with_control_characters() -> Vec<(Value, &'static str)> {
    let mut out = Vec::new();
    for (record, fields) in records() {
        for field in fields {
            for c in ['\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}'] {
                let mut v = record.clone();
                let old = v[*field].as_str().unwrap().to_owned();
                // In place of the last character: a procedure code keeps
                // its length, a unit its digits.
                v[*field] = json!(format!("{}{c}", &old[..old.len() - 1]));
                out.push((v, *field));
            }
        }
    }
    out
}

/// Every record rejected for exactly its control character.
fn all_refused(format: &str, d: &Decoded, cases: &[(Value, &str)]) {
    assert!(d.events.is_empty(), "{format}: {:?}", d.events.first());
    assert_eq!(d.rejected.total(), cases.len() as u64, "{format}");
    for (r, (value, field)) in d.rejected.sample().iter().zip(cases) {
        let got: Vec<(&str, &str)> = r
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.rule.as_str()))
            .collect();
        assert_eq!(got, [(*field, "format")], "{format}: {value}");
        assert!(
            r.errors[0].message.contains("control characters"),
            "{format}: {}",
            r.errors[0].message
        );
    }
}

#[test]
fn control_characters_in_ids_are_refused_in_every_format() {
    let units = UnitRegistry::embedded().unwrap();
    let valid: Vec<Value> = records().into_iter().map(|(v, _)| v).collect();
    let cases = with_control_characters();
    assert_eq!(cases.len(), 7 * 5);

    // NDJSON as serde_json writes it: C0 characters escaped (read by the
    // general reader), DEL and C1 as they are (read by the scanner).
    let ndjson_of = |values: &[&Value]| -> Vec<u8> {
        values
            .iter()
            .flat_map(|v| format!("{v}\n").into_bytes())
            .collect()
    };
    let all: Vec<&Value> = cases.iter().map(|(v, _)| v).collect();
    let ok = ndjson::decode(
        &ndjson_of(&valid.iter().collect::<Vec<_>>()),
        &units,
        Checks::default(),
    );
    assert_eq!((ok.events.len(), ok.rejected.total()), (4, 0));
    all_refused(
        "NDJSON",
        &ndjson::decode(&ndjson_of(&all), &units, Checks::default()),
        &cases,
    );

    let mut w = csv::Writer::new(Vec::new()).unwrap();
    for v in &all {
        w.write_value(v).unwrap();
    }
    let text = w.finish().unwrap();
    all_refused(
        "CSV",
        &csv::decode(&text, &units, Checks::default()),
        &cases,
    );

    let mut buf = Vec::new();
    let mut w = parquet::Writer::new(&mut buf).unwrap();
    for v in &all {
        w.write_value((*v).clone()).unwrap();
    }
    w.finish().unwrap();
    all_refused(
        "Parquet",
        &parquet::decode(bytes::Bytes::from(buf), &units, Checks::default()),
        &cases,
    );
}
