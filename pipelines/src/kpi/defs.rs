//! Every KPI, defined once.
//!
//! A *counter* is a sum over events, written as DataFusion SQL over the
//! micro-batch schema ([`crate::windows::batch`]): `SUM(CASE WHEN <when>
//! THEN <value> ELSE 0 END)`. A *KPI* is a ratio of two counters. Adding a
//! KPI is adding its counters and one line to [`KPIS`]; the query, the
//! windows, the roll-ups and every output pick it up from here.
//!
//! Two counters are not event sums but dossier state (the due date in force
//! when a dossier is resolved; whether it is open, overdue or due soon at
//! the end of a period): they are produced by [`super::dossiers`] under the
//! names in [`STATE_COUNTERS`] and merge exactly like the SQL ones.

/// A counter computed by SQL.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    pub name: &'static str,
    /// SQL condition over one event.
    pub when: &'static str,
    /// SQL value summed where `when` holds (`1` to count events).
    pub value: &'static str,
}

const fn count(name: &'static str, when: &'static str) -> Counter {
    Counter {
        name,
        when,
        value: "1",
    }
}

pub const COUNTERS: &[Counter] = &[
    count("accepted", "kind = 'dossier' AND status = 'accepted'"),
    count(
        "accepted_online",
        "kind = 'dossier' AND status = 'accepted' AND channel = 'online'",
    ),
    count(
        "accepted_reused",
        "kind = 'dossier' AND status = 'accepted' AND reused_data",
    ),
    count("resolved", "kind = 'dossier' AND status = 'resolved'"),
    count(
        "resolved_digitized",
        "kind = 'dossier' AND status = 'resolved' AND digitized",
    ),
    count(
        "resolved_e_result",
        "kind = 'dossier' AND status = 'resolved' AND e_result",
    ),
    count("paid", "kind = 'dossier' AND status = 'paid'"),
    count(
        "paid_online",
        "kind = 'dossier' AND status = 'paid' AND online",
    ),
    count("ratings", "kind = 'dossier' AND status = 'rated'"),
    count(
        "ratings_good",
        "kind = 'dossier' AND status = 'rated' AND rating >= 4",
    ),
    Counter {
        name: "rating_sum",
        when: "kind = 'dossier' AND status = 'rated'",
        value: "rating",
    },
    count("documents", "kind = 'document'"),
    count("documents_electronic", "kind = 'document' AND electronic"),
    count("documents_signed", "kind = 'document' AND signed"),
    count("reports", "kind = 'report'"),
    count(
        "reports_online_on_time",
        "kind = 'report' AND online AND occurred_at <= due_at",
    ),
    count("meetings", "kind = 'meeting'"),
    count(
        "meetings_video",
        "kind = 'meeting' AND mode IN ('video', 'hybrid')",
    ),
    // Every dossier event: whether a unit has dossier activity at all (the
    // overview lists those units).
    count("dossier_events", "kind = 'dossier'"),
];

/// Counters produced from dossier state rather than SQL. Both kinds are
/// sums and merge like the SQL counters.
pub const STATE_COUNTERS: &[&str] = &[
    // resolved by the due date in force at resolution (event time)
    "resolved_on_time",
    // open at the end of the period, and of those not yet due
    "open_end",
    "open_not_due_end",
    // open at the end of the period and past due / due within a working day
    "overdue_open",
    "due_soon_open",
    // the processing-time histogram: resolved dossiers by working time from
    // accepted to resolved, one counter per bucket of PROCESSING_BOUNDS_HOURS
    "processing_le_1h",
    "processing_le_2h",
    "processing_le_4h",
    "processing_le_8h",
    "processing_le_16h",
    "processing_le_24h",
    "processing_le_40h",
    "processing_le_80h",
    "processing_le_120h",
    "processing_le_160h",
    "processing_le_240h",
    "processing_le_480h",
    "processing_gt_480h",
];

/// State counters counted once, at the event time of a dossier's
/// resolution; the others are spans, read at the end of each period.
pub fn at_resolution(name: &str) -> bool {
    name == "resolved_on_time" || name.starts_with("processing_")
}

/// Upper bounds, in working hours (8 to a working day), of the
/// processing-time buckets `processing_le_{h}h`; a last bucket
/// (`processing_gt_480h`) holds the rest. A histogram of sums merges across
/// batches, periods and units, and percentiles are read off it.
pub const PROCESSING_BOUNDS_HOURS: [i64; 12] = [1, 2, 4, 8, 16, 24, 40, 80, 120, 160, 240, 480];

/// The processing-time bucket counter for `minutes` of working time.
pub fn processing_bucket(minutes: i64) -> &'static str {
    let first = STATE_COUNTERS
        .iter()
        .position(|n| *n == "processing_le_1h")
        .unwrap_or(0);
    let i = PROCESSING_BOUNDS_HOURS
        .iter()
        .position(|h| minutes <= h * 60)
        .unwrap_or(PROCESSING_BOUNDS_HOURS.len());
    STATE_COUNTERS[first + i]
}

/// A percentile (0–1) of the processing-time histogram, in working hours,
/// interpolated linearly inside its bucket (the last, open bucket answers
/// its lower bound). `counts` are the bucket counts in order.
pub fn processing_percentile(counts: &[i64], q: f64) -> Option<f64> {
    let total: i64 = counts.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut seen = 0.0;
    for (i, &c) in counts.iter().enumerate() {
        let next = seen + c as f64;
        if c > 0 && next >= rank {
            let lo = if i == 0 {
                0.0
            } else {
                PROCESSING_BOUNDS_HOURS[i - 1] as f64
            };
            let Some(&hi) = PROCESSING_BOUNDS_HOURS.get(i) else {
                return Some(lo);
            };
            return Some(lo + (hi as f64 - lo) * ((rank - seen) / c as f64));
        }
        seen = next;
    }
    PROCESSING_BOUNDS_HOURS.last().map(|h| *h as f64)
}

/// A KPI: `numerator / denominator`, each a sum of counters.
#[derive(Debug, Clone, Copy)]
pub struct Kpi {
    pub name: &'static str,
    /// Decision 766 indicator it follows, if any.
    pub indicator: Option<&'static str>,
    pub numerator: &'static [&'static str],
    pub denominator: &'static [&'static str],
}

pub const KPIS: &[Kpi] = &[
    Kpi {
        name: "online_dossiers",
        indicator: Some("3.3"),
        numerator: &["accepted_online"],
        denominator: &["accepted"],
    },
    // The portal's rule: resolved by the due date, or open and not yet due,
    // over resolved plus open in the period.
    Kpi {
        name: "on_time",
        indicator: Some("2.1"),
        numerator: &["resolved_on_time", "open_not_due_end"],
        denominator: &["resolved", "open_end"],
    },
    Kpi {
        name: "online_payment",
        indicator: Some("3.6"),
        numerator: &["paid_online"],
        denominator: &["paid"],
    },
    Kpi {
        name: "e_result",
        indicator: Some("4.1"),
        numerator: &["resolved_e_result"],
        denominator: &["resolved"],
    },
    Kpi {
        name: "digitized",
        indicator: Some("4.2"),
        numerator: &["resolved_digitized"],
        denominator: &["resolved"],
    },
    Kpi {
        name: "data_reuse",
        indicator: Some("4.3"),
        numerator: &["accepted_reused"],
        denominator: &["accepted"],
    },
    Kpi {
        name: "satisfaction",
        indicator: Some("5.4"),
        numerator: &["ratings_good"],
        denominator: &["ratings"],
    },
    Kpi {
        name: "electronic_documents",
        indicator: None,
        numerator: &["documents_electronic"],
        denominator: &["documents"],
    },
    Kpi {
        name: "signed_documents",
        indicator: None,
        numerator: &["documents_signed"],
        denominator: &["documents"],
    },
    Kpi {
        name: "online_reports",
        indicator: None,
        numerator: &["reports_online_on_time"],
        denominator: &["reports"],
    },
    Kpi {
        name: "video_meetings",
        indicator: None,
        numerator: &["meetings_video"],
        denominator: &["meetings"],
    },
];

/// One indicator of the 766-style composite score: the KPI it reads, its
/// group, its points, and the percentage at which it earns all of them
/// (points grow linearly up to that cap).
#[derive(Debug, Clone, Copy)]
pub struct ScoreItem {
    pub indicator: &'static str,
    pub group: &'static str,
    pub kpi: &'static str,
    pub points: f64,
    pub full_at: f64,
}

/// The indicators of Decision 766/QĐ-TTg's five groups (100 points) that
/// events can support. Points follow the groups' weights (progress 20,
/// online services 22, digitisation 22, satisfaction 18); the caps are the
/// programme targets where there is one (95 % online, 45 % online payment,
/// 50 % reuse) and 100 % otherwise. The split of a group's points between
/// its indicators is ours, not the portal's.
pub const SCORE_766: &[ScoreItem] = &[
    ScoreItem {
        indicator: "2.1",
        group: "progress",
        kpi: "on_time",
        points: 20.0,
        full_at: 100.0,
    },
    ScoreItem {
        indicator: "3.3",
        group: "online_services",
        kpi: "online_dossiers",
        points: 12.0,
        full_at: 95.0,
    },
    ScoreItem {
        indicator: "3.6",
        group: "online_services",
        kpi: "online_payment",
        points: 10.0,
        full_at: 45.0,
    },
    ScoreItem {
        indicator: "4.1",
        group: "digitisation",
        kpi: "e_result",
        points: 8.0,
        full_at: 100.0,
    },
    ScoreItem {
        indicator: "4.2",
        group: "digitisation",
        kpi: "digitized",
        points: 8.0,
        full_at: 100.0,
    },
    ScoreItem {
        indicator: "4.3",
        group: "digitisation",
        kpi: "data_reuse",
        points: 6.0,
        full_at: 50.0,
    },
    ScoreItem {
        indicator: "5.4",
        group: "satisfaction",
        kpi: "satisfaction",
        points: 18.0,
        full_at: 100.0,
    },
];

/// What the score leaves out because events cannot carry it.
pub const SCORE_766_NEEDS_CATALOGUE: &[(&str, &str)] = &[
    (
        "1.x publicity and transparency (18 points)",
        "procedures published on the portal, dossier status published and synchronised: catalogue and portal data",
    ),
    (
        "3.1, 3.2 full-process and partial online services",
        "which procedures are offered online: the procedure catalogue",
    ),
];

/// The 766-style score (0–100) from a row's KPI values: points of the
/// indicators with data, rescaled to 100 over the points those indicators
/// can earn; `None` when no indicator has data.
pub fn score_766(value_of: impl Fn(&str) -> Option<f64>) -> Option<f64> {
    score_766_by_item(|i| value_of(SCORE_766[i].kpi))
}

/// [`score_766`] with the value of each indicator asked by its position
/// in [`SCORE_766`]: for reports, which find each indicator's KPI once
/// rather than by name in every row.
pub fn score_766_by_item(value_of: impl Fn(usize) -> Option<f64>) -> Option<f64> {
    let (mut earned, mut possible) = (0.0, 0.0);
    for (i, item) in SCORE_766.iter().enumerate() {
        if let Some(v) = value_of(i) {
            earned += item.points * (v / item.full_at).clamp(0.0, 1.0);
            possible += item.points;
        }
    }
    (possible > 0.0).then(|| earned * 100.0 / possible)
}

/// Volumes compared with the same part of the same period a year before
/// (targets: documents −15 % and meetings −10 % a year), with the target
/// change in percent.
pub const YEAR_ON_YEAR: &[(&str, f64)] = &[("documents", -15.0), ("meetings", -10.0)];

/// Counts reported as they are, next to the ratios.
pub const COUNTS: &[&str] = &["overdue_open", "due_soon_open"];

/// All counter names: SQL counters first (in query column order), then
/// state counters. Partial sums are vectors in this order.
pub fn counter_names() -> Vec<&'static str> {
    COUNTERS
        .iter()
        .map(|c| c.name)
        .chain(STATE_COUNTERS.iter().copied())
        .collect()
}

/// Position of a counter in a partial-sum vector.
pub fn counter_index(name: &str) -> Option<usize> {
    counter_names().iter().position(|n| *n == name)
}

/// The per-batch query of the one-minute windows: every SQL counter per
/// top unit (province or ministry) and one-minute event-time bucket.
pub fn minute_sql(table: &str) -> String {
    format!(
        "SELECT top_unit, date_bin(INTERVAL '1 minute', occurred_at) AS minute, {} FROM {table} GROUP BY top_unit, minute",
        sums_sql().join(", ")
    )
}

fn sums_sql() -> Vec<String> {
    COUNTERS
        .iter()
        .map(|c| {
            format!(
                "SUM(CASE WHEN {} THEN {} ELSE 0 END) AS \"{}\"",
                c.when, c.value, c.name
            )
        })
        .collect()
}

/// The per-batch partial-aggregate query: every SQL counter per unit and
/// local hour (UTC+7 is a whole number of hours from UTC, so UTC hour bins
/// are local hour bins).
pub fn hourly_sql(table: &str) -> String {
    hourly_sql_by(table, None)
}

/// [`hourly_sql`] grouped by one more expression, returned as column `dim`
/// after `unit` and `bin` (a breakdown such as the procedure code).
pub fn hourly_sql_by(table: &str, dim: Option<&str>) -> String {
    let sums = sums_sql();
    let (select, group) = match dim {
        Some(d) => (format!(", {d} AS dim"), ", dim"),
        None => (String::new(), ""),
    };
    format!(
        "SELECT unit, date_bin(INTERVAL '1 hour', occurred_at) AS bin{select}, {} FROM {table} GROUP BY unit, bin{group}",
        sums.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_reads_only_fields_of_the_kind_it_counts() {
        // A micro-batch made of a Parquet file's columns keeps fields a
        // row carries for another kind, which its event drops
        // (`windows::batch::from_contract_columns`): a counter that read
        // them would count them. The fields each kind's event keeps
        // (`sources::validate`), besides those of every event:
        let common = ["kind", "unit", "top_unit", "occurred_at"];
        let own = |kind: &str| -> &[&str] {
            match kind {
                "dossier" => &[
                    "status",
                    "channel",
                    "procedure_code",
                    "due_at",
                    "reused_data",
                    "digitized",
                    "e_result",
                    "online",
                    "rating",
                ],
                "document" => &["electronic", "signed"],
                "report" => &["due_at", "online"],
                "meeting" => &["mode", "minutes"],
                other => panic!("unknown kind {other}"),
            }
        };
        let columns: Vec<String> = crate::windows::batch::schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for c in COUNTERS {
            let kind = c
                .when
                .strip_prefix("kind = '")
                .and_then(|rest| rest.split('\'').next())
                .unwrap_or_else(|| panic!("counter {} must start with its kind", c.name));
            let sql = format!("{} {}", c.when, c.value);
            assert!(!sql.to_lowercase().contains(" or "), "{}: {sql}", c.name);
            // The words outside quoted literals.
            let words: String = sql.split('\'').step_by(2).collect::<Vec<_>>().join(" ");
            for word in words.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')) {
                if columns.iter().any(|c| c == word) {
                    assert!(
                        common.contains(&word) || own(kind).contains(&word),
                        "counter {} of {kind} events reads {word}",
                        c.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_766_score_caps_each_indicator_and_rescales_over_those_with_data() {
        // Everything at or above its cap: 100.
        let all = |_: &str| Some(100.0);
        assert_eq!(score_766(all), Some(100.0));
        // Online payment at 90 % is capped at its 45 % target.
        let v = |k: &str| match k {
            "online_payment" => Some(90.0),
            "on_time" => Some(50.0),
            _ => None,
        };
        // (10 + 20 * 0.5) / 30 points
        assert!((score_766(v).unwrap() - 66.666).abs() < 0.01);
        assert_eq!(score_766(|_| None), None);
        let total: f64 = SCORE_766.iter().map(|i| i.points).sum();
        assert_eq!(
            total, 82.0,
            "100 minus group 1's 18 points, which need catalogue data"
        );
        for item in SCORE_766 {
            assert!(
                KPIS.iter()
                    .any(|k| k.name == item.kpi && k.indicator == Some(item.indicator))
            );
        }
    }

    #[test]
    fn processing_time_lands_in_its_bucket_and_percentiles_interpolate() {
        assert_eq!(processing_bucket(0), "processing_le_1h");
        assert_eq!(processing_bucket(60), "processing_le_1h");
        assert_eq!(processing_bucket(61), "processing_le_2h");
        assert_eq!(processing_bucket(8 * 60), "processing_le_8h");
        assert_eq!(processing_bucket(481 * 60), "processing_gt_480h");
        let mut counts = vec![0i64; PROCESSING_BOUNDS_HOURS.len() + 1];
        // ten dossiers in (8 h, 16 h], ten in (16 h, 24 h]
        counts[4] = 10;
        counts[5] = 10;
        assert_eq!(processing_percentile(&counts, 0.5), Some(16.0));
        assert_eq!(processing_percentile(&counts, 0.25), Some(12.0));
        // rank 18 of 20: eight of the ten in (16 h, 24 h]
        assert_eq!(processing_percentile(&counts, 0.9), Some(22.4));
        assert_eq!(processing_percentile(&[0; 13], 0.5), None);
        counts[12] = 100;
        assert_eq!(processing_percentile(&counts, 0.99), Some(480.0));
    }

    #[test]
    fn every_kpi_refers_to_known_counters() {
        let names = counter_names();
        for k in KPIS {
            for c in k.numerator.iter().chain(k.denominator) {
                assert!(names.contains(c), "{}: unknown counter {c}", k.name);
            }
        }
        for c in COUNTS {
            assert!(names.contains(c));
        }
        // One bucket counter per bound, plus the open last one, in order.
        let buckets: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| n.starts_with("processing_"))
            .collect();
        assert_eq!(buckets.len(), PROCESSING_BOUNDS_HOURS.len() + 1);
        for (name, h) in buckets.iter().zip(PROCESSING_BOUNDS_HOURS) {
            assert_eq!(*name, format!("processing_le_{h}h"));
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "counter names are unique");
    }
}
