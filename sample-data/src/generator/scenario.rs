//! Scenarios: `baseline`; `lagging` (named provinces and communes slow down
//! over the period, one feed goes silent for hours and then catches up);
//! `dirty` (a share of records gets a malformed twin of every kind). Also
//! the arrival model every scenario shares: most events arrive when they
//! happen, a few percent out of order, some hours late.

use super::calibration::Side;
use super::{Compact, GenConfig, GenUnit, RawRecord, local_midnight, to_local};
use crate::rng::Rng;
use model::Event;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Baseline,
    Lagging,
    Dirty,
}

impl std::str::FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "baseline" => Ok(Self::Baseline),
            "lagging" => Ok(Self::Lagging),
            "dirty" => Ok(Self::Dirty),
            _ => Err(format!(
                "unknown scenario {s:?}: use baseline, lagging or dirty"
            )),
        }
    }
}

/// One problem a scenario injects, as written to `scenario.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Injected {
    pub unit: String,
    /// `slowdown` or `feed_silence`.
    pub kind: String,
    pub start: String,
    pub end: String,
    pub detail: String,
}

/// The malformed-record kinds of the `dirty` scenario.
pub const DIRTY_KINDS: [&str; 8] = [
    "bad_unit",
    "bad_procedure",
    "missing_field",
    "impossible_time",
    "bad_enum",
    "bad_type",
    "duplicate",
    "not_json",
];

/// Share of events that arrive out of order (seconds to minutes late).
const SHARE_REORDERED: f64 = 0.03;
/// Share of events that arrive hours late.
const SHARE_HOURS_LATE: f64 = 0.003;
/// How much slower a lagging unit is at the end of the period.
const MAX_SLOWDOWN: f64 = 3.0;

#[derive(Debug, Clone, Default)]
pub(crate) struct ScenarioState {
    pub injected: Vec<Injected>,
    /// Province groups (localities side) that slow down.
    slow_provinces: Vec<usize>,
    /// Commune unit indices that slow down.
    slow_communes: Vec<u32>,
    slow_start: i64,
    slow_end: i64,
    /// Province group whose feed goes silent, and when.
    silent: Option<(usize, i64, i64)>,
    dirty_share: f64,
    dirty_seq: u64,
}

impl ScenarioState {
    pub fn new(
        cfg: &GenConfig,
        units: &[GenUnit],
        groups: &[Vec<u32>; 2],
        communes: &[Vec<u32>],
    ) -> Self {
        let mut s = Self::default();
        let start = local_midnight(cfg.from);
        let end = start + i64::from(cfg.days) * 86_400;
        match cfg.scenario {
            Scenario::Baseline => {}
            Scenario::Dirty => s.dirty_share = cfg.dirty_share,
            Scenario::Lagging => {
                let mut rng = Rng::fork(cfg.seed, 3);
                let provinces = &groups[Side::Localities as usize];
                // The two largest cities stay healthy so the national picture
                // is not dominated by the injected problem.
                let mut candidates: Vec<usize> = (0..provinces.len())
                    .filter(|&g| !matches!(units[provinces[g] as usize].code.as_str(), "01" | "79"))
                    .collect();
                let mut take = |rng: &mut Rng| {
                    candidates.remove(rng.range(0, candidates.len() as i64) as usize)
                };
                s.slow_provinces = vec![take(&mut rng), take(&mut rng)];
                let others: Vec<usize> = (0..3).map(|_| take(&mut rng)).collect();
                let silent_group = take(&mut rng);
                s.slow_communes = others
                    .iter()
                    .filter_map(|&g| {
                        communes[g]
                            .get(rng.range(0, communes[g].len() as i64) as usize)
                            .copied()
                    })
                    .collect();
                s.slow_start = start + (end - start) / 3;
                s.slow_end = end;
                let stamp = |t: i64| to_local(t).to_rfc3339();
                for &g in &s.slow_provinces {
                    s.injected.push(Injected {
                        unit: units[provinces[g] as usize].code.to_string(),
                        kind: "slowdown".into(),
                        start: stamp(s.slow_start),
                        end: stamp(s.slow_end),
                        detail: format!("processing slows to {MAX_SLOWDOWN}x by the end: backlog builds, on-time rate falls"),
                    });
                }
                for &c in &s.slow_communes {
                    s.injected.push(Injected {
                        unit: units[c as usize].code.to_string(),
                        kind: "slowdown".into(),
                        start: stamp(s.slow_start),
                        end: stamp(s.slow_end),
                        detail: format!("commune processing slows to {MAX_SLOWDOWN}x by the end"),
                    });
                }
                let hour = 3600;
                let silent_start = (start + (end - start) / 2) / hour * hour;
                let silent_end = silent_start + (6 * hour).min((end - start) / 4);
                s.silent = Some((silent_group, silent_start, silent_end));
                s.injected.push(Injected {
                    unit: units[provinces[silent_group] as usize].code.to_string(),
                    kind: "feed_silence".into(),
                    start: stamp(silent_start),
                    end: stamp(silent_end),
                    detail: "no events arrive from this province's units; they arrive late when the feed resumes".into(),
                });
            }
        }
        s
    }

    /// How much slower `unit` works at `at` (1.0 = normal).
    pub fn slowdown(&self, unit: u32, units: &[GenUnit], at: i64) -> f64 {
        if self.slow_end <= self.slow_start || at < self.slow_start {
            return 1.0;
        }
        let u = &units[unit as usize];
        let hit = self.slow_communes.contains(&unit)
            || (u.side == Side::Localities && self.slow_provinces.contains(&u.group));
        if !hit {
            return 1.0;
        }
        let progress = ((at - self.slow_start) as f64 / (self.slow_end - self.slow_start) as f64)
            .clamp(0.0, 1.0);
        1.0 + (MAX_SLOWDOWN - 1.0) * progress
    }

    /// When an event reaches the collector.
    pub fn arrival(&self, rng: &mut Rng, ev: &Compact, units: &[GenUnit]) -> i64 {
        let x = rng.f64();
        let mut arrival = if x < SHARE_HOURS_LATE {
            ev.at + rng.range(3600, 6 * 3600)
        } else if x < SHARE_HOURS_LATE + SHARE_REORDERED {
            ev.at + rng.range(1, 600)
        } else {
            ev.at
        };
        if let Some((group, start, end)) = self.silent {
            let u = &units[ev.unit as usize];
            if u.side == Side::Localities && u.group == group && (start..end).contains(&ev.at) {
                arrival = arrival.max(end + rng.range(0, 600));
            }
        }
        arrival
    }

    /// In the `dirty` scenario, maybe a malformed twin of `event`.
    pub fn dirty_twin(
        &mut self,
        rng: &mut Rng,
        event: &Event,
    ) -> Option<(&'static str, RawRecord)> {
        if self.dirty_share <= 0.0 || !rng.chance(self.dirty_share) {
            return None;
        }
        let kind = DIRTY_KINDS[rng.range(0, DIRTY_KINDS.len() as i64) as usize];
        let mut v = serde_json::to_value(event).ok()?;
        let obj = v.as_object_mut()?;
        if kind == "duplicate" {
            return Some((kind, RawRecord::Json(v)));
        }
        self.dirty_seq += 1;
        obj.insert(
            "event_id".into(),
            format!("{}-dirty{}", event.event_id, self.dirty_seq).into(),
        );
        let dossier = obj.contains_key("dossier_id");
        match kind {
            "bad_unit" => {
                let bad = if rng.chance(0.5) { "99999" } else { "7A" };
                obj.insert("unit".into(), bad.into());
            }
            "bad_procedure" if dossier => {
                obj.insert("procedure_code".into(), "1757".into());
            }
            "bad_procedure" => {
                obj.insert("unit".into(), "00000".into());
            }
            "missing_field" => {
                let fields: &[&str] = if dossier {
                    &["status", "dossier_id", "occurred_at"]
                } else {
                    &["unit", "kind", "occurred_at"]
                };
                obj.remove(fields[rng.range(0, fields.len() as i64) as usize]);
            }
            "impossible_time" => {
                let bad = match rng.range(0, 3) {
                    0 => "2025-02-30T08:00:00+07:00".to_owned(),
                    1 => "1900-01-01T00:00:00+07:00".to_owned(),
                    _ => "yesterday".to_owned(),
                };
                obj.insert("occurred_at".into(), bad.into());
            }
            "bad_enum" => {
                let (field, bad) = match event.kind {
                    model::EventKind::Dossier => ("status", "done"),
                    model::EventKind::Document => ("direction", "sideways"),
                    model::EventKind::Report => ("kind", "memo"),
                    model::EventKind::Meeting => ("mode", "radio"),
                };
                obj.insert(field.into(), bad.into());
            }
            "bad_type" => {
                let field = match event.kind {
                    model::EventKind::Dossier => "rating",
                    model::EventKind::Document => "electronic",
                    model::EventKind::Report => "online",
                    model::EventKind::Meeting => "minutes",
                };
                obj.insert(field.into(), "yes".into());
            }
            _ => {
                let text = v.to_string();
                let mut cut = text.len() / 2;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                return Some((kind, RawRecord::Text(text[..cut].to_owned())));
            }
        }
        Some((kind, RawRecord::Json(v)))
    }
}
