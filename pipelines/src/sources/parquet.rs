//! Parquet with the contract's columns, in the physical forms other tools
//! write: text as UTF-8 (plain, large or dictionary-encoded), flags as
//! booleans, counts as integers of any width (signed or not), and times
//! as RFC 3339 text (which keeps the sender's offset) or as TIMESTAMP
//! columns in any unit, with or without a time zone ([`Instants`]).
//!
//! Each batch is first brought to the types the decoder reads
//! ([`normalise`]: integers to Int64, text to `Utf8View`), so that files
//! of other tools take the same paths, fast path included, as files of
//! the contract's own types.

use super::validate::{Checks, FieldValue, Record, TypedRecord, accept_dossier, validate_record};
use super::{Decoded, FIELDS, FieldError, FieldType, Rejection, Row, Sink, validate_rows};
use crate::error::Result;
use crate::units::UnitRegistry;
use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Int64Array, Int64Builder, RecordBatch,
    StringBuilder, StringViewArray,
};
use arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt64Type,
};
use chrono::{DateTime, FixedOffset};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::file::reader::ChunkReader;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The Arrow schema of contract Parquet files.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(
        FIELDS
            .iter()
            .map(|(name, t)| {
                let dt = match t {
                    FieldType::Text | FieldType::Time => DataType::Utf8,
                    FieldType::Bool => DataType::Boolean,
                    FieldType::Int => DataType::Int64,
                };
                Field::new(*name, dt, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// Decode and validate a Parquet file held in memory.
pub fn decode(input: bytes::Bytes, units: &UnitRegistry, checks: Checks) -> Decoded {
    let mut out = Decoded::default();
    for d in batches(input, units, checks) {
        out.take(d);
    }
    out
}

/// Decode and validate a Parquet file one Arrow batch (up to
/// [`BATCH_ROWS`] rows) at a time, so a consumer can work on one batch
/// while the next is decoded. Line numbers run on across batches; a file
/// that cannot be read yields one rejection and ends.
pub fn batches<T: ChunkReader + 'static>(
    input: T,
    units: &UnitRegistry,
    checks: Checks,
) -> Batches<'_> {
    batches_of(input, units, checks, BATCH_ROWS)
}

/// [`batches`] of up to `rows` rows.
pub fn batches_of<T: ChunkReader + 'static>(
    input: T,
    units: &UnitRegistry,
    checks: Checks,
    rows: usize,
) -> Batches<'_> {
    // The Parquet reader can panic on some corrupt files instead of
    // returning an error; a bad upload must never take the server down, so
    // a panic becomes a rejection of the rest of the file.
    let reader = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let views = as_views(&input)?;
        ParquetRecordBatchReaderBuilder::new_with_metadata(input, views)
            .with_batch_size(rows.max(1))
            .build()
    }));
    let state = match reader {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("not a readable Parquet file: {e}")),
        Err(_) => Err("not a readable Parquet file: corrupt metadata".into()),
    };
    Batches {
        state: Some(state),
        units,
        checks,
        line: 0,
    }
}

/// The file's metadata, with its text columns read as `Utf8View`: a
/// string of up to 12 bytes is held in its view, a longer one stays in the
/// page it was read from, where `Utf8` copies every string into one buffer.
/// Text stored as a dictionary (pandas' categoricals) is read as views too.
fn as_views<T: ChunkReader>(input: &T) -> datafusion::parquet::errors::Result<ArrowReaderMetadata> {
    let meta = ArrowReaderMetadata::load(input, ArrowReaderOptions::new())?;
    let fields: Vec<_> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let text = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8);
            match f.data_type() {
                t if text(t) => Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View)),
                DataType::Dictionary(_, v) if text(v) => {
                    Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View))
                }
                _ => f.clone(),
            }
        })
        .collect();
    let views = Arc::new(Schema::new_with_metadata(
        fields,
        meta.schema().metadata().clone(),
    ));
    ArrowReaderMetadata::try_new(
        meta.metadata().clone(),
        ArrowReaderOptions::new().with_schema(views),
    )
}

/// The row count a Parquet file's footer declares, if it can be read.
pub fn row_count(input: &bytes::Bytes) -> Option<u64> {
    std::panic::catch_unwind(|| {
        ParquetRecordBatchReaderBuilder::try_new(input.clone())
            .ok()
            .map(|b| b.metadata().file_metadata().num_rows().max(0) as u64)
    })
    .ok()
    .flatten()
}

/// Rows per Arrow batch read from a Parquet file.
pub const BATCH_ROWS: usize = 8192;

/// The iterator of [`batches`].
pub struct Batches<'a> {
    /// The reader, or why the file cannot be read; `None` once finished.
    state: Option<std::result::Result<ParquetRecordBatchReader, String>>,
    units: &'a UnitRegistry,
    checks: Checks,
    line: usize,
}

/// One step of [`Batches::next_raw`]: an Arrow batch not yet validated,
/// with the line number of its first row, or the rejection that ends an
/// unreadable file.
#[derive(Debug)]
pub enum RawBatch {
    Batch {
        batch: RecordBatch,
        first_line: usize,
    },
    Failed(Decoded),
}

impl Iterator for Batches<'_> {
    type Item = Decoded;

    fn next(&mut self) -> Option<Decoded> {
        Some(match self.next_raw()? {
            RawBatch::Batch { batch, first_line } => {
                validate_batch(&batch, first_line, self.units, self.checks)
            }
            RawBatch::Failed(d) => d,
        })
    }
}

impl Batches<'_> {
    /// The next Arrow batch as read, for a caller that validates batches
    /// elsewhere (on worker threads) with [`validate_batch`].
    pub fn next_raw(&mut self) -> Option<RawBatch> {
        let reader = match self.state.as_mut()? {
            Ok(r) => r,
            Err(message) => {
                let row = Row {
                    line: 0,
                    value: Err(FieldError {
                        field: "$".into(),
                        rule: "parquet".into(),
                        message: std::mem::take(message),
                    }),
                    raw: String::new(),
                };
                self.state = None;
                return Some(RawBatch::Failed(validate_rows(
                    [row],
                    self.units,
                    self.checks,
                )));
            }
        };
        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            reader.next().map(|b| b.map_err(|e| e.to_string()))
        }))
        .unwrap_or_else(|_| {
            Some(Err(
                "the Parquet reader failed on corrupt data in this file".into(),
            ))
        });
        match next {
            None => {
                self.state = None;
                None
            }
            Some(Ok(batch)) => {
                let first_line = self.line + 1;
                self.line += batch.num_rows();
                let batch = normalise(&batch);
                Some(RawBatch::Batch { batch, first_line })
            }
            Some(Err(message)) => {
                self.state = None;
                self.line += 1;
                let mut failed = Decoded::default();
                failed.reject(Rejection {
                    line: self.line,
                    event_id: None,
                    errors: vec![FieldError {
                        field: "$".into(),
                        rule: "parquet".into(),
                        message,
                    }],
                    raw: String::new(),
                });
                Some(RawBatch::Failed(failed))
            }
        }
    }
}

/// `batch` with its columns in the types the decoder reads: integers of
/// any width, signed or not, as Int64; text of any layout (plain, large,
/// dictionary-encoded) as `Utf8View`. Timestamps stay as they are (they
/// are read as instants, [`Instants`]), and so does any other type, for
/// the validator to name in a `type` error. A batch that needs no change
/// (the reader's batches of a file of the contract's types) is returned
/// as it is, at the cost of a look at its column types.
pub fn normalise(batch: &RecordBatch) -> RecordBatch {
    if batch
        .columns()
        .iter()
        .all(|c| read_as(c.data_type()).is_none())
    {
        return batch.clone();
    }
    let schema = batch.schema();
    let (mut fields, mut columns) = (Vec::new(), Vec::new());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        match read_as(c.data_type()).and_then(|to| Some((convert(c, &to)?, to))) {
            Some((col, to)) => {
                fields.push(Arc::new(f.as_ref().clone().with_data_type(to)));
                columns.push(col);
            }
            None => {
                fields.push(f.clone());
                columns.push(c.clone());
            }
        }
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    // The conversions keep every row, so this cannot fail; were it to, the
    // batch as read still validates (as `type` errors).
    RecordBatch::try_new(schema, columns).unwrap_or_else(|_| batch.clone())
}

/// The type [`normalise`] reads a column of type `t` as, if another.
fn read_as(t: &DataType) -> Option<DataType> {
    use DataType as D;
    let text = |t: &DataType| matches!(t, D::Utf8 | D::LargeUtf8 | D::Utf8View);
    match t {
        D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16 | D::UInt32 | D::UInt64 => {
            Some(D::Int64)
        }
        D::Utf8 | D::LargeUtf8 => Some(D::Utf8View),
        D::Dictionary(_, v) if text(v) => Some(D::Utf8View),
        _ => None,
    }
}

/// `col` as type `to`; `None` if arrow cannot convert it.
fn convert(col: &ArrayRef, to: &DataType) -> Option<ArrayRef> {
    if col.data_type() == &DataType::UInt64 {
        // A cast would make a value past i64::MAX null, an absent field;
        // as i64::MAX it breaks the range of every count, as it should.
        let a = col.as_primitive::<UInt64Type>();
        return Some(Arc::new(
            a.unary::<_, Int64Type>(|v| i64::try_from(v).unwrap_or(i64::MAX)),
        ));
    }
    arrow::compute::cast(col, to).ok()
}

/// Validate one Arrow batch of contract columns whose first row is line
/// `first_line` of its file.
pub fn validate_batch(
    batch: &RecordBatch,
    first_line: usize,
    units: &UnitRegistry,
    checks: Checks,
) -> Decoded {
    let mut out = Decoded::default();
    validate_batch_into(batch, first_line, units, checks, &mut out);
    out
}

/// [`validate_batch`] into any [`Sink`].
pub fn validate_batch_into(
    batch: &RecordBatch,
    first_line: usize,
    units: &UnitRegistry,
    checks: Checks,
    out: &mut impl Sink,
) {
    validate_batch_with(batch, first_line, units, checks, out, true);
}

/// [`validate_batch_into`], with the fast path for dossier events
/// ([`accept_dossier`]) or without it (to test that both agree).
fn validate_batch_with(
    batch: &RecordBatch,
    first_line: usize,
    units: &UnitRegistry,
    checks: Checks,
    out: &mut impl Sink,
    fast: bool,
) {
    // A no-op for batches from [`Batches`], normalised already.
    let batch = &normalise(batch);
    out.reserve(batch.num_rows());
    // Columns are matched to contract fields once per batch, not once
    // per field and row.
    let (fields, unknown) = matched(batch);
    // A batch of the contract's column types is read without a type
    // dispatch per cell, and its sound dossier events are built directly;
    // every other row goes through the full validator.
    let typed = if fast {
        Typed::of(&fields, &unknown)
    } else {
        None
    };
    for i in 0..batch.num_rows() {
        let line = first_line + i;
        if let Some(ev) = typed
            .as_ref()
            .and_then(|t| accept_dossier(&TypedRow { cols: t, i }, units, checks))
        {
            out.event(line, ev);
            continue;
        }
        let row = BatchRow {
            fields: &fields,
            unknown: &unknown,
            i,
        };
        match validate_record(&row, units, checks) {
            Ok(ev) => out.event(line, ev),
            Err(errors) => {
                // The JSON form of the row is built only for rejections
                // kept in full.
                let raw = if out.keeps_next() {
                    super::cut_raw(row_value(batch, i).to_string().as_bytes())
                } else {
                    String::new()
                };
                let event_id = match row.get(f!("event_id")) {
                    Some(FieldValue::Text(t)) => Some(t.to_owned()),
                    _ => None,
                };
                out.reject(Rejection {
                    line,
                    event_id,
                    errors,
                    raw,
                });
            }
        }
    }
}

/// A batch's columns matched to the contract: each field's column (by its
/// position in [`FIELDS`]), and the columns that are no field, by name.
type Matched<'a> = (
    [Option<Col<'a>>; FIELDS.len()],
    Vec<(&'a str, &'a ArrayRef)>,
);

fn matched(batch: &RecordBatch) -> Matched<'_> {
    let mut fields = [None; FIELDS.len()];
    let mut unknown = Vec::new();
    for (f, col) in batch.schema_ref().fields().iter().zip(batch.columns()) {
        match super::field_index(f.name()) {
            Some(i) => fields[i] = Some(Col::of(col)),
            None => unknown.push((f.name().as_str(), col)),
        }
    }
    (fields, unknown)
}

/// A contract field's column, cast to its Arrow type once per batch rather
/// than on every read.
#[derive(Clone, Copy)]
enum Col<'a> {
    Utf8(&'a arrow::array::StringArray),
    LargeUtf8(&'a arrow::array::LargeStringArray),
    Utf8View(&'a arrow::array::StringViewArray),
    Boolean(&'a arrow::array::BooleanArray),
    Int64(&'a arrow::array::Int64Array),
    /// A TIMESTAMP column, of any unit and time zone.
    Time(Instants<'a>),
    /// A column of Arrow's `Null` type (as pyarrow writes a column that
    /// is null throughout): every row null.
    Null,
    Other(&'a ArrayRef),
}

impl<'a> Col<'a> {
    fn of(col: &'a ArrayRef) -> Self {
        match col.data_type() {
            DataType::Utf8 => Col::Utf8(col.as_string::<i32>()),
            DataType::LargeUtf8 => Col::LargeUtf8(col.as_string::<i64>()),
            DataType::Utf8View => Col::Utf8View(col.as_string_view()),
            DataType::Boolean => Col::Boolean(col.as_boolean()),
            DataType::Int64 => Col::Int64(col.as_primitive::<Int64Type>()),
            DataType::Timestamp(..) => Instants::of(col).map_or(Col::Other(col), Col::Time),
            DataType::Null => Col::Null,
            _ => Col::Other(col),
        }
    }

    /// Row `i`; `None` when null.
    fn value(self, i: usize) -> Option<FieldValue<'a>> {
        Some(match self {
            Col::Utf8(a) => FieldValue::Text(a.is_valid(i).then(|| a.value(i))?),
            Col::LargeUtf8(a) => FieldValue::Text(a.is_valid(i).then(|| a.value(i))?),
            Col::Utf8View(a) => FieldValue::Text(a.is_valid(i).then(|| a.value(i))?),
            Col::Boolean(a) => FieldValue::Bool(a.is_valid(i).then(|| a.value(i))?),
            Col::Int64(a) => FieldValue::Int(a.is_valid(i).then(|| a.value(i))?),
            Col::Time(a) => FieldValue::Time(a.value(i)?),
            Col::Null => return None,
            Col::Other(a) => a.is_valid(i).then(|| FieldValue::Column(a.data_type()))?,
        })
    }
}

/// A TIMESTAMP column read as instants. Each value counts `unit`s since
/// 1970-01-01T00:00:00 UTC, whatever the column's time zone (Parquet's
/// `isAdjustedToUTC` and Arrow both store UTC); the zone only gives the
/// offset the event is shown in. A column without a time zone is read
/// as UTC too: by the Parquet and Arrow convention its values are the
/// same counts from the same epoch, and a sender's local wall-clock time
/// written without a zone cannot be told apart from UTC anyway. So a
/// TIMESTAMP gives the very event of the same instant written as RFC 3339
/// text (events compare, and KPIs count, by instant).
#[derive(Clone, Copy)]
struct Instants<'a> {
    array: &'a dyn Array,
    values: &'a [i64],
    /// Units per second.
    per_second: i64,
    zone: Tz,
}

impl<'a> Instants<'a> {
    /// `None` when `col` is not a timestamp column or its time zone is
    /// not one Arrow knows.
    fn of(col: &'a ArrayRef) -> Option<Self> {
        let DataType::Timestamp(unit, zone) = col.data_type() else {
            return None;
        };
        let zone: Tz = zone.as_deref().unwrap_or("+00:00").parse().ok()?;
        let (values, per_second): (&[i64], i64) = match unit {
            TimeUnit::Second => (col.as_primitive::<TimestampSecondType>().values(), 1),
            TimeUnit::Millisecond => (
                col.as_primitive::<TimestampMillisecondType>().values(),
                1_000,
            ),
            TimeUnit::Microsecond => (
                col.as_primitive::<TimestampMicrosecondType>().values(),
                1_000_000,
            ),
            TimeUnit::Nanosecond => (
                col.as_primitive::<TimestampNanosecondType>().values(),
                1_000_000_000,
            ),
        };
        Some(Self {
            array: col.as_ref(),
            values,
            per_second,
            zone,
        })
    }

    /// Row `i`: `None` when null, `Some(None)` when past what a date can
    /// hold.
    #[inline]
    fn value(self, i: usize) -> Option<Option<DateTime<FixedOffset>>> {
        self.array.is_valid(i).then(|| self.at(self.values[i]))
    }

    fn at(self, v: i64) -> Option<DateTime<FixedOffset>> {
        let secs = v.div_euclid(self.per_second);
        let nanos = v.rem_euclid(self.per_second) * (1_000_000_000 / self.per_second);
        let utc = DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?)?;
        Some(utc.with_timezone(&self.zone).fixed_offset())
    }
}

/// The columns of a batch whose every column is a contract field of its
/// contract type (text read as views), by field.
struct Typed<'a> {
    text: [Option<&'a StringViewArray>; FIELDS.len()],
    time: [Option<TimeCol<'a>>; FIELDS.len()],
    flag: [Option<&'a BooleanArray>; FIELDS.len()],
    int: [Option<&'a Int64Array>; FIELDS.len()],
}

/// A time field's column: RFC 3339 text, or a TIMESTAMP.
#[derive(Clone, Copy)]
enum TimeCol<'a> {
    Text(&'a StringViewArray),
    At(Instants<'a>),
}

impl<'a> Typed<'a> {
    /// `None` when a column is not a contract field or not of its type.
    fn of(fields: &[Option<Col<'a>>; FIELDS.len()], unknown: &[(&str, &ArrayRef)]) -> Option<Self> {
        if !unknown.is_empty() {
            return None;
        }
        let mut t = Typed {
            text: [None; FIELDS.len()],
            time: [None; FIELDS.len()],
            flag: [None; FIELDS.len()],
            int: [None; FIELDS.len()],
        };
        for (i, (col, (_, kind))) in fields.iter().zip(FIELDS).enumerate() {
            match (col, kind) {
                (None | Some(Col::Null), _) => {}
                (Some(Col::Utf8View(a)), FieldType::Text) => t.text[i] = Some(a),
                (Some(Col::Utf8View(a)), FieldType::Time) => t.time[i] = Some(TimeCol::Text(a)),
                (Some(Col::Time(a)), FieldType::Time) => t.time[i] = Some(TimeCol::At(*a)),
                (Some(Col::Boolean(a)), FieldType::Bool) => t.flag[i] = Some(a),
                (Some(Col::Int64(a)), FieldType::Int) => t.int[i] = Some(a),
                _ => return None,
            }
        }
        Some(t)
    }
}

/// One row of a [`Typed`] batch.
struct TypedRow<'a> {
    cols: &'a Typed<'a>,
    i: usize,
}

impl TypedRecord for TypedRow<'_> {
    #[inline]
    fn text(&self, field: super::Field) -> Option<&str> {
        let a = self.cols.text[field.index()]?;
        a.is_valid(self.i).then(|| a.value(self.i))
    }

    #[inline]
    fn flag(&self, field: super::Field) -> Option<bool> {
        let a = self.cols.flag[field.index()]?;
        a.is_valid(self.i).then(|| a.value(self.i))
    }

    #[inline]
    fn int(&self, field: super::Field) -> Option<i64> {
        let a = self.cols.int[field.index()]?;
        a.is_valid(self.i).then(|| a.value(self.i))
    }

    #[inline]
    fn time(&self, field: super::Field) -> Option<FieldValue<'_>> {
        match self.cols.time[field.index()]? {
            TimeCol::Text(a) => a
                .is_valid(self.i)
                .then(|| FieldValue::Text(a.value(self.i))),
            TimeCol::At(a) => a.value(self.i).map(FieldValue::Time),
        }
    }
}

/// One row of an Arrow batch as a [`Record`], read straight from the
/// typed columns.
struct BatchRow<'a> {
    /// The column of each contract field, in [`FIELDS`] order.
    fields: &'a [Option<Col<'a>>; FIELDS.len()],
    /// Columns that are not contract fields.
    unknown: &'a [(&'a str, &'a ArrayRef)],
    i: usize,
}

impl Record for BatchRow<'_> {
    fn get(&self, field: super::Field) -> Option<FieldValue<'_>> {
        self.fields[field.index()]?.value(self.i)
    }

    fn unknown_fields(&self) -> Vec<String> {
        self.unknown
            .iter()
            .filter(|(_, c)| !is_null(c, self.i))
            .map(|(n, _)| (*n).to_owned())
            .collect()
    }
}

/// Whether row `i` of `col` is null; every row of a `Null`-typed column
/// is, though Arrow's `is_null` reads only a null bitmap, which it lacks.
fn is_null(col: &ArrayRef, i: usize) -> bool {
    col.data_type() == &DataType::Null || col.is_null(i)
}

/// Row `i` of `batch` as a JSON object, for a rejection's `raw`: text,
/// flags and counts as themselves, timestamps as RFC 3339 text, anything
/// else as Arrow displays it.
fn row_value(batch: &RecordBatch, i: usize) -> Value {
    let mut obj = Map::new();
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        if is_null(col, i) {
            continue;
        }
        let v = match Col::of(col) {
            Col::Utf8(a) => Value::from(a.value(i)),
            Col::LargeUtf8(a) => Value::from(a.value(i)),
            Col::Utf8View(a) => Value::from(a.value(i)),
            Col::Boolean(a) => Value::Bool(a.value(i)),
            Col::Int64(a) => Value::from(a.value(i)),
            Col::Time(a) => match a.value(i).flatten() {
                Some(t) => Value::from(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
                None => shown(col, i),
            },
            Col::Null | Col::Other(_) => shown(col, i),
        };
        obj.insert(field.name().clone(), v);
    }
    Value::Object(obj)
}

/// Cell `i` of `col` as Arrow displays it.
fn shown(col: &ArrayRef, i: usize) -> Value {
    Value::from(arrow::util::display::array_value_to_string(col, i).unwrap_or_default())
}

/// Buffers records and writes them as Parquet row groups.
pub struct Writer<W: std::io::Write + Send> {
    inner: ArrowWriter<W>,
    rows: Vec<Value>,
}

impl<W: std::io::Write + Send> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("parquet::Writer")
            .field("buffered", &self.rows.len())
            .finish()
    }
}

const ROWS_PER_BATCH: usize = 65_536;

impl<W: std::io::Write + Send> Writer<W> {
    pub fn new(out: W) -> Result<Self> {
        Ok(Self {
            inner: ArrowWriter::try_new(out, schema(), None)
                .map_err(datafusion::error::DataFusionError::from)?,
            rows: Vec::new(),
        })
    }

    /// Write one record given as a JSON object. A cell whose JSON type does
    /// not fit its column is written as null (Parquet is typed; dirty data
    /// of that kind shows up as a missing field).
    pub fn write_value(&mut self, v: Value) -> Result<()> {
        self.rows.push(v);
        if self.rows.len() >= ROWS_PER_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let cols: Vec<ArrayRef> = FIELDS
            .iter()
            .map(|(name, t)| -> ArrayRef {
                let cells = self.rows.iter().map(|r| r.get(*name));
                match t {
                    FieldType::Text | FieldType::Time => {
                        let mut b = StringBuilder::new();
                        for c in cells {
                            b.append_option(c.and_then(Value::as_str));
                        }
                        Arc::new(b.finish())
                    }
                    FieldType::Bool => {
                        let mut b = BooleanBuilder::new();
                        for c in cells {
                            b.append_option(c.and_then(Value::as_bool));
                        }
                        Arc::new(b.finish())
                    }
                    FieldType::Int => {
                        let mut b = Int64Builder::new();
                        for c in cells {
                            b.append_option(c.and_then(Value::as_i64));
                        }
                        Arc::new(b.finish())
                    }
                }
            })
            .collect();
        let batch = RecordBatch::try_new(schema(), cols)?;
        self.inner
            .write(&batch)
            .map_err(datafusion::error::DataFusionError::from)?;
        self.rows.clear();
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        self.inner
            .close()
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(())
    }
}

/// Records given as JSON objects, as the bytes of a Parquet file.
#[cfg(test)]
pub(crate) fn file_of(values: impl IntoIterator<Item = Value>) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = Writer::new(&mut buf).unwrap();
    for v in values {
        w.write_value(v).unwrap();
    }
    w.finish().unwrap();
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let strip =
            |v: Vec<(usize, model::Event)>| v.into_iter().map(|(_, e)| e).collect::<Vec<_>>();
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
                            pick(good.len(), bad.len())
                                .map(|i| good.iter().chain(bad).nth(i).unwrap()),
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
                    .filter(|&i| {
                        accept_dossier(&TypedRow { cols: &cols, i }, &units, checks).is_some()
                    })
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
                        TimestampMillisecondArray::from(vec![ns / 1_000_000])
                            .with_timezone_opt(zone),
                    ),
                    at.to_utc(),
                ),
                (
                    Arc::new(
                        TimestampMicrosecondArray::from(vec![ns / 1_000]).with_timezone_opt(zone),
                    ),
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
}
