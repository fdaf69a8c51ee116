//! A batch's columns as the decoder reads them: brought to its types
//! ([`normalise`]), matched to the contract's fields once per batch
//! ([`matched`]), and read a row at a time, by the validator
//! ([`BatchRow`]) or, for a batch of the contract's types, by the dossier
//! fast path ([`Typed`], [`TypedRow`]). TIMESTAMP columns are read as
//! instants ([`Instants`]).

use crate::sources::validate::{FieldValue, Record, TypedRecord};
use crate::sources::{FIELDS, FieldType};
use arrow::array::timezone::Tz;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch, StringViewArray,
};
use arrow::datatypes::{
    DataType, Int64Type, Schema, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt64Type,
};
use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};
use std::sync::Arc;

/// `batch` with its columns in the types the decoder reads: integers of
/// any width, signed or not, as Int64; text of any layout (plain, large,
/// dictionary-encoded) as `Utf8View`. Timestamps stay as they are (they
/// are read as instants, `Instants`), and so does any other type, for
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

/// A batch's columns matched to the contract: each field's column (by its
/// position in [`FIELDS`]), and the columns that are no field, by name.
pub(super) type Matched<'a> = (
    [Option<Col<'a>>; FIELDS.len()],
    Vec<(&'a str, &'a ArrayRef)>,
);

pub(super) fn matched(batch: &RecordBatch) -> Matched<'_> {
    let mut fields = [None; FIELDS.len()];
    let mut unknown = Vec::new();
    for (f, col) in batch.schema_ref().fields().iter().zip(batch.columns()) {
        match crate::sources::field_index(f.name()) {
            Some(i) => fields[i] = Some(Col::of(col)),
            None => unknown.push((f.name().as_str(), col)),
        }
    }
    (fields, unknown)
}

/// A contract field's column, cast to its Arrow type once per batch rather
/// than on every read.
#[derive(Clone, Copy)]
pub(super) enum Col<'a> {
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
    pub(super) fn of(col: &'a ArrayRef) -> Self {
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
pub(super) struct Instants<'a> {
    array: &'a dyn Array,
    values: &'a [i64],
    /// Units per second.
    per_second: i64,
    zone: Tz,
}

impl<'a> Instants<'a> {
    /// `None` when `col` is not a timestamp column or its time zone is
    /// not one Arrow knows.
    pub(super) fn of(col: &'a ArrayRef) -> Option<Self> {
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
    pub(super) fn value(self, i: usize) -> Option<Option<DateTime<FixedOffset>>> {
        self.array.is_valid(i).then(|| self.at(self.values[i]))
    }

    /// Out of line, so that a reader of text times (the common case) does
    /// not carry the conversion inlined.
    #[inline(never)]
    fn at(self, v: i64) -> Option<DateTime<FixedOffset>> {
        let secs = v.div_euclid(self.per_second);
        let nanos = v.rem_euclid(self.per_second) * (1_000_000_000 / self.per_second);
        let utc = DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?)?;
        Some(utc.with_timezone(&self.zone).fixed_offset())
    }
}

/// The columns of a batch whose every column is a contract field of its
/// contract type (text read as views), by field.
pub(super) struct Typed<'a> {
    text: [Option<&'a StringViewArray>; FIELDS.len()],
    /// TIMESTAMP columns of time fields (a time field's text column is in
    /// `text`).
    time: [Option<Instants<'a>>; FIELDS.len()],
    flag: [Option<&'a BooleanArray>; FIELDS.len()],
    int: [Option<&'a Int64Array>; FIELDS.len()],
}

impl<'a> Typed<'a> {
    /// `None` when a column is not a contract field or not of its type.
    pub(super) fn of(
        fields: &[Option<Col<'a>>; FIELDS.len()],
        unknown: &[(&str, &ArrayRef)],
    ) -> Option<Self> {
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
                (Some(Col::Utf8View(a)), FieldType::Text | FieldType::Time) => t.text[i] = Some(a),
                (Some(Col::Time(a)), FieldType::Time) => t.time[i] = Some(*a),
                (Some(Col::Boolean(a)), FieldType::Bool) => t.flag[i] = Some(a),
                (Some(Col::Int64(a)), FieldType::Int) => t.int[i] = Some(a),
                _ => return None,
            }
        }
        Some(t)
    }
}

/// One row of a [`Typed`] batch.
pub(super) struct TypedRow<'a> {
    pub(super) cols: &'a Typed<'a>,
    pub(super) i: usize,
}

impl TypedRecord for TypedRow<'_> {
    #[inline]
    fn text(&self, field: crate::sources::Field) -> Option<&str> {
        let a = self.cols.text[field.index()]?;
        a.is_valid(self.i).then(|| a.value(self.i))
    }

    #[inline]
    fn flag(&self, field: crate::sources::Field) -> Option<bool> {
        let a = self.cols.flag[field.index()]?;
        a.is_valid(self.i).then(|| a.value(self.i))
    }

    #[inline]
    fn int(&self, field: crate::sources::Field) -> Option<i64> {
        let a = self.cols.int[field.index()]?;
        a.is_valid(self.i).then(|| a.value(self.i))
    }

    #[inline]
    fn instant(&self, field: crate::sources::Field) -> Option<Option<DateTime<FixedOffset>>> {
        self.cols.time[field.index()]?.value(self.i)
    }
}

/// One row of an Arrow batch as a [`Record`], read straight from the
/// typed columns.
pub(super) struct BatchRow<'a> {
    /// The column of each contract field, in [`FIELDS`] order.
    pub(super) fields: &'a [Option<Col<'a>>; FIELDS.len()],
    /// Columns that are not contract fields.
    pub(super) unknown: &'a [(&'a str, &'a ArrayRef)],
    pub(super) i: usize,
}

impl Record for BatchRow<'_> {
    fn get(&self, field: crate::sources::Field) -> Option<FieldValue<'_>> {
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
pub(super) fn row_value(batch: &RecordBatch, i: usize) -> Value {
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
