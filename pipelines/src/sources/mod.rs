//! Decoders: bytes in, validated events and per-record rejections out.
//!
//! Every decoder shares [`validate`], so a rule is written once and every
//! rejection names the field and the rule it broke, whatever the format.

pub mod csv;
pub mod ndjson;
pub mod parquet;
pub mod validate;

use serde::{Deserialize, Serialize};

/// One broken rule of one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The contract field, or `$` for the record as a whole.
    pub field: String,
    /// A stable rule name (`required`, `type`, `enum`, `format`, `range`,
    /// `unknown_field`, `unknown_unit`, ...).
    pub rule: String,
    pub message: String,
}

/// A record that failed validation, with every rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// 1-based line (NDJSON, CSV) or row number of the record in its input.
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub errors: Vec<FieldError>,
    /// The record as received (cut to 4 KiB), kept for the rejected-records store.
    pub raw: String,
}

/// What a decoder made of its input.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    /// Valid events with their 1-based line numbers, in input order.
    pub events: Vec<(usize, model::Event)>,
    pub rejected: Vec<Rejection>,
}

/// The type of a contract column in CSV and Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Bool,
    Int,
}

/// Every field of the event contract v1, in column order. Fields not listed
/// are refused, so a typo in a sender's field name cannot pass as a missing
/// optional field.
pub const FIELDS: [(&str, FieldType); 24] = [
    ("event_id", FieldType::Text),
    ("kind", FieldType::Text),
    ("occurred_at", FieldType::Text),
    ("unit", FieldType::Text),
    ("dossier_id", FieldType::Text),
    ("status", FieldType::Text),
    ("procedure_code", FieldType::Text),
    ("channel", FieldType::Text),
    ("due_at", FieldType::Text),
    ("reused_data", FieldType::Bool),
    ("from_citizen_store", FieldType::Bool),
    ("digitized", FieldType::Bool),
    ("e_result", FieldType::Bool),
    ("amount", FieldType::Int),
    ("online", FieldType::Bool),
    ("rating", FieldType::Int),
    ("doc_id", FieldType::Text),
    ("direction", FieldType::Text),
    ("electronic", FieldType::Bool),
    ("signed", FieldType::Bool),
    ("report_id", FieldType::Text),
    ("meeting_id", FieldType::Text),
    ("mode", FieldType::Text),
    ("minutes", FieldType::Int),
];

/// The type of a contract field, `None` if the contract has no such field.
pub fn field_type(name: &str) -> Option<FieldType> {
    FIELDS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Longest record kept verbatim in a rejection.
pub(crate) const RAW_KEEP: usize = 4096;

pub(crate) fn cut_raw(raw: &[u8]) -> String {
    let mut end = raw.len().min(RAW_KEEP);
    while end > 0 && end < raw.len() && (raw[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// One record as a decoder saw it, before validation.
pub(crate) struct Row {
    pub line: usize,
    /// The record as a JSON object, or why it could not be read as one.
    pub value: Result<serde_json::Value, FieldError>,
    /// The record as received, for the rejected-records store.
    pub raw: String,
}

/// Validate decoded rows (from any format) into a [`Decoded`].
pub(crate) fn validate_rows(
    rows: impl IntoIterator<Item = Row>,
    units: &crate::units::UnitRegistry,
    checks: validate::Checks,
) -> Decoded {
    let mut out = Decoded::default();
    for Row { line, value, raw } in rows {
        match value {
            Ok(v) => match validate::validate(&v, units, checks) {
                Ok(ev) => out.events.push((line, ev)),
                Err(errors) => {
                    let event_id = v
                        .get("event_id")
                        .and_then(|i| i.as_str())
                        .map(str::to_owned);
                    out.rejected.push(Rejection {
                        line,
                        event_id,
                        errors,
                        raw,
                    });
                }
            },
            Err(e) => out.rejected.push(Rejection {
                line,
                event_id: None,
                errors: vec![e],
                raw,
            }),
        }
    }
    out
}
