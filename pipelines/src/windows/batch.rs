//! Events → Arrow: the columnar schema the KPI SQL is written against.

use crate::error::Result;
use crate::units::UnitRegistry;
use arrow::array::{ArrayRef, StringBuilder, TimestampMicrosecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use model::Event;
use std::sync::{Arc, LazyLock};

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
    Arc::new(Schema::new(vec![
        Field::new("top_unit", DataType::Utf8, false),
        Field::new("unit", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("occurred_at", ts, false),
        Field::new("status", DataType::Utf8, true),
        Field::new("channel", DataType::Utf8, true),
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
    for e in events {
        let Some(t) = units.top_unit(e.unit.as_str()) else {
            continue;
        };
        top.append_value(t);
        unit.append_value(e.unit.as_str());
        kind.append_value(kind_str(e));
        at.append_value(e.occurred_at.timestamp_micros());
        status.append_option(e.status.map(|s| s.as_str()));
        channel.append_option(e.channel.map(|c| c.as_str()));
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(top.finish()),
        Arc::new(unit.finish()),
        Arc::new(kind.finish()),
        Arc::new(at.finish()),
        Arc::new(status.finish()),
        Arc::new(channel.finish()),
    ];
    Ok(RecordBatch::try_new(schema(), cols)?)
}

fn kind_str(e: &Event) -> &'static str {
    match e.kind {
        model::EventKind::Dossier => "dossier",
        model::EventKind::Document => "document",
        model::EventKind::Report => "report",
        model::EventKind::Meeting => "meeting",
    }
}
