//! Bad records at scale: many rejections cost a count per rule and a
//! sample, not a copy of every record.

use pipelines::kpi::batch::{fold_parallel, ndjson_chunks};
use pipelines::kpi::fold::Breakdown;
use pipelines::sources::validate::Checks;
use pipelines::sources::{Rejections, csv, ndjson};
use pipelines::units::UnitRegistry;
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
