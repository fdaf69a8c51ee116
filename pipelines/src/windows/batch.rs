//! Events → Arrow: the columnar schema the KPI SQL is written against.
//!
//! | column | type | from |
//! | --- | --- | --- |
//! | `top_unit` | text | the unit's province, or the unit itself (province, ministry) |
//! | `unit`, `kind`, `status`, `channel`, `procedure_code`, `mode` | text | the event |
//! | `occurred_at`, `due_at` | timestamp µs UTC | the event |
//! | `reused_data`, `digitized`, `e_result`, `online`, `electronic`, `signed` | boolean | the event |
//! | `rating`, `minutes` | int64 | the event |
//!
//! A Parquet file's batch becomes a micro-batch of its own columns instead
//! ([`from_contract_columns`]): the same columns but `top_unit`, the text,
//! flags and counts as the file holds them.

use crate::error::{Error, Result};
use crate::units::UnitRegistry;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{
    DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampNanosecondType,
};
use arrow::record_batch::RecordBatch;
use model::{Event, EventKind, MeetingMode};
use std::sync::{Arc, LazyLock};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    let text = |n: &str, null| Field::new(n, DataType::Utf8, null);
    let flag = |n: &str| Field::new(n, DataType::Boolean, true);
    Arc::new(Schema::new(vec![
        text("top_unit", false),
        text("unit", false),
        text("kind", false),
        Field::new("occurred_at", ts(), false),
        text("status", true),
        text("channel", true),
        text("procedure_code", true),
        Field::new("due_at", ts(), true),
        flag("reused_data"),
        flag("digitized"),
        flag("e_result"),
        flag("online"),
        Field::new("rating", DataType::Int64, true),
        flag("electronic"),
        flag("signed"),
        text("mode", true),
        Field::new("minutes", DataType::Int64, true),
    ]))
});

/// The schema of a micro-batch (`batch` in the KPI SQL).
pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// The micro-batch schema without `top_unit`, every column nullable: the
/// fields of [`from_contract_columns`]'s batches, whose types are those of
/// their columns (text from Parquet is `Utf8View`).
static CONTRACT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        SCHEMA
            .fields()
            .iter()
            .filter(|f| f.name() != "top_unit")
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
});

/// [`CONTRACT_SCHEMA`] with the types of `cols`.
fn with_types_of(cols: &[ArrayRef]) -> SchemaRef {
    let fields: Vec<Field> = CONTRACT_SCHEMA
        .fields()
        .iter()
        .zip(cols)
        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    Arc::new(Schema::new(fields))
}

/// The micro-batch of a contract Arrow batch (a Parquet file's) made of
/// the batch's own columns rather than rebuilt from `events`: the text,
/// flag and count columns are shared as they are (copied only to drop
/// `rejected` rows); the two times, which the file holds as RFC 3339
/// text, and the procedure code, which a procedure breakdown groups by
/// whatever the kind, come from the events. It has no `top_unit`, which
/// the hourly query does not read.
///
/// `events` are the batch's validated rows in order and `rejected` the
/// positions of the others, ascending. A value the validator checks is
/// the event's value exactly (names of kinds, statuses, channels and modes
/// are matched as written, unit codes too), but a row also keeps fields of
/// other kinds, which the event leaves out: every counter reads only the
/// fields of the kind it names for that reason (a test in
/// [`crate::kpi::defs`] holds them to it).
/// `None` when a column is missing, not of the contract's Arrow type (text
/// as `Utf8` or `Utf8View`), or named twice (the validator reads the last
/// of two, this would read the first): then the batch is built from the
/// events.
pub fn from_contract_columns(
    contract: &RecordBatch,
    rejected: &[usize],
    events: &[Event],
) -> Result<Option<RecordBatch>> {
    if !contract_columns_usable(contract) {
        return Ok(None);
    }
    let mut made = EventColumns::with_capacity(events.len());
    made.add(events);
    with_event_columns(contract, rejected, made).map(Some)
}

/// The columns of a contract micro-batch that come from its validated
/// events ([`from_contract_columns`]), built a run of events at a time,
/// so that a caller can let each run go before the next is validated.
#[derive(Debug)]
pub struct EventColumns {
    at: TimestampMicrosecondBuilder,
    due: TimestampMicrosecondBuilder,
    procedure: StringBuilder,
    len: usize,
}

impl EventColumns {
    /// Room for `n` events.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            at: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("+00:00"),
            due: TimestampMicrosecondBuilder::with_capacity(n).with_timezone("+00:00"),
            procedure: StringBuilder::with_capacity(n, n * 8),
            len: 0,
        }
    }

    /// The next events of the batch, in order.
    pub fn add(&mut self, events: &[Event]) {
        for e in events {
            self.at.append_value(e.occurred_at.timestamp_micros());
            self.due
                .append_option(e.due_at.map(|d| d.timestamp_micros()));
            self.procedure.append_option(e.procedure_code.as_deref());
        }
        self.len += events.len();
    }

    /// Events added so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Whether [`from_contract_columns`] can use the batch's own columns:
/// every column it takes from the batch is there, of the contract's
/// Arrow type (text as `Utf8` or `Utf8View`), and named once (the
/// validator reads the last of two, the batch would give the first).
pub fn contract_columns_usable(contract: &RecordBatch) -> bool {
    let schema = contract.schema();
    let names = schema.fields().iter().map(|f| f.name());
    if names
        .clone()
        .collect::<std::collections::HashSet<_>>()
        .len()
        != names.len()
    {
        return false;
    }
    CONTRACT_SCHEMA.fields().iter().all(|field| {
        EVENT_MADE.contains(&field.name().as_str())
            || contract.column_by_name(field.name()).is_some_and(|col| {
                match (field.data_type(), col.data_type()) {
                    // Text read from Parquet as views stays views.
                    (DataType::Utf8, DataType::Utf8View) => true,
                    (want, have) => want == have,
                }
            })
    })
}

/// The contract columns made from the events, not taken from the batch
/// ([`from_contract_columns`]).
const EVENT_MADE: [&str; 3] = ["occurred_at", "due_at", "procedure_code"];

/// [`from_contract_columns`] of a batch that is
/// [`contract_columns_usable`], with its event-made columns built already.
pub fn with_event_columns(
    contract: &RecordBatch,
    rejected: &[usize],
    made: EventColumns,
) -> Result<RecordBatch> {
    let rows = contract.num_rows();
    let ascending = rejected.windows(2).all(|w| w[0] < w[1]);
    if rows != made.len + rejected.len()
        || !ascending
        || rejected.last().is_some_and(|r| *r >= rows)
    {
        return Err(Error::Schema(format!(
            "{rows} rows are not {} events and {} rejections at ascending positions below {rows}",
            made.len,
            rejected.len()
        )));
    }
    if !contract_columns_usable(contract) {
        return Err(Error::Schema(
            "the batch's columns are not the contract's (contract_columns_usable)".into(),
        ));
    }
    // One filter, shared by every column, when rows were rejected.
    let keep = (!rejected.is_empty()).then(|| {
        let mut keep = vec![true; rows];
        for r in rejected {
            keep[*r] = false;
        }
        arrow::compute::FilterBuilder::new(&arrow::array::BooleanArray::from(keep))
            .optimize()
            .build()
    });
    let EventColumns {
        mut at,
        mut due,
        mut procedure,
        ..
    } = made;
    let (at, due): (ArrayRef, ArrayRef) = (Arc::new(at.finish()), Arc::new(due.finish()));
    // A breakdown groups by it without naming a kind: only a dossier's
    // counts.
    let procedure: ArrayRef = Arc::new(procedure.finish());
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(CONTRACT_SCHEMA.fields().len());
    for field in CONTRACT_SCHEMA.fields() {
        cols.push(match field.name().as_str() {
            "occurred_at" => at.clone(),
            "due_at" => due.clone(),
            "procedure_code" => procedure.clone(),
            name => {
                let col = contract
                    .column_by_name(name)
                    .ok_or_else(|| Error::Schema(format!("no column {name}")))?;
                match &keep {
                    Some(keep) => keep.filter(col)?,
                    None => col.clone(),
                }
            }
        });
    }
    Ok(RecordBatch::try_new(with_types_of(&cols), cols)?)
}

/// Build one Arrow batch from events. Events whose unit is unknown to the
/// registry cannot be rolled up and are skipped; validation refuses them
/// before they get here.
pub fn to_record_batch(events: &[Event], units: &UnitRegistry) -> Result<RecordBatch> {
    let n = events.len();
    let mut top = StringBuilder::with_capacity(n, n * 2);
    let mut unit = StringBuilder::with_capacity(n, n * 5);
    let mut kind = StringBuilder::with_capacity(n, n * 7);
    let mut at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("+00:00");
    let mut status = StringBuilder::with_capacity(n, n * 9);
    let mut channel = StringBuilder::with_capacity(n, n * 6);
    let mut procedure = StringBuilder::with_capacity(n, n * 8);
    let mut due = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("+00:00");
    let [
        mut reused,
        mut digitized,
        mut e_result,
        mut online,
        mut electronic,
        mut signed,
    ] = std::array::from_fn(|_| BooleanBuilder::with_capacity(n));
    let mut rating = Int64Builder::with_capacity(n);
    let mut mode = StringBuilder::with_capacity(n, n);
    let mut minutes = Int64Builder::with_capacity(n);
    for e in events {
        let Some(t) = units.top_of(&e.unit) else {
            continue;
        };
        top.append_value(t);
        unit.append_value(e.unit.as_str());
        kind.append_value(kind_str(e.kind));
        at.append_value(e.occurred_at.timestamp_micros());
        status.append_option(e.status.map(|s| s.as_str()));
        channel.append_option(e.channel.map(|c| c.as_str()));
        procedure.append_option(e.procedure_code.as_deref());
        due.append_option(e.due_at.map(|d| d.timestamp_micros()));
        reused.append_option(e.reused_data);
        digitized.append_option(e.digitized);
        e_result.append_option(e.e_result);
        online.append_option(e.online);
        rating.append_option(e.rating.map(i64::from));
        electronic.append_option(e.electronic);
        signed.append_option(e.signed);
        mode.append_option(e.mode.map(mode_str));
        minutes.append_option(e.minutes.map(i64::from));
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(top.finish()),
        Arc::new(unit.finish()),
        Arc::new(kind.finish()),
        Arc::new(at.finish()),
        Arc::new(status.finish()),
        Arc::new(channel.finish()),
        Arc::new(procedure.finish()),
        Arc::new(due.finish()),
        Arc::new(reused.finish()),
        Arc::new(digitized.finish()),
        Arc::new(e_result.finish()),
        Arc::new(online.finish()),
        Arc::new(rating.finish()),
        Arc::new(electronic.finish()),
        Arc::new(signed.finish()),
        Arc::new(mode.finish()),
        Arc::new(minutes.finish()),
    ];
    Ok(RecordBatch::try_new(schema(), cols)?)
}

pub fn kind_str(k: EventKind) -> &'static str {
    match k {
        EventKind::Dossier => "dossier",
        EventKind::Document => "document",
        EventKind::Report => "report",
        EventKind::Meeting => "meeting",
    }
}

fn mode_str(m: MeetingMode) -> &'static str {
    match m {
        MeetingMode::Video => "video",
        MeetingMode::InPerson => "in_person",
        MeetingMode::Hybrid => "hybrid",
    }
}

/// Bin starts as microseconds since the epoch. `date_bin` answers in the
/// unit DataFusion chooses (nanoseconds in 55), so both are accepted.
pub(crate) fn bin_starts_micros(col: &dyn Array) -> Result<Vec<Option<i64>>> {
    if let Some(a) = col.as_primitive_opt::<TimestampMicrosecondType>() {
        return Ok(a.iter().collect());
    }
    if let Some(a) = col.as_primitive_opt::<TimestampNanosecondType>() {
        return Ok(a.iter().map(|v| v.map(|ns| ns.div_euclid(1000))).collect());
    }
    Err(Error::Schema(format!("bin start is {}", col.data_type())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{parquet, validate::Checks};

    #[test]
    fn a_contract_batch_gives_its_columns_or_nothing() {
        let units = UnitRegistry::embedded().unwrap();
        let buf = parquet::file_of(
            sample_data::DEMO_SLICE_NDJSON
                .lines()
                .map(|l| serde_json::from_str(l).unwrap()),
        );
        let mut raw = parquet::batches(bytes::Bytes::from(buf), &units, Checks::default());
        let Some(parquet::RawBatch::Batch { batch, first_line }) = raw.next_raw() else {
            panic!("a batch");
        };
        let decoded = parquet::validate_batch(&batch, first_line, &units, Checks::default());
        let events: Vec<Event> = decoded.events.into_iter().map(|(_, e)| e).collect();
        assert!(decoded.rejected.is_empty() && !events.is_empty());

        // Parquet text is read as views, and stays views.
        assert_eq!(
            batch.column_by_name("unit").unwrap().data_type(),
            &DataType::Utf8View
        );
        let cols = from_contract_columns(&batch, &[], &events)
            .unwrap()
            .unwrap();
        assert_eq!(
            cols.schema().field_with_name("kind").unwrap().data_type(),
            &DataType::Utf8View
        );
        let built = to_record_batch(&events, &units).unwrap();
        assert_eq!(cols.num_rows(), built.num_rows());
        // Times and procedure codes are the events'; the rest the file's.
        for name in ["occurred_at", "due_at", "procedure_code"] {
            assert_eq!(cols.column_by_name(name), built.column_by_name(name));
        }
        // Without the first row.
        let fewer = from_contract_columns(&batch, &[0], &events[1..])
            .unwrap()
            .unwrap();
        assert_eq!(fewer.num_rows(), events.len() - 1);
        assert_eq!(
            fewer.column_by_name("unit"),
            Some(&cols.column(0).slice(1, events.len() - 1))
        );
        // Rows that are neither events nor rejections are an error, as are
        // rejections out of order or past the last row.
        assert!(from_contract_columns(&batch, &[], &events[1..]).is_err());
        let n = batch.num_rows();
        assert!(from_contract_columns(&batch, &[1, 0], &events[2..]).is_err());
        assert!(from_contract_columns(&batch, &[0, 0], &events[2..]).is_err());
        assert!(from_contract_columns(&batch, &[n], &events[1..]).is_err());
        // A column named twice: the validator reads the last, so the
        // batch is built from the events.
        let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
        let mut columns = batch.columns().to_vec();
        let unit = batch.schema().index_of("unit").unwrap();
        fields.push(fields[unit].clone());
        columns.push(columns[unit].clone());
        let twice = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        assert!(
            from_contract_columns(&twice, &[], &events)
                .unwrap()
                .is_none()
        );
        // A column of another Arrow type: built from the events instead.
        let mut columns = batch.columns().to_vec();
        let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
        let at = batch.schema().index_of("mode").unwrap();
        columns[at] = arrow::compute::cast(&columns[at], &DataType::LargeUtf8).unwrap();
        fields[at] = Arc::new(Field::new("mode", DataType::LargeUtf8, true));
        let other = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        assert!(
            from_contract_columns(&other, &[], &events)
                .unwrap()
                .is_none()
        );
        // So is a batch without one.
        let without = batch.project(&[0, 1, 2, 3]).unwrap();
        assert!(
            from_contract_columns(&without, &[], &events)
                .unwrap()
                .is_none()
        );
    }
}
