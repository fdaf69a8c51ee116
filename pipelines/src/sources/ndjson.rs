//! NDJSON decoder: one JSON object a line; blank lines are skipped.

use super::validate::Checks;
use super::{Decoded, FieldError, MAX_RECORD_BYTES, Row, cut_raw, too_long, validate_rows};
use crate::units::UnitRegistry;

/// Decode and validate every line of `input`. Never fails as a whole: bad
/// lines become rejections and the rest goes on.
pub fn decode(input: &[u8], units: &UnitRegistry, checks: Checks) -> Decoded {
    let rows = input
        .split(|&b| b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                return None;
            }
            if line.len() > MAX_RECORD_BYTES {
                return Some(Row {
                    line: i + 1,
                    value: Err(too_long(line.len())),
                    raw: cut_raw(line),
                });
            }
            let value = serde_json::from_slice::<serde_json::Value>(line).map_err(|e| FieldError {
                field: "$".into(),
                rule: "json".into(),
                message: format!("not valid JSON: {e}"),
            });
            Some(Row {
                line: i + 1,
                value,
                raw: cut_raw(line),
            })
        });
    validate_rows(rows, units, checks)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(d.rejected.len(), 2);
        assert_eq!(
            (d.rejected[0].line, d.rejected[0].errors[0].rule.as_str()),
            (3, "json")
        );
        assert_eq!(
            (d.rejected[1].line, d.rejected[1].errors[0].field.as_str()),
            (4, "mode")
        );
        assert_eq!(d.rejected[1].event_id.as_deref(), Some("b"));
    }

    #[test]
    fn an_oversized_record_is_refused_alone() {
        let units = UnitRegistry::embedded().unwrap();
        let big = format!("{{\"event_id\":\"{}\"}}", "x".repeat(MAX_RECORD_BYTES));
        let ok = r#"{"event_id":"a","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC","meeting_id":"M1","mode":"video"}"#;
        let d = decode(format!("{big}\n{ok}").as_bytes(), &units, Checks::default());
        assert_eq!(d.events.len(), 1);
        assert_eq!(d.rejected[0].errors[0].rule, "max_record_size");
        assert!(d.rejected[0].raw.len() <= 4096);
    }

    #[test]
    fn the_embedded_demo_slice_is_valid() {
        let units = UnitRegistry::embedded().unwrap();
        let d = decode(
            sample_data::DEMO_SLICE_NDJSON.as_bytes(),
            &units,
            Checks::default(),
        );
        assert!(d.rejected.is_empty(), "{:?}", d.rejected.first());
        assert_eq!(d.events.len(), 240);
    }
}
