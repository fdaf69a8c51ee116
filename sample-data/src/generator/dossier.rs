//! Dossier lifecycles: submitted → accepted → processing → (supplement
//! requested/received) → (payment requested/paid) → resolved early, on time
//! or late → returned → rated; some refused, withdrawn or stopped. Due
//! dates follow the working-time rule; supplement time pauses the clock and
//! moves the due date.

use super::calibration::{LOCALITY_COMMUNE_SHARE, Rate, Side};
use super::{Compact, DOSSIERS_PER_YEAR, Generator, What, flag, local_midnight, to_local};
use crate::rng::Weighted;
use chrono::NaiveDate;
use model::DossierStatus as S;

/// Relative online submissions per hour of the day (local time).
const ONLINE_HOURS: [f64; 24] = [
    0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 3.0, 3.0, 2.5, 1.5, 2.0, 2.5, 2.5, 2.0, 1.5, 1.2,
    1.2, 1.0, 0.8, 0.5, 0.3,
];

const SHARE_REFUSED: f64 = 0.025;
const SHARE_WITHDRAWN: f64 = 0.01;
const SHARE_STOPPED: f64 = 0.005;
const SHARE_SUPPLEMENT: f64 = 0.07;
const SHARE_POSTAL: f64 = 0.03;
const SHARE_RATED: f64 = 0.25;

/// Generate the dossiers submitted on `date`; returns how many.
pub(super) fn generate_day(g: &mut Generator, date: NaiveDate) -> u64 {
    let day_start = local_midnight(date);
    let share_of_year = g.day_weight(date) / g.year_weight(date);
    let hours = Weighted::new(ONLINE_HOURS);
    let mut n_total = 0;
    for side in [Side::Ministries, Side::Localities] {
        let n = g
            .rng
            .poisson(DOSSIERS_PER_YEAR[side as usize] * g.cfg.scale * share_of_year);
        for _ in 0..n {
            let hour = hours.pick(&mut g.rng) as i64;
            let at = day_start + hour * 3600 + g.rng.range(0, 3600);
            one(g, side, at);
        }
        n_total += n;
    }
    n_total
}

struct Dossier {
    unit: u32,
    procedure: u16,
    id: u64,
}

impl Dossier {
    fn event(&self, at: i64, status: S) -> Compact {
        Compact {
            at,
            due: 0,
            dossier: self.id,
            unit: self.unit,
            procedure: self.procedure,
            what: What::Dossier(status),
            flags: 0,
            amount: 0,
            small: 0,
        }
    }
}

fn one(g: &mut Generator, side: Side, submitted: i64) {
    let s = side as usize;
    let group = g.group_weights[s].pick(&mut g.rng);
    let (unit, level) = match side {
        Side::Ministries => (g.groups[s][group], 2),
        Side::Localities => {
            let communes = &g.communes[group];
            if !communes.is_empty() && g.rng.chance(LOCALITY_COMMUNE_SHARE) {
                (communes[g.rng.range(0, communes.len() as i64) as usize], 0)
            } else {
                (g.groups[s][group], 1)
            }
        }
    };
    let (idx, weights) = &g.procedures[level];
    let procedure = idx[weights.pick(&mut g.rng)];
    let proc_i = procedure as usize;
    let handling_days = i64::from(g.catalogue.procedures[proc_i].handling_days);
    let fee = g.catalogue.procedures[proc_i].fee;
    let p = |g: &Generator, rate| g.rates.p(rate, side, group, proc_i);
    let d = Dossier {
        unit,
        procedure,
        id: g.new_dossier(),
    };
    let cal = g.calendar.clone();
    let add = |t: i64, minutes: f64| {
        cal.add_working_minutes(to_local(t), minutes.max(0.0) as i64)
            .timestamp()
    };

    let online = g.rng.chance(p(g, Rate::Online));
    let postal = !online && g.rng.chance(SHARE_POSTAL);
    // Counters and post rooms only work in working hours.
    let submitted = if online {
        submitted
    } else {
        add(submitted, g.rng.uniform(0.0, 20.0))
    };
    let slow = g.scenario.slowdown(unit, &g.units, submitted);
    g.push(d.event(submitted, S::Submitted));

    if g.rng.chance(SHARE_REFUSED) {
        let at = add(submitted, g.rng.exp(60.0 * slow));
        g.push(d.event(at, S::Refused));
        return;
    }
    let accepted = if online {
        add(submitted, g.rng.exp(240.0 * slow)).max(submitted + 60)
    } else {
        submitted + g.rng.range(120, 900)
    };
    // Same-day procedures get half a working day.
    let allowed = if handling_days == 0 {
        240
    } else {
        handling_days * model::calendar::DAY_MINUTES
    };
    let due = add(accepted, allowed as f64);
    let mut acc = d.event(accepted, S::Accepted);
    acc.due = due;
    acc.flags |= flag::HAS_DUE;
    if online {
        acc.flags |= flag::ONLINE_CHANNEL;
    } else if postal {
        acc.flags |= flag::POSTAL_CHANNEL;
    }
    if g.rng.chance(p(g, Rate::Reuse)) {
        acc.flags |= flag::REUSED;
    }
    if g.rng.chance(p(g, Rate::CitizenStore)) {
        acc.flags |= flag::CITIZEN_STORE;
    }
    g.push(acc);
    let processing = add(accepted, g.rng.uniform(5.0, 90.0));
    g.push(d.event(processing, S::Processing));
    let mut last = processing;

    if g.rng.chance(SHARE_WITHDRAWN) {
        let at = add(processing, g.rng.uniform(30.0, allowed as f64));
        g.push(d.event(at, S::Withdrawn));
        return;
    }

    let mut paused = 0i64;
    if g.rng.chance(SHARE_SUPPLEMENT) {
        let requested = add(processing, allowed as f64 * g.rng.uniform(0.1, 0.5));
        // The citizen answers on their own time, any hour of any day.
        let received = requested + 600 + g.rng.exp(2.0 * 86_400.0) as i64;
        paused = cal.working_minutes_between(to_local(requested), to_local(received));
        g.push(d.event(requested, S::SupplementRequested));
        let mut rec = d.event(received, S::SupplementReceived);
        rec.due = add(due, paused as f64);
        rec.flags |= flag::HAS_DUE;
        g.push(rec);
        last = last.max(received);
    }

    if fee {
        let requested = add(processing, g.rng.uniform(10.0, 240.0));
        let paid_at = requested + 300 + g.rng.exp(0.5 * 86_400.0) as i64;
        g.push(d.event(requested, S::PaymentRequested));
        let mut paid = d.event(paid_at, S::Paid);
        paid.amount = 1000 * g.rng.range(20, 2000) as u32;
        if g.rng.chance(p(g, Rate::PaymentOnline)) {
            paid.flags |= flag::ONLINE;
        }
        g.push(paid);
        last = last.max(paid_at);
    }

    // Share of the allowed working time used: mostly early, some close to
    // the due date, a province-dependent share late; slowed units stretch it.
    let late = g.rng.chance(p(g, Rate::Late));
    let ratio = if late {
        1.0 + g.rng.exp(0.3)
    } else if g.rng.chance(0.2) {
        g.rng.uniform(0.85, 1.0)
    } else {
        g.rng.uniform(0.15, 0.85)
    } * slow;
    let finished = add(accepted, allowed as f64 * ratio + paused as f64).max(last + 60);
    if g.rng.chance(SHARE_STOPPED) {
        g.push(d.event(finished, S::Stopped));
        return;
    }
    let mut resolved = d.event(finished, S::Resolved);
    if g.rng.chance(p(g, Rate::Digitized)) {
        resolved.flags |= flag::DIGITIZED;
    }
    if g.rng.chance(p(g, Rate::EResult)) {
        resolved.flags |= flag::E_RESULT;
    }
    g.push(resolved);
    let returned = add(finished, g.rng.uniform(0.0, 480.0)).max(finished + 60);
    g.push(d.event(returned, S::Returned));
    if g.rng.chance(SHARE_RATED) {
        let mut rated = d.event(returned + 600 + g.rng.exp(86_400.0) as i64, S::Rated);
        let on_time = finished <= add(due, paused as f64);
        let x = g.rng.f64();
        rated.small = match (on_time, x) {
            (true, x) if x < 0.55 => 5,
            (true, x) if x < 0.85 => 4,
            (true, x) if x < 0.95 => 3,
            (true, x) if x < 0.98 => 2,
            (true, _) => 1,
            (false, x) if x < 0.2 => 5,
            (false, x) if x < 0.45 => 4,
            (false, x) if x < 0.7 => 3,
            (false, x) if x < 0.85 => 2,
            (false, _) => 1,
        };
        g.push(rated);
    }
}
