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
];

/// Counters produced from dossier state rather than SQL.
pub const STATE_COUNTERS: &[&str] = &[
    // resolved by the due date in force at resolution (event time)
    "resolved_on_time",
    // open at the end of the period, and of those not yet due
    "open_end",
    "open_not_due_end",
    // open at the end of the period and past due / due within a working day
    "overdue_open",
    "due_soon_open",
];

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

/// The per-batch partial-aggregate query: every SQL counter per unit and
/// local hour (UTC+7 is a whole number of hours from UTC, so UTC hour bins
/// are local hour bins).
pub fn hourly_sql(table: &str) -> String {
    let sums: Vec<String> = COUNTERS
        .iter()
        .map(|c| {
            format!(
                "SUM(CASE WHEN {} THEN {} ELSE 0 END) AS \"{}\"",
                c.when, c.value, c.name
            )
        })
        .collect();
    format!(
        "SELECT unit, date_bin(INTERVAL '1 hour', occurred_at) AS bin, {} FROM {table} GROUP BY unit, bin",
        sums.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "counter names are unique");
    }
}
