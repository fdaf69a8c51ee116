//! The seeded national event generator behind `govpulse generate` and
//! `govpulse demo`.
//!
//! ```text
//!  per day ─► dossier lifecycles (dossier.rs)  ─┐
//!          └► documents, reports, meetings     ─┤─► arrival heap ─► Record sink
//!             (office.rs)                       │   (arrival = event time
//!  scenario (scenario.rs): slowdowns, a silent ─┘    + delay; a few % late)
//!  feed, dirty records
//! ```
//!
//! Volumes at scale 1.0 follow the country (about 90 million dossiers a year,
//! 52.0 M at ministries and 38.9 M at localities; about 12 million documents)
//! with weekday and office-hour rhythm and the holiday table. Rates are
//! calibrated to the published 2024 baselines ([`calibration`]) and vary by
//! province, ministry and procedure so rankings are not flat. The same
//! configuration and seed give the same records in the same order.
//!
//! Lifecycles are generated whole when a dossier is submitted and kept as
//! compact 48-byte entries in a heap ordered by arrival time; they become
//! [`model::Event`]s only when emitted, so memory follows the dossiers in
//! flight, not the run length.

pub mod calibration;
mod dossier;
mod office;
pub mod scenario;

use crate::catalogue::{Catalogue, Level};
use crate::rng::{Rng, Weighted};
use crate::units::UnitRegistry;
use crate::{ReferenceError, calendar};
use calibration::{Calibrated, Side};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone};
use model::calendar::{WorkCalendar, vn_offset};
use model::{
    Channel, DocDirection, DossierStatus, Event, EventKind, MeetingMode, UnitCode, UnitLevel,
};
use scenario::{Injected, ScenarioState};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

pub use scenario::Scenario;

/// Dossiers a year at scale 1.0 (2024: 52.0 M ministries, 38.9 M localities).
pub const DOSSIERS_PER_YEAR: [f64; 2] = [52_033_997.0, 38_881_238.0];
/// Electronic documents sent and received a year on the national axis (2024).
pub const DOCUMENTS_PER_YEAR: f64 = 12_200_000.0;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    pub from: NaiveDate,
    pub days: u32,
    pub scale: f64,
    pub seed: u64,
    pub scenario: Scenario,
    /// Share of records that get a malformed twin in the `dirty` scenario.
    pub dirty_share: f64,
}

impl GenConfig {
    pub fn new(from: NaiveDate, days: u32, scale: f64, seed: u64) -> Self {
        Self {
            from,
            days,
            scale,
            seed,
            scenario: Scenario::Baseline,
            dirty_share: 0.02,
        }
    }
}

/// One generated record, in arrival order.
// Events are nearly every record; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A valid event.
    Event(Event),
    /// A malformed record (the `dirty` scenario): a JSON value that breaks
    /// the contract, or text that is not JSON at all.
    Raw(RawRecord),
}

#[derive(Debug, Clone, PartialEq)]
pub enum RawRecord {
    Json(serde_json::Value),
    Text(String),
}

impl Record {
    /// Write the record as one NDJSON line.
    pub fn write_ndjson(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        match self {
            Record::Event(e) => serde_json::to_writer(&mut *out, e)?,
            Record::Raw(RawRecord::Json(v)) => serde_json::to_writer(&mut *out, v)?,
            Record::Raw(RawRecord::Text(t)) => out.write_all(t.as_bytes())?,
        }
        out.write_all(b"\n")
    }
}

/// Counts of one run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub records: u64,
    pub events: u64,
    pub dossiers: u64,
    pub dirty: std::collections::BTreeMap<&'static str, u64>,
    pub injected: Vec<Injected>,
}

/// A unit as the generator uses it: an index into [`Generator::units`].
#[derive(Debug, Clone)]
pub(crate) struct GenUnit {
    pub code: UnitCode,
    /// Index of the group whose rates apply (province or ministry) in its side.
    pub group: usize,
    pub side: Side,
}

/// Compact lifecycle entry: becomes an [`Event`] when emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compact {
    /// Event time, Unix seconds.
    pub at: i64,
    /// Due time, Unix seconds, or 0.
    pub due: i64,
    pub dossier: u64,
    pub unit: u32,
    pub procedure: u16,
    pub what: What,
    pub flags: u16,
    pub amount: u32,
    pub small: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum What {
    Dossier(DossierStatus),
    Document,
    Report,
    Meeting,
}

pub(crate) mod flag {
    pub const ONLINE_CHANNEL: u16 = 1;
    pub const POSTAL_CHANNEL: u16 = 1 << 1;
    pub const REUSED: u16 = 1 << 2;
    pub const CITIZEN_STORE: u16 = 1 << 3;
    pub const DIGITIZED: u16 = 1 << 4;
    pub const E_RESULT: u16 = 1 << 5;
    pub const ONLINE: u16 = 1 << 6;
    pub const ELECTRONIC: u16 = 1 << 7;
    pub const SIGNED: u16 = 1 << 8;
    pub const RECEIVED: u16 = 1 << 9;
    pub const VIDEO: u16 = 1 << 10;
    pub const HYBRID: u16 = 1 << 11;
    pub const HAS_DUE: u16 = 1 << 12;
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    arrival: i64,
    seq: u64,
    ev: CompactOrd,
}

/// `Compact` ordered only by position in the heap key (arrival, seq).
#[derive(Debug)]
struct CompactOrd(Compact);
impl PartialEq for CompactOrd {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for CompactOrd {}
impl PartialOrd for CompactOrd {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for CompactOrd {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// The generator: reference data, calibrated rates, and the arrival heap.
pub struct Generator {
    pub(crate) cfg: GenConfig,
    pub(crate) calendar: WorkCalendar,
    pub(crate) catalogue: Catalogue,
    pub(crate) units: Vec<GenUnit>,
    /// Per side: group unit indices (provinces; ministries).
    pub(crate) groups: [Vec<u32>; 2],
    pub(crate) group_weights: [Weighted; 2],
    /// Communes of each province (indices into `units`), by province group.
    pub(crate) communes: Vec<Vec<u32>>,
    /// Procedure indices by level, and their popularity.
    pub(crate) procedures: [(Vec<u16>, Weighted); 3],
    pub(crate) rates: Calibrated,
    pub(crate) scenario: ScenarioState,
    pub(crate) rng: Rng,
    heap: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    next_dossier: u64,
    emitted: u64,
    period_end: i64,
    id_prefix: String,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// Unix seconds of local midnight at the start of `d`.
pub(crate) fn local_midnight(d: NaiveDate) -> i64 {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    vn_offset()
        .from_local_datetime(&naive)
        .single()
        .map_or(0, |t| t.timestamp())
}

pub(crate) fn to_local(secs: i64) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .with_timezone(&vn_offset())
}

impl Generator {
    pub fn new(cfg: GenConfig) -> Result<Self, ReferenceError> {
        let registry = UnitRegistry::embedded()?;
        let catalogue = Catalogue::embedded()?;
        let calendar = calendar()?;
        let mut units = Vec::new();
        let mut groups: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        let mut communes = Vec::new();
        let provinces = registry.level(UnitLevel::Province);
        for (g, p) in provinces.iter().enumerate() {
            groups[Side::Localities as usize].push(units.len() as u32);
            units.push(GenUnit {
                code: p.code.clone(),
                group: g,
                side: Side::Localities,
            });
            communes.push(Vec::new());
        }
        for c in registry.level(UnitLevel::Commune) {
            let Some(g) = c
                .parent
                .as_ref()
                .and_then(|p| provinces.iter().position(|q| &q.code == p))
            else {
                continue;
            };
            communes[g].push(units.len() as u32);
            units.push(GenUnit {
                code: c.code.clone(),
                group: g,
                side: Side::Localities,
            });
        }
        for (g, m) in registry.level(UnitLevel::Ministry).iter().enumerate() {
            groups[Side::Ministries as usize].push(units.len() as u32);
            units.push(GenUnit {
                code: m.code.clone(),
                group: g,
                side: Side::Ministries,
            });
        }
        let province_w: Vec<f64> = provinces
            .iter()
            .enumerate()
            .map(|(g, p)| communes[g].len() as f64 * calibration::province_size(p.code.as_str()))
            .collect();
        let ministry_w: Vec<f64> = groups[Side::Ministries as usize]
            .iter()
            .map(|&u| calibration::ministry_size(units[u as usize].code.as_str()))
            .collect();

        let mut rng = Rng::fork(cfg.seed, 1);
        let proc_lists = [Level::Commune, Level::Province, Level::Ministry].map(|level| {
            let idx: Vec<u16> = catalogue
                .procedures
                .iter()
                .enumerate()
                .filter(|(_, p)| p.level == level)
                .map(|(i, _)| i as u16)
                .collect();
            // Zipf-like popularity over a seeded ranking: a few procedures
            // (birth registration, residence, land) carry most dossiers.
            let mut ranks: Vec<usize> = (0..idx.len()).collect();
            for i in (1..ranks.len()).rev() {
                let j = rng.range(0, i as i64 + 1) as usize;
                ranks.swap(i, j);
            }
            let w: Vec<f64> = ranks
                .iter()
                .map(|&r| 1.0 / (r as f64 + 1.0).powf(1.07))
                .collect();
            (idx, w)
        });
        let rates = Calibrated::new(&cfg, &province_w, &ministry_w, &catalogue, &proc_lists);
        let procedures = proc_lists.map(|(idx, w)| (idx, Weighted::new(w)));
        let scenario = ScenarioState::new(&cfg, &units, &groups, &communes);
        let start = local_midnight(cfg.from);
        let period_end = start + i64::from(cfg.days) * 86_400;
        Ok(Self {
            id_prefix: format!("g{:x}-", cfg.seed),
            cfg,
            calendar,
            catalogue,
            units,
            groups,
            group_weights: [Weighted::new(ministry_w), Weighted::new(province_w)],
            communes,
            procedures,
            rates,
            scenario,
            rng: Rng::fork(0, 0),
            heap: BinaryHeap::new(),
            seq: 0,
            next_dossier: 0,
            emitted: 0,
            period_end,
        })
    }

    /// The problems this run injects (for `scenario.json`).
    pub fn injected(&self) -> Vec<Injected> {
        self.scenario.injected.clone()
    }

    pub(crate) fn new_dossier(&mut self) -> u64 {
        self.next_dossier += 1;
        self.next_dossier
    }

    /// Queue one lifecycle entry; entries past the period end have not
    /// happened yet and are dropped here.
    pub(crate) fn push(&mut self, ev: Compact) {
        if ev.at >= self.period_end {
            return;
        }
        let arrival = self.scenario.arrival(&mut self.rng, &ev, &self.units);
        self.seq += 1;
        self.heap.push(Reverse(Queued {
            arrival,
            seq: self.seq,
            ev: CompactOrd(ev),
        }));
    }

    /// Generate everything into memory, in arrival order (tests, demo).
    pub fn collect(self) -> Vec<Record> {
        let mut out = Vec::new();
        let _ = self.run(
            |r| {
                out.push(r);
                Ok::<_, std::convert::Infallible>(())
            },
            |_| {},
        );
        out
    }

    /// Generate everything, handing records to `sink` in arrival order.
    /// `progress` is called after each simulated day with the day count.
    pub fn run<E>(
        mut self,
        mut sink: impl FnMut(Record) -> Result<(), E>,
        mut progress: impl FnMut(u32),
    ) -> Result<Summary, E> {
        let mut summary = Summary {
            injected: self.injected(),
            ..Summary::default()
        };
        for day in 0..self.cfg.days {
            let date = self.cfg.from + chrono::Duration::days(i64::from(day));
            // One random stream per day keeps days independent of each other.
            self.rng = Rng::fork(self.cfg.seed, 1000 + u64::from(day));
            summary.dossiers += dossier::generate_day(&mut self, date);
            office::generate_day(&mut self, date);
            let day_end = local_midnight(date) + 86_400;
            self.drain(Some(day_end), &mut sink, &mut summary)?;
            progress(day + 1);
        }
        self.drain(None, &mut sink, &mut summary)?;
        Ok(summary)
    }

    fn drain<E>(
        &mut self,
        until: Option<i64>,
        sink: &mut impl FnMut(Record) -> Result<(), E>,
        summary: &mut Summary,
    ) -> Result<(), E> {
        while let Some(Reverse(top)) = self.heap.peek() {
            if until.is_some_and(|u| top.arrival >= u) {
                break;
            }
            let Some(Reverse(q)) = self.heap.pop() else {
                break;
            };
            let event = self.materialize(&q.ev.0);
            let dirty = self.scenario.dirty_twin(&mut self.rng, &event);
            summary.events += 1;
            summary.records += 1;
            sink(Record::Event(event))?;
            if let Some((kind, raw)) = dirty {
                *summary.dirty.entry(kind).or_default() += 1;
                summary.records += 1;
                sink(Record::Raw(raw))?;
            }
        }
        Ok(())
    }

    fn materialize(&mut self, c: &Compact) -> Event {
        use flag::*;
        self.emitted += 1;
        let unit = &self.units[c.unit as usize];
        let kind = match c.what {
            What::Dossier(_) => EventKind::Dossier,
            What::Document => EventKind::Document,
            What::Report => EventKind::Report,
            What::Meeting => EventKind::Meeting,
        };
        let mut e = Event::new(
            format!("{}{}", self.id_prefix, self.emitted),
            kind,
            to_local(c.at),
            unit.code.clone(),
        );
        let has = |f: u16| c.flags & f != 0;
        let due = (has(HAS_DUE)).then(|| to_local(c.due));
        match c.what {
            What::Dossier(status) => {
                e.dossier_id = Some(format!("{}-{:09}", unit.code, c.dossier).into());
                e.status = Some(status);
                e.procedure_code = Some(
                    self.catalogue.procedures[c.procedure as usize]
                        .code
                        .as_str()
                        .into(),
                );
                match status {
                    DossierStatus::Accepted => {
                        e.channel = Some(if has(ONLINE_CHANNEL) {
                            Channel::Online
                        } else if has(POSTAL_CHANNEL) {
                            Channel::Postal
                        } else {
                            Channel::Counter
                        });
                        e.due_at = due;
                        e.reused_data = Some(has(REUSED));
                        e.from_citizen_store = Some(has(CITIZEN_STORE));
                    }
                    DossierStatus::SupplementReceived => e.due_at = due,
                    DossierStatus::Resolved => {
                        e.digitized = Some(has(DIGITIZED));
                        e.e_result = Some(has(E_RESULT));
                    }
                    DossierStatus::Paid => {
                        e.amount = Some(i64::from(c.amount));
                        e.online = Some(has(ONLINE));
                    }
                    DossierStatus::Rated => e.rating = Some(c.small as u8),
                    _ => {}
                }
            }
            What::Document => {
                e.doc_id = Some(format!("VB-{}-{:09}", unit.code, c.dossier).into());
                e.direction = Some(if has(RECEIVED) {
                    DocDirection::Received
                } else {
                    DocDirection::Issued
                });
                e.electronic = Some(has(ELECTRONIC));
                e.signed = Some(has(SIGNED));
            }
            What::Report => {
                e.report_id = Some(format!("BC-{}-{:09}", unit.code, c.dossier).into());
                e.due_at = due;
                e.online = Some(has(ONLINE));
            }
            What::Meeting => {
                e.meeting_id = Some(format!("CH-{}-{:09}", unit.code, c.dossier).into());
                e.mode = Some(if has(VIDEO) {
                    MeetingMode::Video
                } else if has(HYBRID) {
                    MeetingMode::Hybrid
                } else {
                    MeetingMode::InPerson
                });
                e.minutes = Some(u32::from(c.small));
            }
        }
        e
    }

    /// Relative volume of a calendar day: working days carry the load;
    /// weekends and holidays see online submissions only.
    pub(crate) fn day_weight(&self, d: NaiveDate) -> f64 {
        if self.calendar.is_working_day(d) {
            1.0
        } else if self.calendar.is_holiday(d) {
            0.08
        } else {
            0.12
        }
    }

    /// Sum of day weights over the calendar year of `d`.
    pub(crate) fn year_weight(&self, d: NaiveDate) -> f64 {
        let mut day = NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap_or(d);
        let mut total = 0.0;
        while day.year() == d.year() {
            total += self.day_weight(day);
            match day.succ_opt() {
                Some(n) => day = n,
                None => break,
            }
        }
        total
    }
}

#[cfg(test)]
mod tests;
