//! Parquet as other tools write it: the same generated events with their
//! times as TIMESTAMP columns (in each unit, with and without a time
//! zone), counts as narrower or unsigned integers and text as dictionaries
//! or large strings decode to the same events, and fold to a KPI report
//! byte for byte the same, as the file of the contract's own types, both
//! through `parquet::decode` (HTTP ingest, replay) and through the batch
//! engine (`govpulse kpi`).

use arrow::array::{
    ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::NaiveDate;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::arrow_writer::ArrowWriterOptions;
use pipelines::kpi::batch::{fold_inputs, parquet_chunks};
use pipelines::kpi::fold::Breakdown;
use pipelines::kpi::report::{Level, ReportSpec, plan_of, write_json_plan};
use pipelines::sources::parquet;
use pipelines::sources::validate::Checks;
use pipelines::units::UnitRegistry;
use pipelines::windows::batch::contract_columns_usable;
use pipelines::windows::periods::Period;
use sample_data::generator::{GenConfig, Generator, Record};
use std::sync::Arc;

/// Generated events as a Parquet file of the contract's types (times as
/// RFC 3339 text).
fn contract_file() -> Vec<u8> {
    let from = NaiveDate::from_ymd_opt(2025, 11, 17).unwrap();
    let mut buf = Vec::new();
    let mut w = parquet::Writer::new(&mut buf).unwrap();
    let mut n = 0;
    for r in Generator::new(GenConfig::new(from, 3, 0.004, 17))
        .unwrap()
        .collect()
    {
        let Record::Event(e) = r else {
            panic!("the baseline has only events")
        };
        w.write_value(serde_json::to_value(e).unwrap()).unwrap();
        n += 1;
    }
    w.finish().unwrap();
    assert!(n > 5_000, "{n} events");
    buf
}

/// How one column of the contract file is rewritten.
#[derive(Clone, Copy)]
enum As {
    Timestamp(TimeUnit, Option<&'static str>),
    Type(&'static DataType),
}

const INT32: DataType = DataType::Int32;
const INT16: DataType = DataType::Int16;
const UINT64: DataType = DataType::UInt64;
const LARGE: DataType = DataType::LargeUtf8;

/// A time column's RFC 3339 text as a TIMESTAMP column in `unit`, with
/// time zone `zone`.
fn timestamps(text: &ArrayRef, unit: TimeUnit, zone: Option<&str>) -> ArrayRef {
    let instants = text.as_string::<i32>().iter().map(|t| {
        let t = chrono::DateTime::parse_from_rfc3339(t?).unwrap();
        let ns = t.timestamp_nanos_opt().unwrap();
        Some(match unit {
            TimeUnit::Millisecond => {
                assert_eq!(ns % 1_000_000, 0, "the times are whole milliseconds");
                ns / 1_000_000
            }
            TimeUnit::Microsecond => ns / 1_000,
            TimeUnit::Nanosecond => ns,
            TimeUnit::Second => unreachable!("Parquet has no seconds"),
        })
    });
    match unit {
        TimeUnit::Millisecond => Arc::new(
            instants
                .collect::<TimestampMillisecondArray>()
                .with_timezone_opt(zone),
        ),
        TimeUnit::Microsecond => Arc::new(
            instants
                .collect::<TimestampMicrosecondArray>()
                .with_timezone_opt(zone),
        ),
        _ => Arc::new(
            instants
                .collect::<TimestampNanosecondArray>()
                .with_timezone_opt(zone),
        ),
    }
}

/// The contract file with columns rewritten as `changes` say, written
/// with the Arrow schema in its metadata (as arrow-rs and pyarrow do) or
/// without it (as DuckDB and Spark do: the reader sees Parquet's types).
fn rewritten(file: &[u8], changes: &[(&str, As)], arrow_schema: bool) -> Vec<u8> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(file))
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader
        .map(|batch| {
            let batch = batch.unwrap();
            let (mut fields, mut columns) = (Vec::new(), Vec::new());
            for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
                let c = match changes.iter().find(|(n, _)| n == f.name()) {
                    Some((_, As::Timestamp(unit, zone))) => timestamps(c, *unit, *zone),
                    Some((_, As::Type(t))) => arrow::compute::cast(c, t).unwrap(),
                    None => c.clone(),
                };
                fields.push(Field::new(f.name(), c.data_type().clone(), true));
                columns.push(c);
            }
            RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
        })
        .collect();
    let mut out = Vec::new();
    let options = ArrowWriterOptions::new().with_skip_arrow_metadata(!arrow_schema);
    let mut w = ArrowWriter::try_new_with_options(&mut out, batches[0].schema(), options).unwrap();
    for b in &batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
    out
}

fn dictionary() -> &'static DataType {
    static DICT: std::sync::LazyLock<DataType> = std::sync::LazyLock::new(|| {
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
    });
    &DICT
}

/// The variants: each way of writing the same events.
fn variants(file: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    use TimeUnit::{Microsecond as Us, Millisecond as Ms, Nanosecond as Ns};
    vec![
        (
            "TIMESTAMP(µs, UTC), int32 counts",
            rewritten(
                file,
                &[
                    ("occurred_at", As::Timestamp(Us, Some("UTC"))),
                    ("due_at", As::Timestamp(Us, Some("UTC"))),
                    ("rating", As::Type(&INT32)),
                    ("minutes", As::Type(&INT32)),
                ],
                true,
            ),
        ),
        (
            "TIMESTAMP(ms, no zone), dictionary text",
            rewritten(
                file,
                &[
                    ("occurred_at", As::Timestamp(Ms, None)),
                    ("due_at", As::Timestamp(Ms, None)),
                    ("kind", As::Type(dictionary())),
                    ("unit", As::Type(dictionary())),
                    ("status", As::Type(dictionary())),
                    ("channel", As::Type(dictionary())),
                    ("procedure_code", As::Type(dictionary())),
                    ("mode", As::Type(dictionary())),
                ],
                true,
            ),
        ),
        (
            "TIMESTAMP(ns, +07:00), large text, int16 and uint64 counts",
            rewritten(
                file,
                &[
                    ("occurred_at", As::Timestamp(Ns, Some("+07:00"))),
                    ("due_at", As::Timestamp(Ns, Some("+07:00"))),
                    ("event_id", As::Type(&LARGE)),
                    ("dossier_id", As::Type(&LARGE)),
                    ("doc_id", As::Type(&LARGE)),
                    ("minutes", As::Type(&INT16)),
                    ("amount", As::Type(&UINT64)),
                ],
                true,
            ),
        ),
        (
            "as DuckDB writes: TIMESTAMP(µs, adjusted to UTC), int32, no Arrow schema",
            rewritten(
                file,
                &[
                    ("occurred_at", As::Timestamp(Us, Some("+00:00"))),
                    ("due_at", As::Timestamp(Us, Some("+00:00"))),
                    ("rating", As::Type(&INT32)),
                    ("minutes", As::Type(&INT32)),
                    ("unit", As::Type(dictionary())),
                ],
                false,
            ),
        ),
    ]
}

#[test]
fn other_tools_files_decode_to_the_same_events() {
    let units = UnitRegistry::embedded().unwrap();
    let file = contract_file();
    let want = parquet::decode(bytes::Bytes::from(file.clone()), &units, Checks::default());
    assert!(want.rejected.is_empty());
    for (name, other) in variants(&file) {
        // The file holds what its name says.
        let types: Vec<DataType> = {
            let b = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(other.clone()))
                .unwrap();
            b.schema()
                .fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect()
        };
        assert!(
            types.iter().any(|t| matches!(t, DataType::Timestamp(..))),
            "{name}: {types:?}"
        );
        let got = parquet::decode(bytes::Bytes::from(other.clone()), &units, Checks::default());
        assert!(
            got.rejected.is_empty(),
            "{name}: {:?}",
            got.rejected.sample().first()
        );
        assert_eq!(got.events.len(), want.events.len(), "{name}");
        for ((la, a), (lb, b)) in want.events.iter().zip(&got.events) {
            assert_eq!((la, a), (lb, b), "{name}");
            // The same instants; a zone-less or UTC column has no offset
            // to give but UTC's.
            assert_eq!(a.occurred_at, b.occurred_at);
            assert_eq!(a.due_at, b.due_at);
        }
        // Every batch takes the fast path of contract columns.
        let mut raw = parquet::batches(bytes::Bytes::from(other), &units, Checks::default());
        let mut batches = 0;
        while let Some(parquet::RawBatch::Batch { batch, .. }) = raw.next_raw() {
            assert!(
                contract_columns_usable(&batch),
                "{name}: {:?}",
                batch.schema()
            );
            batches += 1;
        }
        assert!(batches > 0);
    }
}

/// The JSON report `govpulse kpi` writes for one Parquet file.
fn kpi_json(
    file: &[u8],
    units: &Arc<UnitRegistry>,
    breakdown: Breakdown,
    spec: ReportSpec,
) -> Vec<u8> {
    let calendar = sample_data::calendar().unwrap();
    let mut tmp = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut tmp, file).unwrap();
    let outcome = fold_inputs(
        || Ok(parquet_chunks(0, tmp.try_clone()?, units)),
        2,
        units.clone(),
        Checks::default(),
        breakdown,
    )
    .unwrap();
    assert!(outcome.rejected.iter().all(|r| r.is_empty()));
    let plan = plan_of(outcome.fold, units, &calendar, spec).unwrap();
    let mut json = Vec::new();
    write_json_plan(&plan, &mut json).unwrap();
    json
}

#[test]
fn other_tools_files_give_the_same_kpi_report_byte_for_byte() {
    let units = Arc::new(UnitRegistry::embedded().unwrap());
    let file = contract_file();
    let variants = variants(&file);
    for (breakdown, level, period) in [
        (Breakdown::None, Level::Commune, Period::Hour),
        (Breakdown::Channel, Level::Province, Period::Day),
        (Breakdown::Procedure, Level::Nation, Period::All),
    ] {
        let spec = ReportSpec {
            level,
            period,
            chunk: pipelines::kpi::batch::MICRO_BATCH,
        };
        let want = kpi_json(&file, &units, breakdown, spec);
        assert!(want.len() > 1000, "{}", String::from_utf8_lossy(&want));
        for (name, other) in &variants {
            let got = kpi_json(other, &units, breakdown, spec);
            assert!(got == want, "{name}, {breakdown:?}: the reports differ");
        }
    }
}

#[test]
fn a_timestamp_without_a_zone_is_read_as_utc() {
    // 01:00 UTC is 08:00 in Hà Nội: as the text with its offset says.
    let units = UnitRegistry::embedded().unwrap();
    let text = r#"{"event_id":"m1","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video"}"#;
    let file = {
        let mut buf = Vec::new();
        let mut w = parquet::Writer::new(&mut buf).unwrap();
        w.write_value(serde_json::from_str(text).unwrap()).unwrap();
        w.finish().unwrap();
        buf
    };
    let naive = rewritten(
        &file,
        &[("occurred_at", As::Timestamp(TimeUnit::Microsecond, None))],
        true,
    );
    let d = parquet::decode(bytes::Bytes::from(naive), &units, Checks::default());
    let at = d.events[0].1.occurred_at;
    assert_eq!(at.to_rfc3339(), "2025-11-20T01:00:00+00:00");
    assert_eq!(
        at,
        chrono::DateTime::parse_from_rfc3339("2025-11-20T08:00:00+07:00").unwrap()
    );
}
