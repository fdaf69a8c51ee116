//! Documents, periodic reports and meetings: the document-system side of
//! the stream.

use super::calibration::{Rate, Side};
use super::{Compact, DOCUMENTS_PER_YEAR, Generator, What, flag, local_midnight, to_local};
use chrono::{Datelike, NaiveDate, Weekday};

/// Working days in a typical year, for spreading yearly document volume.
const WORKING_DAYS_PER_YEAR: f64 = 250.0;
/// Periodic reports due a working day at scale 1.0 (about one per province
/// and ministry, one per twenty communes).
const REPORTS_PER_DAY: f64 = 217.0;
/// Meetings a working day at scale 1.0 (three per province and ministry,
/// one per seven communes).
const MEETINGS_PER_DAY: f64 = 650.0;

pub(super) fn generate_day(g: &mut Generator, date: NaiveDate) {
    let working = g.calendar.is_working_day(date);
    let day_start = local_midnight(date);
    let scale = g.cfg.scale;
    let docs =
        DOCUMENTS_PER_YEAR * scale / WORKING_DAYS_PER_YEAR * if working { 1.0 } else { 0.03 };
    for _ in 0..g.rng.poisson(docs) {
        document(g, day_start, working);
    }
    if !working {
        return;
    }
    for _ in 0..g.rng.poisson(REPORTS_PER_DAY * scale) {
        report(g, date, day_start);
    }
    for _ in 0..g.rng.poisson(MEETINGS_PER_DAY * scale) {
        meeting(g, day_start);
    }
}

/// A unit for office work: ministries a third of the time, otherwise a
/// province or one of its communes. Returns (unit, side, group).
fn pick_unit(g: &mut Generator) -> (u32, Side, usize) {
    let side = if g.rng.chance(0.3) {
        Side::Ministries
    } else {
        Side::Localities
    };
    let s = side as usize;
    let group = g.group_weights[s].pick(&mut g.rng);
    let unit = match side {
        Side::Localities if g.rng.chance(0.6) && !g.communes[group].is_empty() => {
            let c = &g.communes[group];
            c[g.rng.range(0, c.len() as i64) as usize]
        }
        _ => g.groups[s][group],
    };
    (unit, side, group)
}

fn office_time(g: &mut Generator, day_start: i64, working: bool) -> i64 {
    let open = day_start + 7 * 3600;
    if working {
        g.calendar
            .add_working_minutes(to_local(open), g.rng.range(0, 480))
            .timestamp()
    } else {
        open + 2 * 3600 + g.rng.range(0, 6 * 3600)
    }
}

fn base(g: &mut Generator, unit: u32, at: i64, what: What) -> Compact {
    let id = g.new_dossier();
    Compact {
        at,
        due: 0,
        dossier: id,
        unit,
        procedure: 0,
        what,
        flags: 0,
        amount: 0,
        small: 0,
    }
}

fn document(g: &mut Generator, day_start: i64, working: bool) {
    let (unit, side, group) = pick_unit(g);
    let at = office_time(g, day_start, working);
    let mut e = base(g, unit, at, What::Document);
    if g.rng.chance(0.5) {
        e.flags |= flag::RECEIVED;
    }
    let electronic = g.rates.p(Rate::Electronic, side, group, 0);
    if g.rng.chance(electronic) {
        e.flags |= flag::ELECTRONIC;
        // Only an electronic document can carry a digital signature.
        if g.rng
            .chance((g.rates.p(Rate::Signed, side, group, 0) / electronic).min(1.0))
        {
            e.flags |= flag::SIGNED;
        }
    }
    g.push(e);
}

fn report(g: &mut Generator, date: NaiveDate, day_start: i64) {
    let (unit, side, group) = pick_unit(g);
    // Weekly reports are due on Friday at 17:00 of the current week.
    let to_friday = (Weekday::Fri.num_days_from_monday() as i64
        - date.weekday().num_days_from_monday() as i64)
        .rem_euclid(7);
    let due = day_start + to_friday * 86_400 + 17 * 3600;
    let at = if g.rng.chance(0.9) {
        (due - g.rng.exp(1.5 * 86_400.0) as i64).max(day_start + 7 * 3600)
    } else {
        due + 3600 + g.rng.exp(86_400.0) as i64
    };
    let mut e = base(g, unit, at, What::Report);
    e.due = due;
    e.flags |= flag::HAS_DUE;
    if g.rng.chance(g.rates.p(Rate::ReportOnline, side, group, 0)) {
        e.flags |= flag::ONLINE;
    }
    g.push(e);
}

fn meeting(g: &mut Generator, day_start: i64) {
    let (unit, side, group) = pick_unit(g);
    let at = office_time(g, day_start, true);
    let mut e = base(g, unit, at, What::Meeting);
    if g.rng.chance(g.rates.p(Rate::Video, side, group, 0)) {
        e.flags |= if g.rng.chance(0.8) {
            flag::VIDEO
        } else {
            flag::HYBRID
        };
    }
    e.small = (30.0 + g.rng.exp(60.0)).min(480.0) as u16;
    g.push(e);
}
