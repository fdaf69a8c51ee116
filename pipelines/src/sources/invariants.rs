//! The invariants every decoder keeps on any input whatsoever. The fuzz
//! targets (`fuzz/`, cargo-fuzz) call [`check`] on mutated bytes; the test
//! suite calls it on stable Rust over random and mutated inputs
//! (`pipelines/tests/roundtrip.rs`), so CI exercises the same bodies.

use super::validate::Checks;
use super::{Format, decode, ndjson};
use crate::units::UnitRegistry;

/// Decode `input` in `format` and check, panicking on a violation:
/// - decoding never panics and never loses a record silently: every record
///   is an event or a rejection, and each line appears once;
/// - every rejection names at least one field and rule;
/// - every accepted event, encoded again as NDJSON, decodes to itself.
pub fn check(format: Format, input: &[u8], units: &UnitRegistry) {
    let d = decode(
        format,
        bytes::Bytes::copy_from_slice(input),
        units,
        Checks::default(),
    );
    let mut lines: Vec<usize> = d
        .events
        .iter()
        .map(|(l, _)| *l)
        .chain(d.rejected.sample().iter().map(|r| r.line))
        .collect();
    let n = lines.len();
    lines.sort_unstable();
    lines.dedup();
    // A whole-input rejection (an unreadable Parquet file) has line 0 and
    // may stand for several records.
    assert!(
        lines.len() == n || lines.first() == Some(&0),
        "a line was reported twice"
    );
    // Counted rejections are at least those kept, and each kept one
    // counts under a rule.
    assert!(d.rejected.total() >= d.rejected.sample().len() as u64);
    assert!(d.rejected.is_empty() || !d.rejected.by_rule().is_empty());
    for r in d.rejected.sample() {
        assert!(!r.errors.is_empty(), "a rejection without a reason");
        for e in &r.errors {
            assert!(!e.field.is_empty() && !e.rule.is_empty());
        }
    }
    let mut nd = Vec::new();
    for (_, e) in &d.events {
        serde_json::to_writer(&mut nd, e).expect("an event serialises");
        nd.push(b'\n');
    }
    let again = ndjson::decode(&nd, units, Checks::default());
    assert!(
        again.rejected.is_empty(),
        "an accepted event fails when encoded again: {:?}",
        again.rejected.sample().first()
    );
    let before: Vec<_> = d.events.iter().map(|(_, e)| e).collect();
    let after: Vec<_> = again.events.iter().map(|(_, e)| e).collect();
    assert_eq!(before, after, "an event changed in a round trip");
}
