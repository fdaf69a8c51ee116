//! NDJSON decoder: one JSON object a line; blank lines are skipped.

use super::validate::{Checks, FieldValue, Record, validate_record};
use super::{
    Decoded, FieldError, MAX_RECORD_BYTES, Rejection, Row, Sink, cut_raw, field_type, too_long,
    validate_rows,
};
use crate::units::UnitRegistry;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Decode and validate every line of `input`. Never fails as a whole: bad
/// lines become rejections and the rest goes on.
pub fn decode(input: &[u8], units: &UnitRegistry, checks: Checks) -> Decoded {
    let mut out = Decoded::default();
    decode_lines(input, 1, units, checks, &mut out);
    out
}

/// [`decode`] for a piece of a larger input whose first line is line
/// `first_line` (so that rejections name the line of the whole file),
/// into any [`Sink`].
pub fn decode_lines(
    input: &[u8],
    first_line: usize,
    units: &UnitRegistry,
    checks: Checks,
    out: &mut impl Sink,
) {
    // Records run about 200 bytes: room for all of them at once rather
    // than moving every event on each growth.
    out.reserve(input.len() / 160);
    // UTF-8 is checked once for the whole chunk (lines are cut at ASCII
    // newlines, so each is valid too); only a chunk that fails is checked
    // line by line, so that its other lines are still read.
    let text = std::str::from_utf8(input).ok();
    // One set of cells, refilled for every line.
    let mut scanned = Scanned::new();
    let mut start = 0;
    for (i, end) in memchr::memchr_iter(b'\n', input)
        .chain(std::iter::once(input.len()))
        .enumerate()
    {
        let from = start;
        let line = &input[start..end];
        start = (end + 1).min(input.len());
        let line_no = first_line + i;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > MAX_RECORD_BYTES {
            let raw = if out.keeps_next() {
                cut_raw(line)
            } else {
                String::new()
            };
            out.reject(Rejection {
                line: line_no,
                event_id: None,
                errors: vec![too_long(line.len())],
                raw,
            });
            continue;
        }
        let line_text = match text {
            Some(t) => t.get(from..from + line.len()),
            None => std::str::from_utf8(line).ok(),
        };
        // The common case: a flat object of contract fields without escapes,
        // scanned in place ([`Scanned`]).
        if let Some(t) = line_text
            && scanned.read(t)
        {
            validate_into(out, &scanned, (line_no, line), units, checks);
            continue;
        }
        // Next, any object read into a flat list of members that borrow
        // from the line. Anything it cannot read goes the slow way through
        // `serde_json::Value`, which names the problem.
        let Ok(flat) = serde_json::from_slice::<Flat<'_>>(line) else {
            match serde_json::from_slice::<serde_json::Value>(line) {
                Ok(value) => {
                    let row = Row {
                        line: line_no,
                        value: Ok(value),
                        raw: cut_raw(line),
                    };
                    out.take(validate_rows([row], units, checks));
                }
                // Not JSON: straight to the sink, which counts it (and
                // keeps the first few), without a decoder result of its own.
                Err(e) => out.reject(Rejection {
                    line: line_no,
                    event_id: None,
                    errors: vec![FieldError {
                        field: "$".into(),
                        rule: "json".into(),
                        message: format!("not valid JSON: {e}"),
                    }],
                    raw: if out.keeps_next() {
                        cut_raw(line)
                    } else {
                        String::new()
                    },
                }),
            }
            continue;
        };
        validate_into(out, &flat, (line_no, line), units, checks);
    }
}

/// Validate one record read from `line` (number, bytes) into `out`: its
/// event, or its rejection naming the broken rules.
fn validate_into<R: Record + ?Sized>(
    out: &mut impl Sink,
    rec: &R,
    (line_no, line): (usize, &[u8]),
    units: &UnitRegistry,
    checks: Checks,
) {
    match validate_record(rec, units, checks) {
        Ok(ev) => out.event(line_no, ev),
        Err(errors) => out.reject(Rejection {
            line: line_no,
            event_id: match rec.get(f!("event_id")) {
                Some(FieldValue::Text(t)) => Some(t.to_owned()),
                _ => None,
            },
            errors,
            // Only a rejection kept in full needs its record.
            raw: if out.keeps_next() {
                cut_raw(line)
            } else {
                String::new()
            },
        }),
    }
}

/// One record read by the in-place scanner ([`Scanned`]) and validated
/// (without a clock check), as serde would read it into an [`Event`]:
/// `None` when the scanner declines it, the contract refuses it, or the
/// validation would add a field (the legal due date of an `accepted`
/// without one) or leave one out (a field of another kind of event). For
/// callers with their own reader of stored events, such as the event
/// log's, which then falls back to it.
pub fn decode_scanned(record: &[u8], units: &UnitRegistry) -> Option<model::Event> {
    let scanned = Scanned::scan(record)?;
    let event = validate_record(&scanned, units, Checks::default()).ok()?;
    let given = scanned.cells.each_ref().map(|c| !matches!(c, Cell::Null));
    (given == populated(&event)).then_some(event)
}

/// Which fields of [`super::FIELDS`] `e` holds a value for, in that order.
fn populated(e: &model::Event) -> [bool; super::FIELDS.len()] {
    [
        true,
        true,
        true,
        true,
        e.dossier_id.is_some(),
        e.status.is_some(),
        e.procedure_code.is_some(),
        e.channel.is_some(),
        e.due_at.is_some(),
        e.reused_data.is_some(),
        e.from_citizen_store.is_some(),
        e.digitized.is_some(),
        e.e_result.is_some(),
        e.amount.is_some(),
        e.online.is_some(),
        e.rating.is_some(),
        e.doc_id.is_some(),
        e.direction.is_some(),
        e.electronic.is_some(),
        e.signed.is_some(),
        e.report_id.is_some(),
        e.meeting_id.is_some(),
        e.mode.is_some(),
        e.minutes.is_some(),
    ]
}

/// A record as it almost always comes: one JSON object of contract fields
/// whose values are strings without escapes, `true`, `false`, `null` or
/// integers. [`Scanned::read`] reads such a line in one pass into cells the
/// decoder keeps from line to line ([`Scanned::scan`] into new ones),
/// borrowing every string, and declines anything else (escapes, unknown
/// fields, floats, nesting, malformed JSON), which then takes the general
/// paths: the same record reads the same either way.
struct Scanned<'a> {
    /// Per contract field (in [`super::FIELDS`] order), its value; `Null`
    /// when absent. A repeated member's last value wins, as in serde_json.
    cells: [Cell<'a>; super::FIELDS.len()],
}

impl<'a> Scanned<'a> {
    fn new() -> Self {
        Self {
            cells: [const { Cell::Null }; super::FIELDS.len()],
        }
    }

    fn scan(line: &'a [u8]) -> Option<Self> {
        let mut scanned = Self::new();
        scanned
            .read(std::str::from_utf8(line).ok()?)
            .then_some(scanned)
    }

    /// Read one line into the cells (every cell is reset first); `false`
    /// when the scanner declines it. Each string is a slice of the line
    /// between ASCII quotes, so it is valid UTF-8 too. Filling cells the
    /// decoder keeps, rather than returning new ones, saves moving them
    /// for every record.
    fn read(&mut self, text: &'a str) -> bool {
        self.cells = [const { Cell::Null }; super::FIELDS.len()];
        self.fill(text).is_some()
    }

    fn fill(&mut self, text: &'a str) -> Option<()> {
        let b = text.as_bytes();
        let cells = &mut self.cells;
        let mut at = skip_ws(b, 0);
        if b.get(at) != Some(&b'{') {
            return None;
        }
        at = skip_ws(b, at + 1);
        if b.get(at) == Some(&b'}') {
            return (skip_ws(b, at + 1) == b.len()).then_some(());
        }
        loop {
            let (key, next) = string_at(text, at)?;
            let field = super::field_index(key)?;
            at = skip_ws(b, next);
            if b.get(at) != Some(&b':') {
                return None;
            }
            at = skip_ws(b, at + 1);
            let (cell, next) = match b.get(at)? {
                b'"' => {
                    let (v, next) = string_at(text, at)?;
                    (Cell::Text(Cow::Borrowed(v)), next)
                }
                b't' if b[at..].starts_with(b"true") => (Cell::Bool(true), at + 4),
                b'f' if b[at..].starts_with(b"false") => (Cell::Bool(false), at + 5),
                b'n' if b[at..].starts_with(b"null") => (Cell::Null, at + 4),
                b'-' | b'0'..=b'9' => integer_at(b, at)?,
                _ => return None,
            };
            cells[field] = cell;
            at = skip_ws(b, next);
            match b.get(at)? {
                b',' => at = skip_ws(b, at + 1),
                b'}' => break,
                _ => return None,
            }
        }
        (skip_ws(b, at + 1) == b.len()).then_some(())
    }
}

/// The first position from `at` that is not JSON whitespace.
fn skip_ws(b: &[u8], mut at: usize) -> usize {
    while matches!(b.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The string whose opening quote is at `at`, and the position after its
/// closing quote; `None` when it holds an escape or a control character
/// (or is not a string).
fn string_at(text: &str, at: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(at) != Some(&b'"') {
        return None;
    }
    let end = at + 1 + string_end(&b[at + 1..])?;
    (b[end] == b'"').then(|| (&text[at + 1..end], end + 1))
}

/// The position of the first quote, backslash or control character in
/// `s`, eight bytes at a time: the scanner spends most of its time
/// looking for the end of strings. In each word, a byte is flagged when it
/// is zero after XOR with `"` or `\`, or below 0x20; the tricks can flag
/// bytes above a flagged one, never below, so the lowest flag is exact.
fn string_end(s: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut words = s.chunks_exact(8);
    let mut base = 0;
    for w in &mut words {
        let mut x = [0u8; 8];
        x.copy_from_slice(w);
        let x = u64::from_le_bytes(x);
        let flags = zero(x ^ (ONES * u64::from(b'"')))
            | zero(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if flags != 0 {
            return Some(base + flags.trailing_zeros() as usize / 8);
        }
        base += 8;
    }
    let rest = words.remainder();
    let i = rest
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    Some(base + i)
}

/// The integer starting at `at` and the position after it; `None` for
/// what serde_json reads otherwise (fractions, exponents, `-0`, leading
/// zeros, more than 18 digits).
fn integer_at(b: &[u8], at: usize) -> Option<(Cell<'static>, usize)> {
    let negative = b[at] == b'-';
    let start = at + usize::from(negative);
    let len = b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
    let end = start + len;
    if len == 0 || len > 18 || (len > 1 && b[start] == b'0') {
        return None;
    }
    if matches!(b.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let n = b[start..end]
        .iter()
        .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'));
    if negative && n == 0 {
        return None;
    }
    Some((Cell::Int(if negative { -n } else { n }), end))
}

impl Record for Scanned<'_> {
    fn get(&self, field: super::Field) -> Option<FieldValue<'_>> {
        self.cells[field.index()].value()
    }

    fn unknown_fields(&self) -> Vec<String> {
        // A record with one is never scanned.
        Vec::new()
    }
}

/// A JSON object's top-level members, in order, with names and strings
/// borrowed from the input unless they hold escapes. Nested values are skipped and seen
/// as [`Cell::Other`]; the contract has none.
struct Flat<'a> {
    members: Vec<(Cow<'a, str>, Cell<'a>)>,
    /// For each contract field (in [`super::FIELDS`] order), the index of
    /// its member (the last one if repeated), or `u8::MAX`.
    slots: [u8; super::FIELDS.len()],
    /// Whether a member is not a contract field (found while reading, so
    /// that a clean record is not looked through again).
    unknown: bool,
}

enum Cell<'a> {
    Null,
    Text(Cow<'a, str>),
    Bool(bool),
    Int(i64),
    Other,
}

impl Cell<'_> {
    /// The value as a [`Record`] gives it; `None` for null.
    fn value(&self) -> Option<FieldValue<'_>> {
        Some(match self {
            Cell::Null => return None,
            Cell::Text(t) => FieldValue::Text(t),
            Cell::Bool(b) => FieldValue::Bool(*b),
            Cell::Int(i) => FieldValue::Int(*i),
            Cell::Other => FieldValue::Other,
        })
    }
}

impl Record for Flat<'_> {
    fn get(&self, field: super::Field) -> Option<FieldValue<'_>> {
        let slot = self.slots[field.index()];
        self.members.get(usize::from(slot))?.1.value()
    }

    fn unknown_fields(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if !self.unknown {
            return out;
        }
        for (k, _) in &self.members {
            if field_type(k).is_none() && !out.iter().any(|o| o == k) {
                out.push(k.to_string());
            }
        }
        out
    }
}

impl<'de> de::Deserialize<'de> for Cell<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Cell::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Cell::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Cell::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or(Cell::Other, Cell::Int))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Cell::Other)
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Cell::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Cell::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Cell::Text(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Cell::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Cell::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> de::Deserialize<'de> for Flat<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Flat<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(16);
                let mut slots = [u8::MAX; super::FIELDS.len()];
                let mut unknown = false;
                // JSON member names are strings; a key reads as the same
                // borrowed-when-possible text as a value.
                while let Some((key, v)) = map.next_entry::<Cell<'de>, Cell<'de>>()? {
                    let Cell::Text(k) = key else {
                        return Err(de::Error::custom("a member name is not a string"));
                    };
                    // The last of repeated members wins, as in
                    // `serde_json::Value`. Past 255 members a record is
                    // not one the contract allows anyway.
                    let field = super::field_index(&k);
                    unknown |= field.is_none();
                    if let (Some(f), Ok(i)) = (field, u8::try_from(members.len()))
                        && i < u8::MAX
                    {
                        slots[f] = i;
                    }
                    members.push((k, v));
                }
                Ok(Flat {
                    members,
                    slots,
                    unknown,
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Event;

    #[test]
    fn one_bad_line_never_sinks_the_batch() {
        let units = UnitRegistry::embedded().unwrap();
        let input = concat!(
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video"}"#,
            "\n\n{not json\n",
            r#"{"event_id":"b","kind":"meeting","occurred_at":"2025-11-20T09:00:00+07:00","unit":"BTC","meeting_id":"M2","mode":"radio"}"#,
            "\r\n",
            r#"{"event_id":"c","kind":"meeting","occurred_at":"2025-11-20T10:00:00+07:00","unit":"01","meeting_id":"M3","mode":"hybrid"}"#,
        );
        let d = decode(input.as_bytes(), &units, Checks::default());
        let ok: Vec<_> = d
            .events
            .iter()
            .map(|(l, e)| (*l, e.event_id.as_str()))
            .collect();
        assert_eq!(ok, vec![(1, "a"), (5, "c")]);
        assert_eq!(d.rejected.total(), 2);
        assert_eq!(
            (
                d.rejected.sample()[0].line,
                d.rejected.sample()[0].errors[0].rule.as_str()
            ),
            (3, "json")
        );
        assert_eq!(
            (
                d.rejected.sample()[1].line,
                d.rejected.sample()[1].errors[0].field.as_str()
            ),
            (4, "mode")
        );
        assert_eq!(d.rejected.sample()[1].event_id.as_deref(), Some("b"));
    }

    #[test]
    fn the_flat_reader_agrees_with_serde_json_on_odd_records() {
        let units = UnitRegistry::embedded().unwrap();
        let lines = [
            // escapes, a repeated member (the last wins), a float, nesting
            r#"{"event_id":"a\u0062","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"radio","mode":"video"}"#,
            r#"{"event_id":"c","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video","minutes":1.5}"#,
            r#"{"event_id":"d","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":{"x":[1,2]},"mode":"video","extra":null,"extra":1}"#,
            r#"["not","an","object"]"#,
            r#"{"event_id":"e","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video","minutes":18446744073709551615}"#,
        ];
        for line in lines {
            let fast = decode(line.as_bytes(), &units, Checks::default());
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let slow = super::super::validate::validate(&value, &units, Checks::default());
            match slow {
                Ok(ev) => assert_eq!(fast.events[0].1, ev, "{line}"),
                Err(errors) => assert_eq!(fast.rejected.sample()[0].errors, errors, "{line}"),
            }
        }
    }

    /// What the general path makes of one line: `serde_json::Value`, then
    /// the contract.
    fn through_value(line: &str, units: &UnitRegistry) -> Result<Event, Vec<FieldError>> {
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(v) => super::super::validate::validate(&v, units, Checks::default()),
            Err(e) => Err(vec![FieldError {
                field: "$".into(),
                rule: "json".into(),
                message: format!("not valid JSON: {e}"),
            }]),
        }
    }

    fn assert_same(line: &str, units: &UnitRegistry) {
        let fast = decode(line.as_bytes(), units, Checks::default());
        match through_value(line, units) {
            Ok(ev) => assert_eq!(fast.events.first().map(|e| &e.1), Some(&ev), "{line}"),
            Err(errors) => assert_eq!(
                fast.rejected.sample().first().map(|r| &r.errors),
                Some(&errors),
                "{line}"
            ),
        }
    }

    #[test]
    fn the_scanner_reads_what_serde_json_reads() {
        let units = UnitRegistry::embedded().unwrap();
        let lines = [
            r#"  { "event_id" : "a" , "kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video","minutes": 90 }  "#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video","minutes":-0}"#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video","minutes":-5}"#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video","minutes":090}"#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video","minutes":9e1}"#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video","minutes":null}"#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video",}"#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video"} x"#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video","minutes":truex}"#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":true}"#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"Họp giao ban","mode":"video","mode":"hybrid"}"#,
            r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1	tab","mode":"video"}"#,
            r#"{"event_id":null,"kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video"}"#,
            r#"{}"#,
            r#" { } "#,
            r#"{"#,
            r#"{"event_id""#,
            r#"{"event_id":"#,
            r#"{"event_id":"a""#,
        ];
        for line in lines {
            assert_same(line, &units);
        }
        for line in sample_data::DEMO_SLICE_NDJSON.lines() {
            assert!(Scanned::scan(line.as_bytes()).is_some(), "{line}");
            assert_same(line, &units);
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_is_refused_alone() {
        let units = UnitRegistry::embedded().unwrap();
        let good: Vec<&str> = sample_data::DEMO_SLICE_NDJSON.lines().take(2).collect();
        let mut bytes = Vec::new();
        for line in [
            good[0].as_bytes(),
            b"{\"event_id\":\"\xff\"}",
            good[1].as_bytes(),
        ] {
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
        }
        let d = decode(&bytes, &units, Checks::default());
        let lines: Vec<usize> = d.events.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [1, 3]);
        assert_eq!(d.rejected.total(), 1);
        assert_eq!(d.rejected.sample()[0].line, 2);
        assert_eq!(d.rejected.sample()[0].errors[0].rule, "json");
        let alone = decode(
            format!("{}\n{}\n", good[0], good[1]).as_bytes(),
            &units,
            Checks::default(),
        );
        let events = |d: &Decoded| d.events.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>();
        assert_eq!(events(&d), events(&alone));
    }

    fn string_end_bytewise(s: &[u8]) -> Option<usize> {
        s.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)
    }

    #[test]
    fn the_end_of_a_string_is_found_a_word_at_a_time_as_byte_by_byte() {
        // Every byte value at every position of a word and its tail, after
        // bytes that could carry a borrow (0x00..0x21, 0x80..0xff).
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    for fill in [b'a', 0x21, 0x7f, 0x80, 0xff, b'"' + 1, b'\\' + 1] {
                        let mut s = vec![fill; len];
                        s[at] = b;
                        assert_eq!(string_end(&s), string_end_bytewise(&s), "{s:?}");
                    }
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_end_where_a_byte_by_byte_search_ends(
            s in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            proptest::prop_assert_eq!(string_end(&s), string_end_bytewise(&s));
        }

        /// A valid record with one byte removed, replaced or inserted reads
        /// the same through the scanner as through `serde_json::Value`.
        #[test]
        fn a_damaged_record_reads_as_serde_json_reads_it(
            pick in 0usize..240,
            at in 0usize..400,
            edit in 0u8..3,
            byte in proptest::sample::select(b" \t\"\\,:{}[]-0159.etrufalsn\x01".to_vec()),
        ) {
            let units = UnitRegistry::embedded().unwrap();
            let line = sample_data::DEMO_SLICE_NDJSON.lines().nth(pick).unwrap();
            let mut b = line.as_bytes().to_vec();
            let at = at % b.len();
            match edit {
                0 => { b.remove(at); }
                1 => b[at] = byte,
                _ => b.insert(at, byte),
            }
            // Only whole characters: a damaged UTF-8 sequence is another test.
            if let Ok(line) = String::from_utf8(b) {
                assert_same(&line, &units);
            }
        }
    }

    #[test]
    fn an_oversized_record_is_refused_alone() {
        let units = UnitRegistry::embedded().unwrap();
        let big = format!("{{\"event_id\":\"{}\"}}", "x".repeat(MAX_RECORD_BYTES));
        let ok = r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video"}"#;
        let d = decode(format!("{big}\n{ok}").as_bytes(), &units, Checks::default());
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.rejected.sample()[0].errors[0].rule, "max_record_size");
        assert!(d.rejected.sample()[0].raw.len() <= 4096);
    }

    #[test]
    fn the_embedded_demo_slice_is_valid() {
        let units = UnitRegistry::embedded().unwrap();
        let d = decode(
            sample_data::DEMO_SLICE_NDJSON.as_bytes(),
            &units,
            Checks::default(),
        );
        assert!(d.rejected.is_empty(), "{:?}", d.rejected.sample().first());
        assert_eq!(d.events.len(), 240);
    }
}
