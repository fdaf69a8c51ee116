//! The Parquet decoder on files of the contract's types and of other
//! tools' types, and its fast path held to the full validator.

use super::columns::Instants;
use super::*;
use arrow::array::{Array, AsArray};

#[test]
fn written_events_decode_back_to_the_same_events() {
    let units = UnitRegistry::embedded().unwrap();
    let events = super::super::ndjson::decode(
        sample_data::DEMO_SLICE_NDJSON.as_bytes(),
        &units,
        Checks::default(),
    )
    .events;
    let mut buf = Vec::new();
    let mut w = Writer::new(&mut buf).unwrap();
    for (_, e) in &events {
        w.write_value(serde_json::to_value(e).unwrap()).unwrap();
    }
    w.write_value(serde_json::json!({"event_id": "x", "kind": "meeting"}))
        .unwrap();
    w.finish().unwrap();
    let back = decode(bytes::Bytes::from(buf), &units, Checks::default());
    let a: Vec<_> = events.into_iter().map(|(_, e)| e).collect();
    let b: Vec<_> = back.events.into_iter().map(|(_, e)| e).collect();
    assert_eq!(a, b);
    assert_eq!(back.rejected.total(), 1);
    assert_eq!(back.rejected.sample()[0].line, 241);
    assert_eq!(back.rejected.sample()[0].event_id.as_deref(), Some("x"));
}

/// The first Arrow batch of a Parquet file, as written.
fn first_batch(file: Vec<u8>) -> RecordBatch {
    ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file))
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

/// One Arrow batch as the bytes of a Parquet file.
fn file_of_batch(batch: &RecordBatch) -> Vec<u8> {
    let mut file = Vec::new();
    let mut w = ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    file
}

#[test]
fn text_stored_as_a_dictionary_reads_as_text() {
    let units = UnitRegistry::embedded().unwrap();
    let ndjson = sample_data::DEMO_SLICE_NDJSON.as_bytes();
    let want = super::super::ndjson::decode(ndjson, &units, Checks::default()).events;
    // The demo slice as plain columns, then with `kind` and `unit` as
    // dictionaries, as pandas writes categoricals.
    let plain = file_of(
        sample_data::DEMO_SLICE_NDJSON
            .lines()
            .map(|l| serde_json::from_str(l).unwrap()),
    );
    let batch = first_batch(plain);
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let (mut fields, mut columns) = (Vec::new(), Vec::new());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if ["kind", "unit"].contains(&f.name().as_str()) {
            fields.push(Field::new(f.name(), dict.clone(), true));
            columns.push(arrow::compute::cast(c, &dict).unwrap());
        } else {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        }
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let file = file_of_batch(&batch);
    let got = decode(bytes::Bytes::from(file), &units, Checks::default());
    assert!(
        got.rejected.is_empty(),
        "{:?}",
        got.rejected.sample().first()
    );
    let strip = |v: Vec<(usize, model::Event)>| v.into_iter().map(|(_, e)| e).collect::<Vec<_>>();
    assert_eq!(strip(got.events), strip(want));
}

/// Random records of the contract's column types, each field drawn
/// from values that keep or break its rules, validated with and
/// without the dossier fast path: the same events and the same
/// rejections, and the fast path takes a good share of the rows.
#[test]
fn the_dossier_fast_path_agrees_with_the_validator() {
    use arrow::array::StringViewBuilder;
    let units = UnitRegistry::embedded().unwrap();
    let long = "x".repeat(129);
    let statuses: Vec<String> = model::DossierStatus::ALL
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let mut text_pools: Vec<(&str, Vec<&str>, Vec<&str>)> = vec![
        // Control characters: C0, DEL and C1 (two bytes in UTF-8).
        (
            "event_id",
            vec!["e1", "g1-22", "Hồ sơ 1"],
            vec!["", &long, "e\u{1}1", "e1\u{85}"],
        ),
        (
            "kind",
            vec!["dossier"],
            vec!["document", "Dossier", "meeting", ""],
        ),
        (
            "occurred_at",
            vec!["2025-11-20T08:00:00+07:00", "2025-11-20T01:00:00Z"],
            vec![
                "2025-11-20T08:00:00.5+07:00",
                "1999-12-31T23:00:00+07:00",
                "2025-11-20",
                "",
                "2031-01-01T00:00:00+07:00",
            ],
        ),
        (
            "unit",
            vec!["00070", "01", "BTC"],
            vec!["99999", "abc", "", "0\u{0}070", "BT\u{7f}"],
        ),
        (
            "dossier_id",
            vec!["D1", "BTC-000137045"],
            vec!["", &long, "D\u{9f}1", "D\n1"],
        ),
        (
            "status",
            vec!["accepted", "paid", "rated", "resolved"],
            vec!["bogus", ""],
        ),
        (
            "procedure_code",
            vec!["1.001757", "9.999999"],
            vec!["1.00175", "", "1-001757", "1.00175\u{1f}", "1.0017\u{80}"],
        ),
        (
            "channel",
            vec!["online", "counter", "postal"],
            vec!["fax", ""],
        ),
        (
            "due_at",
            vec!["2025-11-25T17:00:00+07:00", "2025-11-20T08:00:00.5+07:00"],
            vec![
                "2025-11-19T17:00:00+07:00",
                "soon",
                "",
                "2101-01-01T00:00:00+07:00",
            ],
        ),
        ("doc_id", vec!["DOC1"], vec!["", "\u{80}x"]),
        ("direction", vec!["issued"], vec!["sideways"]),
        ("report_id", vec!["R1"], vec!["", "R\u{7f}"]),
        ("meeting_id", vec!["M1"], vec!["", "M\t1"]),
        ("mode", vec!["video"], vec!["radio"]),
    ];
    text_pools[5].1.extend(statuses.iter().map(String::as_str));
    let int_pools = [
        ("amount", vec![0, 25_000], vec![-1, 2_000_000_000_000]),
        ("rating", vec![1, 5], vec![0, 6]),
        ("minutes", vec![30], vec![-5]),
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    const ROWS: usize = 20_000;
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, kind) in FIELDS {
        // Mostly a value that keeps the rules, sometimes null,
        // sometimes one that breaks them.
        let mut pick = |good: usize, bad: usize| match next(100) {
            0..=79 => Some(next(good)),
            80..=89 => None,
            _ if bad > 0 => Some(good + next(bad)),
            _ => None,
        };
        columns.push(match kind {
            FieldType::Text | FieldType::Time => {
                let (_, good, bad) = text_pools.iter().find(|(n, ..)| *n == name).unwrap();
                let mut b = StringViewBuilder::new();
                for _ in 0..ROWS {
                    b.append_option(
                        pick(good.len(), bad.len()).map(|i| good.iter().chain(bad).nth(i).unwrap()),
                    );
                }
                Arc::new(b.finish())
            }
            FieldType::Bool => {
                let mut b = BooleanBuilder::new();
                for _ in 0..ROWS {
                    b.append_option(pick(2, 0).map(|i| i == 1));
                }
                Arc::new(b.finish())
            }
            FieldType::Int => {
                let (good, bad) = int_pools
                    .iter()
                    .find(|(n, ..)| *n == name)
                    .map(|(_, g, b)| (g.clone(), b.clone()))
                    .unwrap();
                let mut b = Int64Builder::new();
                for _ in 0..ROWS {
                    b.append_option(
                        pick(good.len(), bad.len())
                            .map(|i| good.iter().chain(&bad).nth(i).copied().unwrap()),
                    );
                }
                Arc::new(b.finish())
            }
        });
    }
    let fields: Vec<Field> = FIELDS
        .iter()
        .zip(&columns)
        .map(|((n, _), c)| Field::new(*n, c.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    // The same rows with the times as a TIMESTAMP column (µs, +07:00),
    // as other tools write them: a text that is no time becomes null.
    let timed = {
        let (mut fields, mut columns) = (Vec::new(), Vec::new());
        for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
            let col: ArrayRef = if ["occurred_at", "due_at"].contains(&f.name().as_str()) {
                let times: arrow::array::TimestampMicrosecondArray = c
                    .as_string_view()
                    .iter()
                    .map(|v| {
                        Some(
                            chrono::DateTime::parse_from_rfc3339(v?)
                                .ok()?
                                .timestamp_micros(),
                        )
                    })
                    .collect();
                Arc::new(times.with_timezone("+07:00"))
            } else {
                c.clone()
            };
            fields.push(Field::new(f.name(), col.data_type().clone(), true));
            columns.push(col);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    };
    let limit = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00+07:00").unwrap();
    for (batch, checks) in [&batch, &timed].into_iter().flat_map(|b| {
        [
            Checks::default(),
            Checks {
                not_after: Some(limit),
            },
        ]
        .map(|c| (b, c))
    }) {
        // Every rejection kept, to compare them all.
        let all = || Decoded {
            events: Vec::new(),
            rejected: crate::sources::Rejections::with_keep(usize::MAX),
        };
        let (mut fast, mut slow) = (all(), all());
        validate_batch_with(batch, 1, &units, checks, &mut fast, true);
        validate_batch_with(batch, 1, &units, checks, &mut slow, false);
        assert_eq!(fast.events.len() + fast.rejected.total() as usize, ROWS);
        assert_eq!(fast.events, slow.events);
        assert_eq!(fast.rejected, slow.rejected);
        // The fast path's share: the dossier events the validator keeps.
        let typed = {
            let (fields, unknown) = matched(batch);
            let cols = Typed::of(&fields, &unknown).unwrap();
            (0..ROWS)
                .filter(|&i| accept_dossier(&TypedRow { cols: &cols, i }, &units, checks).is_some())
                .count()
        };
        let dossiers = slow
            .events
            .iter()
            .filter(|(_, e)| e.kind == model::EventKind::Dossier)
            .count();
        assert_eq!(typed, dossiers);
        assert!(dossiers > ROWS / 50, "only {dossiers} dossier events kept");
        assert!(!fast.rejected.is_empty());
        // Control characters in the ids are among the reasons.
        let control: std::collections::BTreeSet<&str> = slow
            .rejected
            .sample()
            .iter()
            .flat_map(|r| &r.errors)
            .filter(|e| e.rule == "format" && e.message.contains("control characters"))
            .map(|e| e.field.as_str())
            .collect();
        for field in [
            "event_id",
            "unit",
            "dossier_id",
            "procedure_code",
            "doc_id",
            "meeting_id",
        ] {
            assert!(control.contains(field), "{field}: {control:?}");
        }
        // A slice that starts inside a byte of the null bitmaps: the
        // rows of the whole batch from its fourth on.
        let part = batch.slice(3, ROWS - 3);
        let mut sliced = all();
        validate_batch_with(&part, 4, &units, checks, &mut sliced, true);
        let from_4 = |d: &Decoded| {
            let events: Vec<_> = d.events.iter().filter(|(l, _)| *l >= 4).cloned().collect();
            let rejected: Vec<_> = d
                .rejected
                .sample()
                .iter()
                .filter(|r| r.line >= 4)
                .cloned()
                .collect();
            (events, rejected)
        };
        assert_eq!(
            (sliced.events, sliced.rejected.sample().to_vec()),
            from_4(&slow)
        );
    }
}

/// pyarrow writes a column that is null throughout with Arrow's
/// `Null` type: its field is absent from every row, whether it is a
/// contract field or not.
#[test]
fn a_column_of_the_null_type_is_absent() {
    let units = UnitRegistry::embedded().unwrap();
    let values = [
        r#"{"event_id":"e1","kind":"dossier","occurred_at":"2025-11-20T08:00:00+07:00","unit":"00070","dossier_id":"D1","status":"submitted","procedure_code":"1.001757"}"#,
        r#"{"event_id":"e2","kind":"dossier","occurred_at":"2025-11-20T08:00:00+07:00","unit":"00070","dossier_id":"D1","status":"bogus","procedure_code":"1.001757"}"#,
    ];
    let plain = file_of(values.iter().map(|v| serde_json::from_str(v).unwrap()));
    let batch = first_batch(plain);
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        if c.null_count() == c.len() {
            fields.push(Field::new(f.name(), DataType::Null, true));
            columns.push(Arc::new(arrow::array::NullArray::new(c.len())));
        } else {
            fields.push(f.as_ref().clone());
            columns.push(c.clone());
        }
    }
    fields.push(Field::new("note", DataType::Null, true));
    columns.push(Arc::new(arrow::array::NullArray::new(batch.num_rows())));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    assert!(
        batch
            .schema()
            .field_with_name("doc_id")
            .unwrap()
            .data_type()
            == &DataType::Null
    );
    let file = file_of_batch(&batch);
    let got = decode(bytes::Bytes::from(file), &units, Checks::default());
    assert_eq!(got.events.len(), 1, "{:?}", got.rejected);
    assert_eq!(got.rejected.total(), 1);
    let r = &got.rejected.sample()[0];
    assert_eq!((r.errors.len(), r.errors[0].rule.as_str()), (1, "enum"));
    assert!(
        r.raw.contains("bogus") && !r.raw.contains("note"),
        "{}",
        r.raw
    );
}

/// The demo slice as one batch of the contract's types, with the
/// column `name` replaced by `make` of it.
fn demo_with(name: &str, make: impl Fn(&ArrayRef) -> ArrayRef) -> RecordBatch {
    let batch = first_batch(file_of(
        sample_data::DEMO_SLICE_NDJSON
            .lines()
            .map(|l| serde_json::from_str(l).unwrap()),
    ));
    let (mut fields, mut columns) = (Vec::new(), Vec::new());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let c = if f.name() == name { make(c) } else { c.clone() };
        fields.push(Field::new(f.name(), c.data_type().clone(), true));
        columns.push(c);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

#[test]
fn timestamps_of_every_unit_and_zone_read_as_their_instant() {
    use arrow::array::{
        TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
        TimestampSecondArray,
    };
    let at = chrono::DateTime::parse_from_rfc3339("2025-11-20T08:15:30.25+07:00").unwrap();
    let (s, ns) = (at.timestamp(), at.timestamp_nanos_opt().unwrap());
    let whole = chrono::DateTime::from_timestamp(s, 0).unwrap();
    for (zone, offset) in [
        (None, 0),
        (Some("UTC"), 0),
        (Some("+07:00"), 7 * 3600),
        (Some("-03:30"), -(3 * 3600 + 1800)),
        (Some("Asia/Ho_Chi_Minh"), 7 * 3600),
    ] {
        let cols: Vec<(ArrayRef, chrono::DateTime<chrono::Utc>)> = vec![
            (
                Arc::new(TimestampSecondArray::from(vec![s]).with_timezone_opt(zone)),
                whole,
            ),
            (
                Arc::new(
                    TimestampMillisecondArray::from(vec![ns / 1_000_000]).with_timezone_opt(zone),
                ),
                at.to_utc(),
            ),
            (
                Arc::new(TimestampMicrosecondArray::from(vec![ns / 1_000]).with_timezone_opt(zone)),
                at.to_utc(),
            ),
            (
                Arc::new(TimestampNanosecondArray::from(vec![ns]).with_timezone_opt(zone)),
                at.to_utc(),
            ),
        ];
        for (col, want) in cols {
            let got = Instants::of(&col).unwrap().value(0).unwrap().unwrap();
            assert_eq!(got, want, "{:?}", col.data_type());
            assert_eq!(got.offset().local_minus_utc(), offset, "{zone:?}");
        }
    }
    // Past what a date can hold; null.
    let far: ArrayRef = Arc::new(TimestampSecondArray::from(vec![Some(i64::MAX), None]));
    let far = Instants::of(&far).unwrap();
    assert_eq!((far.value(0), far.value(1)), (Some(None), None));
    // A zone Arrow does not know is not read as a time.
    let mars: ArrayRef =
        Arc::new(TimestampSecondArray::from(vec![s]).with_timezone("Mars/Olympus"));
    assert!(Instants::of(&mars).is_none());
}

#[test]
fn a_timestamp_breaks_the_rules_a_text_time_breaks() {
    use arrow::array::TimestampMillisecondArray;
    let units = UnitRegistry::embedded().unwrap();
    let one = |values: Vec<Option<i64>>| {
        let batch = demo_with("occurred_at", |_| {
            let mut v = values.clone();
            v.resize(240, v[0]);
            Arc::new(TimestampMillisecondArray::from(v).with_timezone("+07:00"))
        });
        let d = decode(
            bytes::Bytes::from(file_of_batch(&batch)),
            &units,
            Checks::default(),
        );
        d.rejected
            .by_rule()
            .into_iter()
            .filter(|c| c.field == "occurred_at")
            .map(|c| c.rule)
            .collect::<Vec<_>>()
    };
    let ok = chrono::DateTime::parse_from_rfc3339("2025-11-20T08:00:00+07:00").unwrap();
    assert_eq!(one(vec![Some(ok.timestamp_millis())]), [""; 0]);
    // 1999-12-31 23:00 local; past what a date holds; missing.
    let rule = |r: &str| vec![r.to_owned()];
    assert_eq!(one(vec![Some(946_656_000_000)]), rule("range"));
    assert_eq!(one(vec![Some(i64::MAX)]), rule("range"));
    assert_eq!(one(vec![None]), rule("required"));
}

#[test]
fn a_column_of_another_type_is_a_type_error_naming_it() {
    let units = UnitRegistry::embedded().unwrap();
    let batch = demo_with("occurred_at", |c| {
        Arc::new(arrow::array::Date32Array::from(vec![Some(20_000); c.len()]))
    });
    let d = decode(
        bytes::Bytes::from(file_of_batch(&batch)),
        &units,
        Checks::default(),
    );
    assert!(d.events.is_empty());
    assert_eq!(d.rejected.total(), 240);
    let counts = d.rejected.by_rule();
    assert_eq!((counts.len(), counts[0].count), (1, 240), "{counts:?}");
    let e = &d.rejected.sample()[0].errors[0];
    assert_eq!((e.field.as_str(), e.rule.as_str()), ("occurred_at", "type"));
    assert!(e.message.contains("Date32"), "{}", e.message);
    assert!(
        d.rejected.sample()[0]
            .raw
            .contains("\"occurred_at\":\"2024-10-04\"")
    );
}

#[test]
fn counts_of_any_integer_width_read_as_counts() {
    use arrow::array::UInt64Array;
    let units = UnitRegistry::embedded().unwrap();
    let want = super::super::ndjson::decode(
        sample_data::DEMO_SLICE_NDJSON.as_bytes(),
        &units,
        Checks::default(),
    );
    let strip = |d: Decoded| d.events.into_iter().map(|(_, e)| e).collect::<Vec<_>>();
    let narrow = demo_with("rating", |c| {
        arrow::compute::cast(c, &DataType::Int8).unwrap()
    });
    let d = decode(
        bytes::Bytes::from(file_of_batch(&narrow)),
        &units,
        Checks::default(),
    );
    assert!(d.rejected.is_empty());
    assert_eq!(strip(d), strip(want));
    // An unsigned count past i64::MAX breaks its range; it is not
    // missing.
    let huge = demo_with("rating", |c| {
        Arc::new(UInt64Array::from(vec![Some(u64::MAX); c.len()]))
    });
    let d = decode(
        bytes::Bytes::from(file_of_batch(&huge)),
        &units,
        Checks::default(),
    );
    let rating = d
        .rejected
        .by_rule()
        .into_iter()
        .find(|c| c.field == "rating")
        .unwrap();
    assert_eq!(rating.rule, "range");
    assert_eq!(rating.count, d.rejected.total());
    assert!(
        normalise(&huge)
            .column_by_name("rating")
            .unwrap()
            .data_type()
            == &DataType::Int64
    );
}

#[test]
fn garbage_is_one_clear_rejection() {
    let units = UnitRegistry::embedded().unwrap();
    let d = decode(
        bytes::Bytes::from_static(b"not parquet"),
        &units,
        Checks::default(),
    );
    assert_eq!(d.rejected.sample()[0].errors[0].rule, "parquet");
}
