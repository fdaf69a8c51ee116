//! Decoders: bytes in, validated events and per-record rejections out.
//!
//! Every decoder shares [`validate`], so a rule is written once and every
//! rejection names the field and the rule it broke, whatever the format.

pub mod ndjson;
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
