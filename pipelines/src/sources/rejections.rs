//! The rejections of one input in bounded memory: exact counts, per rule
//! too, and the first few records in full.
//!
//! A file of five million bad lines is five million rejections; keeping
//! each with its raw record (up to 4 KiB) and its messages took gigabytes
//! to say what the first one and the counts say. What a person acts on is
//! how many records broke which rule and a few whole examples, so that is
//! what is kept, whatever the size of the input.

use super::Rejection;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The rejections of one input: exact counts, and the first few records in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejections {
    /// The first `keep` rejections pushed, in full.
    sample: Vec<Rejection>,
    total: u64,
    /// Records per field and rule; at most [`MAX_RULES`] pairs, and then
    /// one more per rule under [`OTHER_FIELDS`].
    by_rule: BTreeMap<String, BTreeMap<String, u64>>,
    /// The (field, rule) pairs in `by_rule`.
    pairs: usize,
    keep: usize,
}

/// Records rejected for one rule of one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    pub field: String,
    pub rule: String,
    pub count: u64,
}

/// Distinct (field, rule) pairs counted apart. The contract's own pairs
/// are a few dozen; only `unknown_field` takes its field name from the
/// input, so a hostile one could make a new pair of every record. Past
/// this many, a new pair is counted under the field [`OTHER_FIELDS`].
pub const MAX_RULES: usize = 1024;

/// The field a (field, rule) pair is counted under once [`MAX_RULES`]
/// pairs are counted.
pub const OTHER_FIELDS: &str = "(other fields)";

impl Default for Rejections {
    fn default() -> Self {
        Self::with_keep(Self::DEFAULT_KEEP)
    }
}

impl Rejections {
    /// How many rejections are kept in full by default.
    pub const DEFAULT_KEEP: usize = 1000;

    pub fn with_keep(keep: usize) -> Self {
        Self {
            sample: Vec::new(),
            total: 0,
            by_rule: BTreeMap::new(),
            pairs: 0,
            keep,
        }
    }

    /// Count one rejection; keep it in full while fewer than `keep` are kept.
    pub fn push(&mut self, r: Rejection) {
        self.total += 1;
        let kept = self.sample.len() < self.keep;
        // Each distinct pair once: a record that breaks one rule of a field
        // twice is still one record. Errors are few; no set is built.
        for (i, e) in r.errors.iter().enumerate() {
            let same = |d: &super::FieldError| d.field == e.field && d.rule == e.rule;
            if !r.errors[..i].iter().any(same) {
                self.count(&e.field, &e.rule, 1);
            }
        }
        if kept {
            self.sample.push(r);
        }
    }

    /// Add `n` records to the count of (`field`, `rule`); a pair seen
    /// before is found by borrowed text, without allocating.
    fn count(&mut self, field: &str, rule: &str, n: u64) {
        if let Some(c) = self.by_rule.get_mut(field).and_then(|r| r.get_mut(rule)) {
            *c += n;
            return;
        }
        let field = if self.pairs < MAX_RULES {
            field
        } else {
            OTHER_FIELDS
        };
        let rules = match self.by_rule.get_mut(field) {
            Some(rules) => rules,
            None => self.by_rule.entry(field.to_owned()).or_default(),
        };
        match rules.get_mut(rule) {
            Some(c) => *c += n,
            None => {
                rules.insert(rule.to_owned(), n);
                self.pairs += 1;
            }
        }
    }

    /// Every rejection counted, kept in full or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The rejections kept in full, in the order pushed (or sorted by
    /// [`Self::sort_sample_by_line`]).
    pub fn sample(&self) -> &[Rejection] {
        &self.sample
    }

    /// Whether the next rejection pushed is kept in full.
    pub fn keeps_next(&self) -> bool {
        self.sample.len() < self.keep
    }

    /// How many rejections are kept in full at most.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// Records per (field, rule): a record counts once under each distinct
    /// (field, rule) among its errors. Sorted by field, then rule.
    pub fn by_rule(&self) -> Vec<RuleCount> {
        self.by_rule
            .iter()
            .flat_map(|(field, rules)| {
                rules.iter().map(|(rule, count)| RuleCount {
                    field: field.clone(),
                    rule: rule.clone(),
                    count: *count,
                })
            })
            .collect()
    }

    /// Add another input's rejections (counts summed, sample filled up to `keep`).
    pub fn extend(&mut self, other: Rejections) {
        self.total += other.total;
        for (field, rules) in other.by_rule {
            for (rule, n) in rules {
                self.count(&field, &rule, n);
            }
        }
        let room = self.keep.saturating_sub(self.sample.len());
        self.sample.extend(other.sample.into_iter().take(room));
    }

    pub fn sort_sample_by_line(&mut self) {
        self.sample.sort_by_key(|r| r.line);
    }

    /// Keep at most `keep` in full from now on, and only the first `keep`
    /// of those kept so far. For a caller that gathers several samples,
    /// sorts them and then cuts them to the first few.
    pub fn set_keep(&mut self, keep: usize) {
        self.keep = keep;
        self.sample.truncate(keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::FieldError;

    fn rejection(line: usize, errors: &[(&str, &str)]) -> Rejection {
        Rejection {
            line,
            event_id: None,
            errors: errors
                .iter()
                .map(|(field, rule)| FieldError {
                    field: (*field).into(),
                    rule: (*rule).into(),
                    message: format!("{field} breaks {rule}"),
                })
                .collect(),
            raw: format!("record {line}"),
        }
    }

    fn counts(r: &Rejections) -> Vec<(String, String, u64)> {
        r.by_rule()
            .into_iter()
            .map(|c| (c.field, c.rule, c.count))
            .collect()
    }

    #[test]
    fn counts_are_exact_and_the_sample_is_the_first_few() {
        let mut r = Rejections::with_keep(3);
        assert!(r.is_empty());
        for line in 1..=10 {
            let mut errors = vec![("unit", "format")];
            if line % 2 == 0 {
                // Twice the same pair in one record counts once.
                errors.extend([("mode", "enum"), ("unit", "format")]);
            }
            r.push(rejection(line, &errors));
        }
        assert_eq!(r.total(), 10);
        assert!(!r.is_empty());
        assert_eq!(
            counts(&r),
            [
                ("mode".into(), "enum".into(), 5),
                ("unit".into(), "format".into(), 10)
            ]
        );
        let lines: Vec<usize> = r.sample().iter().map(|x| x.line).collect();
        assert_eq!(lines, [1, 2, 3]);
        assert_eq!(r.sample()[1].errors.len(), 3, "kept in full");
        assert_eq!(Rejections::default().keep(), Rejections::DEFAULT_KEEP);
    }

    #[test]
    fn extending_sums_counts_and_fills_the_sample() {
        let mut a = Rejections::with_keep(3);
        a.push(rejection(5, &[("$", "json")]));
        a.push(rejection(9, &[("unit", "format")]));
        let mut b = Rejections::with_keep(10);
        for line in [1, 2, 3] {
            b.push(rejection(line, &[("$", "json")]));
        }
        a.extend(b);
        assert_eq!(a.total(), 5);
        assert_eq!(
            counts(&a),
            [
                ("$".into(), "json".into(), 4),
                ("unit".into(), "format".into(), 1)
            ]
        );
        let lines = |r: &Rejections| r.sample().iter().map(|x| x.line).collect::<Vec<_>>();
        assert_eq!(lines(&a), [5, 9, 1]);
        a.sort_sample_by_line();
        assert_eq!(lines(&a), [1, 5, 9]);
        a.set_keep(2);
        assert_eq!(lines(&a), [1, 5]);
        a.push(rejection(20, &[("$", "json")]));
        assert_eq!((lines(&a), a.total()), (vec![1, 5], 6));
    }

    #[test]
    fn field_names_from_the_input_cannot_grow_the_counts_without_bound() {
        let mut r = Rejections::with_keep(0);
        let n = MAX_RULES + 500;
        for i in 0..n {
            let field = format!("extra{i}");
            r.push(rejection(
                i + 1,
                &[(&field, "unknown_field"), ("$", "json")],
            ));
        }
        assert_eq!(r.total(), n as u64);
        assert!(r.sample().is_empty());
        let by_rule = r.by_rule();
        assert_eq!(by_rule.len(), MAX_RULES + 1);
        let count = |field: &str, rule: &str| {
            by_rule
                .iter()
                .find(|c| c.field == field && c.rule == rule)
                .map(|c| c.count)
        };
        assert_eq!(count("$", "json"), Some(n as u64));
        // Every unknown field is counted, the late ones together.
        let unknown: u64 = by_rule
            .iter()
            .filter(|c| c.rule == "unknown_field")
            .map(|c| c.count)
            .sum();
        assert_eq!(unknown, n as u64);
        assert_eq!(
            count(OTHER_FIELDS, "unknown_field"),
            Some((n - MAX_RULES + 1) as u64)
        );
    }
}
