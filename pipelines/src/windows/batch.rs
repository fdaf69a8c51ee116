//! Events → Arrow: the columnar schema the KPI SQL is written against.
//!
//! | column | type | from |
//! | --- | --- | --- |
//! | `top_unit` | text | the unit's province, or the unit itself (province, ministry) |
//! | `unit`, `kind`, `status`, `channel`, `procedure_code`, `mode` | text | the event |
//! | `occurred_at`, `due_at` | timestamp µs UTC | the event |
//! | `reused_data`, `digitized`, `e_result`, `online`, `electronic`, `signed` | boolean | the event |
//! | `rating`, `minutes` | int64 | the event |

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
