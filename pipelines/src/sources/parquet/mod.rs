//! Parquet with the contract's columns, in the physical forms other tools
//! write: text as UTF-8 (plain, large or dictionary-encoded), flags as
//! booleans, counts as integers of any width (signed or not), and times
//! as RFC 3339 text (which keeps the sender's offset) or as TIMESTAMP
//! columns in any unit, with or without a time zone (`columns::Instants`).
//!
//! Each batch is first brought to the types the decoder reads
//! ([`normalise`]: integers to Int64, text to `Utf8View`), so that files
//! of other tools take the same paths, fast path included, as files of
//! the contract's own types. The reading of columns is in `columns`.

mod columns;

pub use columns::normalise;
use columns::{BatchRow, Typed, TypedRow, matched, row_value};

use super::validate::{Checks, FieldValue, Record, accept_dossier, validate_record};
use super::{Decoded, FIELDS, FieldError, FieldType, Rejection, Row, Sink, validate_rows};
use crate::error::Result;
use crate::units::UnitRegistry;
use arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::file::reader::ChunkReader;
use serde_json::Value;
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
mod tests;
