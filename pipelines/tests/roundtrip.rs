//! Properties of the decoders:
//! - a decoded event encodes back to the same record: generated events with
//!   arbitrary identifiers (commas, quotes, backslashes, any Unicode but
//!   the control characters the contract refuses) go through
//!   NDJSON, CSV and Parquet and come back equal, and encoding the decoded
//!   events again gives the same bytes;
//! - on arbitrary and mutated bytes every decoder keeps its invariants
//!   (`sources::invariants::check`, the body of the fuzz targets in `fuzz/`).

use chrono::NaiveDate;
use model::Event;
use pipelines::sources::validate::Checks;
use pipelines::sources::{Format, csv, invariants, parquet};
use pipelines::units::UnitRegistry;
use proptest::prelude::*;
use sample_data::generator::{GenConfig, Generator, Record};
use std::sync::OnceLock;

fn pool() -> &'static (UnitRegistry, Vec<Event>) {
    static POOL: OnceLock<(UnitRegistry, Vec<Event>)> = OnceLock::new();
    POOL.get_or_init(|| {
        let from = NaiveDate::from_ymd_opt(2025, 11, 19).unwrap();
        let events = Generator::new(GenConfig::new(from, 2, 0.0005, 5))
            .unwrap()
            .collect()
            .into_iter()
            .filter_map(|r| match r {
                Record::Event(e) => Some(e),
                Record::Raw(_) => None,
            })
            .collect();
        (UnitRegistry::embedded().unwrap(), events)
    })
}

fn encode(format: Format, events: &[Event]) -> Vec<u8> {
    match format {
        Format::Ndjson => {
            let mut out = Vec::new();
            for e in events {
                serde_json::to_writer(&mut out, e).unwrap();
                out.push(b'\n');
            }
            out
        }
        Format::Csv => {
            let mut w = csv::Writer::new(Vec::new()).unwrap();
            for e in events {
                w.write_value(&serde_json::to_value(e).unwrap()).unwrap();
            }
            w.finish().unwrap()
        }
        Format::Parquet => {
            let mut out = Vec::new();
            let mut w = parquet::Writer::new(&mut out).unwrap();
            for e in events {
                w.write_value(serde_json::to_value(e).unwrap()).unwrap();
            }
            w.finish().unwrap();
            out
        }
    }
}

fn decode(format: Format, bytes: &[u8], units: &UnitRegistry) -> Vec<Event> {
    let d = pipelines::sources::decode(
        format,
        bytes::Bytes::copy_from_slice(bytes),
        units,
        Checks::default(),
    );
    assert!(
        d.rejected.is_empty(),
        "{format:?}: {:?}",
        d.rejected.sample().first()
    );
    d.events.into_iter().map(|(_, e)| e).collect()
}

/// Identifiers with the characters that break naive encoders (control
/// characters such as newlines and tabs, which the contract refuses in
/// ids, aside).
fn id() -> impl Strategy<Value = String> {
    prop::string::string_regex("([a-zA-Z0-9 ,;\"'\\\\/ăđưộếỹ€😀-]){1,24}").unwrap()
}

const FORMATS: [Format; 3] = [Format::Ndjson, Format::Csv, Format::Parquet];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn decoded_events_encode_back_to_the_same_record(
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..40),
        ids in prop::collection::vec(id(), 40),
    ) {
        let (units, pool) = pool();
        let events: Vec<Event> = picks
            .iter()
            .zip(&ids)
            .map(|(i, id)| {
                let mut e = i.get(pool).clone();
                e.event_id = id.as_str().into();
                if e.dossier_id.is_some() {
                    e.dossier_id = Some(format!("{id}-d").into());
                }
                e
            })
            .collect();
        for format in FORMATS {
            let bytes = encode(format, &events);
            let back = decode(format, &bytes, units);
            prop_assert_eq!(&back, &events, "{:?}", format);
            prop_assert_eq!(encode(format, &back), bytes, "{:?} re-encoded", format);
        }
    }

    #[test]
    fn decoders_keep_their_invariants_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let (units, _) = pool();
        for format in FORMATS {
            invariants::check(format, &bytes, units);
        }
    }

    #[test]
    fn decoders_keep_their_invariants_on_mutated_valid_input(
        picks in prop::collection::vec(any::<prop::sample::Index>(), 1..12),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let (units, pool) = pool();
        let events: Vec<Event> = picks.iter().map(|i| i.get(pool).clone()).collect();
        for format in FORMATS {
            let mut bytes = encode(format, &events);
            for (at, b) in &flips {
                let i = at.index(bytes.len());
                bytes[i] = *b;
            }
            invariants::check(format, &bytes, units);
            let keep = cut.index(bytes.len() + 1);
            invariants::check(format, &bytes[..keep], units);
        }
    }
}

/// Inputs the property tests above once found a violation in, kept so
/// that they run on every build.
#[test]
fn decoders_keep_their_invariants_on_past_failures() {
    let (units, _) = pool();
    let cases: [&[u8]; 2] = [
        // A vertical tab (not JSON whitespace), a newline and a NUL: as
        // CSV, a header whose one column has an empty name.
        &[0x0b, b'\n', 0x00],
        br#"{"":1}"#,
    ];
    for bytes in cases {
        for format in FORMATS {
            invariants::check(format, bytes, units);
        }
    }
}
