//! CSV with the contract's columns (header row required; any order; empty
//! cell = absent field). Booleans are `true`/`false`, integers decimal.

use super::validate::Checks;
use super::{
    Decoded, FIELDS, FieldError, FieldType, MAX_RECORD_BYTES, Row, cut_raw, field_type, too_long,
    validate_rows,
};
use crate::units::UnitRegistry;
use serde_json::{Map, Value};

/// Decode and validate a CSV document. A broken row is rejected with its
/// line; a broken header rejects nothing silently: every row is refused
/// with the header's error.
pub fn decode(input: &[u8], units: &UnitRegistry, checks: Checks) -> Decoded {
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_owned()).collect(),
        Err(e) => {
            let row = Row {
                line: 1,
                value: Err(FieldError {
                    field: "$".into(),
                    rule: "csv".into(),
                    message: format!("unreadable header: {e}"),
                }),
                raw: cut_raw(input),
            };
            return validate_rows([row], units, checks);
        }
    };
    // The reader counts lines by '\n' only, so records separated by a bare
    // '\r' share a line number; each record gets a distinct one (its
    // physical line, or one past the previous record's).
    let mut last_line = 1;
    let mut next_line = move |reported: usize| {
        last_line = reported.max(last_line + 1);
        last_line
    };
    let rows = rdr.records().map(|rec| match rec {
        Ok(rec) => {
            let line = next_line(rec.position().map_or(0, |p| p.line() as usize));
            let raw = cut_raw(rec.iter().collect::<Vec<_>>().join(",").as_bytes());
            if rec.as_slice().len() > MAX_RECORD_BYTES {
                return Row {
                    line,
                    value: Err(too_long(rec.as_slice().len())),
                    raw,
                };
            }
            if rec.len() != header.len() {
                let message = format!(
                    "row has {} cells, the header has {}",
                    rec.len(),
                    header.len()
                );
                return Row {
                    line,
                    value: Err(FieldError {
                        field: "$".into(),
                        rule: "csv".into(),
                        message,
                    }),
                    raw,
                };
            }
            let mut obj = Map::new();
            for (name, cell) in header.iter().zip(rec.iter()) {
                if cell.is_empty() {
                    continue;
                }
                obj.insert(name.clone(), cell_value(name, cell));
            }
            Row {
                line,
                value: Ok(Value::Object(obj)),
                raw,
            }
        }
        Err(e) => {
            let line = next_line(e.position().map_or(0, |p| p.line() as usize));
            Row {
                line,
                value: Err(FieldError {
                    field: "$".into(),
                    rule: "csv".into(),
                    message: e.to_string(),
                }),
                raw: String::new(),
            }
        }
    });
    validate_rows(rows, units, checks)
}

/// A cell as a JSON value of its column's type; a cell that does not parse
/// stays a string so validation names the field and the `type` rule.
fn cell_value(name: &str, cell: &str) -> Value {
    match field_type(name) {
        Some(FieldType::Bool) => match cell {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(cell.to_owned()),
        },
        Some(FieldType::Int) => cell
            .parse::<i64>()
            .map_or_else(|_| Value::String(cell.to_owned()), Value::from),
        _ => Value::String(cell.to_owned()),
    }
}

/// Writes records as CSV rows with the contract's columns.
pub struct Writer<W: std::io::Write> {
    inner: csv::Writer<W>,
}

impl<W: std::io::Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("csv::Writer").finish_non_exhaustive()
    }
}

impl<W: std::io::Write> Writer<W> {
    pub fn new(out: W) -> csv::Result<Self> {
        let mut inner = csv::WriterBuilder::new().flexible(true).from_writer(out);
        inner.write_record(FIELDS.iter().map(|(n, _)| *n))?;
        Ok(Self { inner })
    }

    /// Write one record given as a JSON object (an event serialised with
    /// serde, or a deliberately malformed one). Cells of the wrong type are
    /// written as their text, so the malformation survives the format.
    pub fn write_value(&mut self, v: &Value) -> csv::Result<()> {
        let cells = FIELDS.iter().map(|(name, _)| match v.get(*name) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        });
        self.inner.write_record(cells)
    }

    /// Write a line that is not a record at all (kept for dirty data).
    pub fn write_text(&mut self, text: &str) -> csv::Result<()> {
        self.inner.write_record([text])
    }

    pub fn finish(self) -> std::io::Result<W> {
        self.inner
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_events_and_bad_cells_name_their_field() {
        let units = UnitRegistry::embedded().unwrap();
        let text = "event_id,kind,occurred_at,unit,meeting_id,mode,minutes\n\
                    m1,meeting,2025-11-20T08:00:00+07:00,BTC,M1,video,45\n\
                    m2,meeting,2025-11-20T09:00:00+07:00,BTC,M2,video,long\n\
                    m3,meeting\n";
        let d = decode(text.as_bytes(), &units, Checks::default());
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.events[0].1.minutes, Some(45));
        assert_eq!(
            (
                d.rejected.sample()[0].line,
                d.rejected.sample()[0].errors[0].field.as_str()
            ),
            (3, "minutes")
        );
        assert_eq!(
            (
                d.rejected.sample()[1].line,
                d.rejected.sample()[1].errors[0].rule.as_str()
            ),
            (4, "csv")
        );
    }

    #[test]
    fn written_events_decode_back_to_the_same_events() {
        let units = UnitRegistry::embedded().unwrap();
        let events = super::super::ndjson::decode(
            sample_data::DEMO_SLICE_NDJSON.as_bytes(),
            &units,
            Checks::default(),
        )
        .events;
        let mut w = Writer::new(Vec::new()).unwrap();
        for (_, e) in &events {
            w.write_value(&serde_json::to_value(e).unwrap()).unwrap();
        }
        let bytes = w.finish().unwrap();
        let back = decode(&bytes, &units, Checks::default());
        assert!(
            back.rejected.is_empty(),
            "{:?}",
            back.rejected.sample().first()
        );
        let a: Vec<_> = events.into_iter().map(|(_, e)| e).collect();
        let b: Vec<_> = back.events.into_iter().map(|(_, e)| e).collect();
        assert_eq!(a, b);
    }
}
