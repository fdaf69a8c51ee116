//! Dossier state as KPI counters: the due date in force, whether a dossier
//! was resolved on time, and when it is open, not yet due, due soon or
//! overdue. Built from a dossier's whole event history, in event-time
//! order whatever the arrival order, so a late `accepted` or
//! `supplement_received` still gives the right answer.

use chrono::{DateTime, FixedOffset};
use model::calendar::{DAY_MINUTES, WorkCalendar};
use model::{DossierStatus as S, Event, EventKind};
use std::collections::HashMap;

/// A state counter over a time span `[start, end)` of one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub counter: &'static str,
    pub start: i64,
    pub end: i64,
}

/// What the dossiers of one unit contribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFacts {
    /// Times (Unix seconds) at which a dossier was resolved on time.
    pub resolved_on_time: Vec<i64>,
    pub spans: Vec<Span>,
}

#[derive(Debug, Default)]
struct History {
    unit: Option<String>,
    procedure: Option<String>,
    channel: Option<model::Channel>,
    accepted: Option<i64>,
    finished: Option<i64>,
    resolved: Option<i64>,
    /// (event time, due date) from accepted and supplement_received.
    dues: Vec<(i64, i64)>,
}

/// Every dossier's history, keyed by (unit, dossier id), in event-time
/// terms whatever the arrival order.
fn histories(events: &[Event]) -> HashMap<(&str, &str), History> {
    let mut histories: HashMap<(&str, &str), History> = HashMap::new();
    for e in events {
        let (EventKind::Dossier, Some(id), Some(status)) =
            (e.kind, e.dossier_id.as_deref(), e.status)
        else {
            continue;
        };
        let h = histories.entry((e.unit.as_str(), id)).or_default();
        h.unit.get_or_insert_with(|| e.unit.as_str().to_owned());
        if h.procedure.is_none() {
            h.procedure.clone_from(&e.procedure_code);
        }
        if e.channel.is_some() {
            h.channel = e.channel;
        }
        let t = e.occurred_at.timestamp();
        let first = |slot: &mut Option<i64>| *slot = Some(slot.map_or(t, |s| s.min(t)));
        match status {
            S::Accepted => {
                first(&mut h.accepted);
                if let Some(d) = e.due_at {
                    h.dues.push((t, d.timestamp()));
                }
            }
            S::SupplementReceived => {
                if let Some(d) = e.due_at {
                    h.dues.push((t, d.timestamp()));
                }
            }
            S::Resolved => {
                first(&mut h.resolved);
                first(&mut h.finished);
            }
            S::Withdrawn | S::Stopped | S::Refused => first(&mut h.finished),
            _ => {}
        }
    }
    histories
}

/// The due date in force at `t`: the latest change at or before `t` (the
/// first one if every change is later). `dues` is sorted.
fn due_in_force(dues: &[(i64, i64)], t: i64) -> Option<i64> {
    dues.iter()
        .rev()
        .find(|(at, _)| *at <= t)
        .or(dues.first())
        .map(|(_, d)| *d)
}

/// The instant a dossier due at `due` becomes "due soon": one working day
/// before, taken at its earliest (Thursday 17:00, not Friday 07:00).
fn due_soon_from(calendar: &WorkCalendar, due: i64) -> i64 {
    let soon = calendar.sub_working_minutes(local(due), DAY_MINUTES);
    calendar.sub_working_minutes(soon, 0).timestamp()
}

/// Where an open dossier stands against its due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BacklogState {
    /// Open, more than one working day before its due date (or none given).
    NotDue,
    /// Open and due within one working day.
    DueSoon,
    /// Open past its due date.
    Overdue,
}

impl BacklogState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotDue => "not_due",
            Self::DueSoon => "due_soon",
            Self::Overdue => "overdue",
        }
    }
}

/// One dossier open at a given instant: a line of a unit's backlog.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpenDossier {
    pub dossier_id: String,
    pub unit: String,
    pub procedure_code: Option<String>,
    pub channel: Option<&'static str>,
    /// Unix seconds.
    pub accepted_at: i64,
    /// The due date in force at the instant asked about, Unix seconds.
    pub due_at: Option<i64>,
    pub state: BacklogState,
}

/// Dossiers accepted at or before `as_of` and not finished by then, with
/// their state at `as_of`, for the units `keep` admits. Sorted by due date
/// (most urgent first), then unit and id.
pub fn open_dossiers(
    events: &[Event],
    calendar: &WorkCalendar,
    as_of: i64,
    keep: impl Fn(&str) -> bool,
) -> Vec<OpenDossier> {
    let mut out = Vec::new();
    for ((_, id), h) in histories(events) {
        let (Some(unit), Some(accepted)) = (h.unit, h.accepted) else {
            continue;
        };
        if accepted > as_of || h.finished.is_some_and(|f| f <= as_of) || !keep(&unit) {
            continue;
        }
        let mut dues = h.dues;
        dues.sort_unstable();
        let due = due_in_force(&dues, as_of);
        let state = match due {
            Some(d) if as_of > d => BacklogState::Overdue,
            Some(d) if as_of >= due_soon_from(calendar, d) => BacklogState::DueSoon,
            _ => BacklogState::NotDue,
        };
        out.push(OpenDossier {
            dossier_id: id.to_owned(),
            unit,
            procedure_code: h.procedure,
            channel: h.channel.map(model::Channel::as_str),
            accepted_at: accepted,
            due_at: due,
            state,
        });
    }
    out.sort_by(|a, b| {
        (a.due_at.unwrap_or(i64::MAX), &a.unit, &a.dossier_id).cmp(&(
            b.due_at.unwrap_or(i64::MAX),
            &b.unit,
            &b.dossier_id,
        ))
    });
    out
}

/// Derive every dossier's facts, grouped by the unit holding the dossier.
pub fn facts(events: &[Event], calendar: &WorkCalendar) -> HashMap<String, UnitFacts> {
    let histories = histories(events);
    let mut out: HashMap<String, UnitFacts> = HashMap::new();
    for h in histories.into_values() {
        let (Some(unit), Some(accepted)) = (h.unit, h.accepted) else {
            continue;
        };
        let f = out.entry(unit).or_default();
        let mut dues = h.dues;
        dues.sort_unstable();
        // The due date in force at `t`: the latest change at or before t
        // (the first one if every change is later).
        let due_at = |t: i64| due_in_force(&dues, t);
        if let (Some(r), Some(due)) = (h.resolved, h.resolved.and_then(due_at))
            && r <= due
        {
            f.resolved_on_time.push(r);
        }
        let end = h.finished.unwrap_or(i64::MAX).max(accepted);
        if end > accepted {
            f.spans.push(Span {
                counter: "open_end",
                start: accepted,
                end,
            });
        }
        // Segments of constant due date within the open span.
        let mut cuts: Vec<i64> = dues
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| *t > accepted && *t < end)
            .collect();
        cuts.insert(0, accepted);
        cuts.push(end);
        for w in cuts.windows(2) {
            let (s, e) = (w[0], w[1]);
            if s >= e {
                continue;
            }
            let Some(due) = due_at(s) else { continue };
            let soon = due_soon_from(calendar, due);
            let mut span = |counter, a: i64, b: i64| {
                let (a, b) = (a.max(s), b.min(e));
                if a < b {
                    f.spans.push(Span {
                        counter,
                        start: a,
                        end: b,
                    });
                }
            };
            span("open_not_due_end", s, due + 1);
            span("overdue_open", due + 1, e);
            span("due_soon_open", soon, due + 1);
        }
    }
    out
}

fn local(t: i64) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .with_timezone(&model::calendar::vn_offset())
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Channel, UnitCode};

    /// How many spans of `counter` contain the instant `t`.
    fn count_at(spans: &[Span], counter: &str, t: i64) -> i64 {
        spans
            .iter()
            .filter(|s| s.counter == counter && s.start <= t && t < s.end)
            .count() as i64
    }

    fn ev(id: &str, dossier: &str, status: S, at: &str, due: Option<&str>) -> Event {
        let t = DateTime::parse_from_rfc3339(at).unwrap();
        let mut e = Event::new(id, EventKind::Dossier, t, UnitCode::parse("00070").unwrap());
        e.dossier_id = Some(dossier.into());
        e.status = Some(status);
        e.procedure_code = Some("1.001193".into());
        e.due_at = due.map(|d| DateTime::parse_from_rfc3339(d).unwrap());
        if status == S::Accepted {
            e.channel = Some(Channel::Online);
        }
        e
    }

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn a_supplement_moves_the_due_date_even_when_it_arrives_late() {
        let cal = WorkCalendar::default();
        // Due Fri 17:00; a supplement moves it to Tue 17:00; resolved Mon.
        let events = [
            ev("3", "D1", S::Resolved, "2025-11-24T10:00:00+07:00", None),
            ev(
                "1",
                "D1",
                S::Accepted,
                "2025-11-19T09:00:00+07:00",
                Some("2025-11-21T17:00:00+07:00"),
            ),
            ev(
                "2",
                "D1",
                S::SupplementReceived,
                "2025-11-20T09:00:00+07:00",
                Some("2025-11-25T17:00:00+07:00"),
            ),
        ];
        let f = &facts(&events, &cal)["00070"];
        assert_eq!(f.resolved_on_time, vec![ts("2025-11-24T10:00:00+07:00")]);
        let at = |s| count_at(&f.spans, "open_end", ts(s));
        assert_eq!(
            (
                at("2025-11-19T08:59:00+07:00"),
                at("2025-11-22T12:00:00+07:00"),
                at("2025-11-24T10:00:00+07:00")
            ),
            (0, 1, 0)
        );
        // Without the supplement it would be overdue on Saturday; with it,
        // Saturday is "not yet due", and Monday 09:00 is still more than a
        // working day before Tuesday 17:00.
        assert_eq!(
            count_at(&f.spans, "overdue_open", ts("2025-11-22T12:00:00+07:00")),
            0
        );
        assert_eq!(
            count_at(
                &f.spans,
                "open_not_due_end",
                ts("2025-11-22T12:00:00+07:00")
            ),
            1
        );
        assert_eq!(
            count_at(&f.spans, "due_soon_open", ts("2025-11-24T09:00:00+07:00")),
            0
        );
        assert_eq!(
            count_at(&f.spans, "due_soon_open", ts("2025-11-21T09:00:00+07:00")),
            0
        );
    }

    #[test]
    fn an_unresolved_dossier_becomes_overdue_after_its_due_date() {
        let cal = WorkCalendar::default();
        let events = [ev(
            "1",
            "D2",
            S::Accepted,
            "2025-11-19T09:00:00+07:00",
            Some("2025-11-21T17:00:00+07:00"),
        )];
        let f = &facts(&events, &cal)["00070"];
        assert!(f.resolved_on_time.is_empty());
        assert_eq!(
            count_at(&f.spans, "overdue_open", ts("2025-11-21T17:00:00+07:00")),
            0,
            "due at 17:00 is not yet late"
        );
        assert_eq!(
            count_at(&f.spans, "overdue_open", ts("2025-11-21T17:00:01+07:00")),
            1
        );
        assert_eq!(
            count_at(&f.spans, "due_soon_open", ts("2025-11-20T17:00:00+07:00")),
            1,
            "one working day before"
        );
        assert_eq!(
            count_at(&f.spans, "due_soon_open", ts("2025-11-20T16:59:00+07:00")),
            0
        );
        assert_eq!(
            count_at(&f.spans, "open_end", ts("2030-01-01T00:00:00+07:00")),
            1
        );
    }

    #[test]
    fn late_resolution_and_refusal() {
        let cal = WorkCalendar::default();
        let events = [
            ev(
                "1",
                "D3",
                S::Accepted,
                "2025-11-19T09:00:00+07:00",
                Some("2025-11-19T17:00:00+07:00"),
            ),
            ev("2", "D3", S::Resolved, "2025-11-20T09:00:00+07:00", None),
            ev("3", "D4", S::Submitted, "2025-11-19T09:00:00+07:00", None),
            ev("4", "D4", S::Refused, "2025-11-19T10:00:00+07:00", None),
        ];
        let f = &facts(&events, &cal)["00070"];
        assert!(f.resolved_on_time.is_empty());
        assert_eq!(
            count_at(&f.spans, "overdue_open", ts("2025-11-19T20:00:00+07:00")),
            1
        );
        assert_eq!(
            count_at(&f.spans, "open_end", ts("2025-11-20T09:00:00+07:00")),
            0
        );
    }

    #[test]
    fn the_backlog_at_an_instant_moves_through_due_soon_to_overdue() {
        let cal = WorkCalendar::default();
        let events = [
            ev(
                "1",
                "D1",
                S::Accepted,
                "2025-11-19T09:00:00+07:00",
                Some("2025-11-21T17:00:00+07:00"),
            ),
            ev(
                "2",
                "D2",
                S::Accepted,
                "2025-11-19T09:30:00+07:00",
                Some("2025-11-28T17:00:00+07:00"),
            ),
            ev("3", "D2", S::Resolved, "2025-11-21T10:00:00+07:00", None),
        ];
        let at = |t: &str| {
            open_dossiers(&events, &cal, ts(t), |_| true)
                .into_iter()
                .map(|d| (d.dossier_id, d.state))
                .collect::<Vec<_>>()
        };
        use BacklogState::*;
        assert_eq!(at("2025-11-19T08:00:00+07:00"), vec![]);
        assert_eq!(
            at("2025-11-19T10:00:00+07:00"),
            vec![("D1".into(), NotDue), ("D2".into(), NotDue)]
        );
        // One working day before Fri 17:00 is Thu 17:00.
        assert_eq!(
            at("2025-11-20T16:59:00+07:00"),
            vec![("D1".into(), NotDue), ("D2".into(), NotDue)]
        );
        assert_eq!(
            at("2025-11-20T17:00:00+07:00"),
            vec![("D1".into(), DueSoon), ("D2".into(), NotDue)]
        );
        // D2 resolved Friday 10:00; D1 overdue after Fri 17:00.
        assert_eq!(
            at("2025-11-21T17:00:01+07:00"),
            vec![("D1".into(), Overdue)]
        );
        let none = open_dossiers(&events, &cal, ts("2025-11-20T10:00:00+07:00"), |u| {
            u != "00070"
        });
        assert!(none.is_empty(), "the unit filter applies");
        let d = &open_dossiers(&events, &cal, ts("2025-11-20T10:00:00+07:00"), |_| true)[0];
        assert_eq!(d.procedure_code.as_deref(), Some("1.001193"));
        assert_eq!(d.channel, Some("online"));
        assert_eq!(d.due_at, Some(ts("2025-11-21T17:00:00+07:00")));
    }
}
