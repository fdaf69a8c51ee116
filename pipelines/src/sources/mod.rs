//! Decoders: bytes in, validated events and per-record rejections out.
//!
//! Every decoder shares [`validate`], so a rule is written once and every
//! rejection names the field and the rule it broke, whatever the format.

/// The contract field called `$name` ([`Field`]), checked at compile time.
macro_rules! f {
    ($name:literal) => {
        const { $crate::sources::Field::named($name) }
    };
}

pub mod csv;
pub mod invariants;
pub mod ndjson;
pub mod parquet;
mod rejections;
pub mod validate;

pub use rejections::{MAX_RULES, OTHER_FIELDS, Rejections, RuleCount};

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
    /// The rejections: every one counted, the first few kept in full.
    pub rejected: Rejections,
}

/// Where a decoder puts each record it has read: [`Decoded`] keeps line
/// numbers with the events; the batch engine's workers take events
/// straight into their micro-batch, without moving each one again.
pub trait Sink {
    /// Capacity for `n` more events.
    fn reserve(&mut self, n: usize);
    fn event(&mut self, line: usize, event: model::Event);
    fn reject(&mut self, rejection: Rejection);
    /// The rejections of another decoder, counts and all.
    fn take_rejections(&mut self, rejections: Rejections);
    /// Whether the next rejection is kept in full ([`Rejections`]). When it
    /// is not, only its rules are counted, and a decoder may leave out its
    /// raw record rather than build it.
    fn keeps_next(&self) -> bool {
        true
    }

    /// Everything another decoder made of its input, in its order.
    fn take(&mut self, decoded: Decoded) {
        for (line, event) in decoded.events {
            self.event(line, event);
        }
        self.take_rejections(decoded.rejected);
    }
}

impl Sink for Decoded {
    fn reserve(&mut self, n: usize) {
        self.events.reserve(n);
    }
    fn event(&mut self, line: usize, event: model::Event) {
        self.events.push((line, event));
    }
    fn reject(&mut self, rejection: Rejection) {
        self.rejected.push(rejection);
    }
    fn take_rejections(&mut self, rejections: Rejections) {
        self.rejected.extend(rejections);
    }
    fn keeps_next(&self) -> bool {
        self.rejected.keeps_next()
    }
}

/// The JSON Schema of the event contract (`docs/event-contract.schema.json`),
/// served at `/api/v1/schema`. A test keeps it in step with [`FIELDS`] and
/// the validator's enums.
pub const JSON_SCHEMA: &str = include_str!("../../../docs/event-contract.schema.json");

/// Longest single record accepted, in bytes; a longer one is rejected
/// with the rule `max_record_size` and the rest of the input goes on.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The wire formats of the event contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
    Parquet,
}

impl Format {
    /// The format of a media type (parameters such as `charset` ignored).
    pub fn from_media_type(media: &str) -> Option<Self> {
        match media
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/json-seq"
            | "text/plain" => Some(Self::Ndjson),
            "text/csv" | "application/csv" => Some(Self::Csv),
            "application/vnd.apache.parquet" | "application/x-parquet" | "application/parquet" => {
                Some(Self::Parquet)
            }
            _ => None,
        }
    }

    /// The format of a file name's extension.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" | "json" => Some(Self::Ndjson),
            "csv" => Some(Self::Csv),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }
}

/// Decode and validate `input` in `format`.
pub fn decode(
    format: Format,
    input: bytes::Bytes,
    units: &crate::units::UnitRegistry,
    checks: validate::Checks,
) -> Decoded {
    match format {
        Format::Ndjson => ndjson::decode(&input, units, checks),
        Format::Csv => csv::decode(&input, units, checks),
        Format::Parquet => parquet::decode(input, units, checks),
    }
}

pub(crate) fn too_long(len: usize) -> FieldError {
    FieldError {
        field: "$".into(),
        rule: "max_record_size".into(),
        message: format!("the record is {len} bytes; at most {MAX_RECORD_BYTES} are accepted"),
    }
}

/// The type of a contract column in CSV and Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    /// An RFC 3339 time as text; in Parquet also a TIMESTAMP column.
    Time,
    Bool,
    Int,
}

/// Every field of the event contract v1, in column order. Fields not listed
/// are refused, so a typo in a sender's field name cannot pass as a missing
/// optional field.
pub const FIELDS: [(&str, FieldType); 24] = [
    ("event_id", FieldType::Text),
    ("kind", FieldType::Text),
    ("occurred_at", FieldType::Time),
    ("unit", FieldType::Text),
    ("dossier_id", FieldType::Text),
    ("status", FieldType::Text),
    ("procedure_code", FieldType::Text),
    ("channel", FieldType::Text),
    ("due_at", FieldType::Time),
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

/// A field of the contract by its position in [`FIELDS`], so that the
/// validator's reads of every field of every record need no name lookup.
/// Built from a name in a constant ([`Field::named`]), where a name outside
/// the contract fails the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field(usize);

impl Field {
    /// The field called `name`; panics when the contract has none, which
    /// in a constant is a compile error.
    pub const fn named(name: &str) -> Field {
        let mut i = 0;
        while i < FIELDS.len() {
            if same_bytes(FIELDS[i].0.as_bytes(), name.as_bytes()) {
                return Field(i);
            }
            i += 1;
        }
        panic!("not a field of the event contract v1")
    }

    /// Its position in [`FIELDS`].
    pub const fn index(self) -> usize {
        self.0
    }

    pub const fn name(self) -> &'static str {
        FIELDS[self.0].0
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The type of a contract field, `None` if the contract has no such field.
pub fn field_type(name: &str) -> Option<FieldType> {
    field_index(name).map(|i| FIELDS[i].1)
}

/// The position of a contract field in [`FIELDS`]. A `match` on the name
/// (the compiler switches on length first) instead of a scan of the list:
/// decoders ask this for every field of every record.
pub fn field_index(name: &str) -> Option<usize> {
    Some(match name {
        "event_id" => 0,
        "kind" => 1,
        "occurred_at" => 2,
        "unit" => 3,
        "dossier_id" => 4,
        "status" => 5,
        "procedure_code" => 6,
        "channel" => 7,
        "due_at" => 8,
        "reused_data" => 9,
        "from_citizen_store" => 10,
        "digitized" => 11,
        "e_result" => 12,
        "amount" => 13,
        "online" => 14,
        "rating" => 15,
        "doc_id" => 16,
        "direction" => 17,
        "electronic" => 18,
        "signed" => 19,
        "report_id" => 20,
        "meeting_id" => 21,
        "mode" => 22,
        "minutes" => 23,
        _ => return None,
    })
}

/// Longest record kept verbatim in a rejection.
pub(crate) const RAW_KEEP: usize = 4096;

/// The record as received, cut to 4 KiB at a character boundary, for a
/// rejection's `raw`.
pub fn cut_raw(raw: &[u8]) -> String {
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

#[cfg(test)]
mod schema_tests {
    use super::*;

    #[test]
    fn field_index_finds_every_field_and_nothing_else() {
        for (i, (name, _)) in FIELDS.iter().enumerate() {
            assert_eq!(field_index(name), Some(i), "{name}");
        }
        for other in ["", "Event_id", "event_id ", "units", "minute"] {
            assert_eq!(field_index(other), None, "{other:?}");
        }
    }

    #[test]
    fn a_field_handle_is_its_position_and_name() {
        for (i, (name, _)) in FIELDS.iter().enumerate() {
            let f = Field::named(name);
            assert_eq!((f.index(), f.name()), (i, *name));
            assert_eq!(f.to_string(), *name);
        }
        const UNIT: Field = Field::named("unit");
        assert_eq!(UNIT.index(), field_index("unit").unwrap());
    }

    #[test]
    #[should_panic(expected = "not a field of the event contract v1")]
    fn a_name_outside_the_contract_has_no_field_handle() {
        // In a constant this is a compile error.
        let _ = Field::named("units");
    }

    #[test]
    fn the_json_schema_matches_the_validator() {
        let schema: serde_json::Value = serde_json::from_str(JSON_SCHEMA).unwrap();
        let props = schema["properties"].as_object().unwrap();
        let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
        let mut fields: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
        names.sort();
        fields.sort();
        assert_eq!(names, fields);
        for (name, t) in FIELDS {
            let declared = props[name]["type"].as_str();
            let want = match t {
                FieldType::Bool => Some("boolean"),
                FieldType::Int => Some("integer"),
                FieldType::Time => Some("string"),
                FieldType::Text => declared
                    .filter(|_| props[name].get("enum").is_none())
                    .map(|_| "string"),
            };
            assert_eq!(declared, want, "{name}");
        }
        let statuses: Vec<&str> = props["status"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let known: Vec<&str> = model::DossierStatus::ALL
            .iter()
            .map(|s| s.as_str())
            .collect();
        assert_eq!(statuses, known);
    }

    /// The schema's patterns refuse what the validator refuses: control
    /// characters in every id, and take other text.
    #[test]
    fn the_json_schema_refuses_control_characters_in_ids() {
        let schema: serde_json::Value = serde_json::from_str(JSON_SCHEMA).unwrap();
        let props = &schema["properties"];
        let ids = [
            "event_id",
            "dossier_id",
            "doc_id",
            "report_id",
            "meeting_id",
        ];
        let samples = [
            ("unit", "00070"),
            ("procedure_code", "1.001757"),
            ("event_id", "g1-22 Hồ sơ\u{a0}1"),
        ];
        for field in ids.iter().chain(&["unit", "procedure_code"]) {
            let pattern = props[*field]["pattern"]
                .as_str()
                .unwrap_or_else(|| panic!("{field} has no pattern"));
            // JSON Schema patterns are ECMA 262; these use only what the
            // regex crate reads the same way.
            let re = regex::Regex::new(pattern).unwrap();
            let good = samples
                .iter()
                .find(|(f, _)| f == field)
                .map_or(samples[2].1, |(_, v)| v);
            assert!(re.is_match(good), "{field}: {good:?}");
            for c in ['\u{0}', '\n', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}'] {
                let bad = format!("{}{c}", &good[..good.len() - 1]);
                assert!(!re.is_match(&bad), "{field}: {bad:?}");
            }
        }
    }
}
