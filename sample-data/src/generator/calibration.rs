//! Rates and their calibration to the published 2024 baselines
//! (`reference/kpi-targets.md`, Ministry of Home Affairs report 8465/BC-BNV).
//!
//! Each rate is `base + shift + group offset + procedure offset`, clamped to
//! a probability. Group (province or ministry) and procedure offsets are
//! drawn from the seed so rankings differ between units; `shift` is then
//! found by bisection so the volume-weighted mean over the generator's own
//! mix of groups and procedures equals the baseline. The generated rates
//! therefore land on the baseline in expectation, whatever the seed.

use super::GenConfig;
use crate::catalogue::Catalogue;
use crate::rng::Rng;

/// Which half of the national figures a dossier belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Ministries = 0,
    Localities = 1,
}

/// Every probability the generator draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Accepted with channel online / accepted [3.3].
    Online,
    /// Paid online / paid [3.6].
    PaymentOnline,
    /// Resolved with digitized / resolved [4.2].
    Digitized,
    /// Resolved with e_result / resolved [4.1].
    EResult,
    /// Accepted with reused_data / accepted [4.3].
    Reuse,
    /// Resolved after the due date (illustrative; no published baseline).
    Late,
    /// Documents exchanged electronically (illustrative).
    Electronic,
    /// Documents digitally signed (illustrative).
    Signed,
    /// Meetings by video or hybrid (illustrative).
    Video,
    /// Reports submitted online (illustrative).
    ReportOnline,
    /// Accepted with documents from the citizen's data store (illustrative).
    CitizenStore,
}

pub const RATES: [Rate; 11] = [
    Rate::Online,
    Rate::PaymentOnline,
    Rate::Digitized,
    Rate::EResult,
    Rate::Reuse,
    Rate::Late,
    Rate::Electronic,
    Rate::Signed,
    Rate::Video,
    Rate::ReportOnline,
    Rate::CitizenStore,
];

/// Share of locality dossiers handled at commune level (the rest at province level).
pub const LOCALITY_COMMUNE_SHARE: f64 = 0.65;

impl Rate {
    /// The target mean for [ministries, localities].
    pub fn baseline(self) -> [f64; 2] {
        match self {
            Rate::Online => [0.5957, 0.5600],
            Rate::PaymentOnline => [0.5726, 0.5027],
            Rate::Digitized => [0.6140, 0.6746],
            Rate::EResult => [0.6308, 0.6308],
            Rate::Reuse => [0.0135, 0.2150],
            Rate::Late => [0.04, 0.06],
            Rate::Electronic => [0.93, 0.90],
            Rate::Signed => [0.88, 0.85],
            Rate::Video => [0.55, 0.45],
            Rate::ReportOnline => [0.92, 0.85],
            Rate::CitizenStore => [0.05, 0.08],
        }
    }

    /// Whether the procedure changes the rate (full-online procedures are
    /// used online more).
    fn by_procedure(self) -> bool {
        matches!(self, Rate::Online | Rate::Reuse)
    }
}

/// Relative dossier volume of a province per commune (the two special
/// cities and the larger centrally run cities carry more per commune).
pub fn province_size(code: &str) -> f64 {
    match code {
        "79" => 3.0,
        "01" => 2.5,
        "31" | "48" | "92" | "46" => 1.3,
        _ => 1.0,
    }
}

/// Relative dossier volume of a ministry (public security and finance carry
/// most: identity, residence, vehicles, tax, customs).
pub fn ministry_size(code: &str) -> f64 {
    match code {
        "BCA" => 30.0,
        "BTC" => 25.0,
        "BTP" | "BCT" | "BNNMT" => 6.0,
        "BXD" | "BYT" => 5.0,
        "BGDDT" | "BKHCN" | "BNV" => 3.0,
        "BVHTTDL" | "BNG" | "NHNN" => 2.0,
        "BQP" => 1.0,
        "BDTTG" => 0.5,
        "VPCP" => 0.3,
        _ => 0.2,
    }
}

#[derive(Debug, Clone, Default)]
struct Table {
    base: f64,
    shift: f64,
    group: Vec<f64>,
    procedure: Vec<f64>,
}

/// Calibrated rates for both sides.
#[derive(Debug, Clone)]
pub struct Calibrated {
    tables: Vec<[Table; 2]>,
}

const P_MIN: f64 = 0.001;
const P_MAX: f64 = 0.999;

impl Calibrated {
    /// `procedures`: for the commune, province and ministry levels, the
    /// catalogue indices and their popularity weights.
    pub(crate) fn new(
        cfg: &GenConfig,
        province_w: &[f64],
        ministry_w: &[f64],
        catalogue: &Catalogue,
        procedures: &[(Vec<u16>, Vec<f64>); 3],
    ) -> Self {
        let mut rng = Rng::fork(cfg.seed, 2);
        let n_proc = catalogue.procedures.len();
        let norm = |w: &[f64], share: f64| -> Vec<f64> {
            let t: f64 = w.iter().sum();
            w.iter()
                .map(|x| share * x / t.max(f64::MIN_POSITIVE))
                .collect()
        };
        // The procedure mix of each side, as (catalogue index, weight).
        let mix = |levels: &[(usize, f64)]| -> Vec<(usize, f64)> {
            levels
                .iter()
                .flat_map(|&(l, share)| {
                    let (idx, w) = &procedures[l];
                    idx.iter()
                        .map(|&i| i as usize)
                        .zip(norm(w, share))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let mixes = [
            mix(&[(2, 1.0)]),
            mix(&[
                (0, LOCALITY_COMMUNE_SHARE),
                (1, 1.0 - LOCALITY_COMMUNE_SHARE),
            ]),
        ];
        let groups = [norm(ministry_w, 1.0), norm(province_w, 1.0)];
        let tables = RATES
            .iter()
            .map(|&rate| {
                [Side::Ministries, Side::Localities].map(|side| {
                    let s = side as usize;
                    let base = rate.baseline()[s];
                    let spread = (base * 0.6).min((1.0 - base) * 0.6).min(0.12);
                    let group: Vec<f64> = groups[s]
                        .iter()
                        .map(|_| rng.uniform(-1.0, 1.0) * spread)
                        .collect();
                    let mut procedure = vec![0.0; n_proc];
                    if rate.by_procedure() {
                        for &(i, _) in &mixes[s] {
                            let lean = if catalogue.procedures[i].full_online {
                                0.5
                            } else {
                                -0.5
                            };
                            procedure[i] = (lean + rng.uniform(-0.5, 0.5)) * spread;
                        }
                    }
                    let mean = |shift: f64| -> f64 {
                        groups[s]
                            .iter()
                            .zip(&group)
                            .map(|(gw, go)| {
                                if rate.by_procedure() {
                                    gw * mixes[s]
                                        .iter()
                                        .map(|&(i, pw)| {
                                            pw * (base + shift + go + procedure[i])
                                                .clamp(P_MIN, P_MAX)
                                        })
                                        .sum::<f64>()
                                } else {
                                    gw * (base + shift + go).clamp(P_MIN, P_MAX)
                                }
                            })
                            .sum()
                    };
                    let (mut lo, mut hi) = (-1.0, 1.0);
                    for _ in 0..60 {
                        let mid = (lo + hi) / 2.0;
                        if mean(mid) < base {
                            lo = mid;
                        } else {
                            hi = mid;
                        }
                    }
                    Table {
                        base,
                        shift: (lo + hi) / 2.0,
                        group,
                        procedure,
                    }
                })
            })
            .collect();
        Self { tables }
    }

    /// The probability of `rate` for a dossier of `group` (province or
    /// ministry index within `side`) and catalogue procedure `procedure`.
    pub fn p(&self, rate: Rate, side: Side, group: usize, procedure: usize) -> f64 {
        let i = RATES.iter().position(|&r| r == rate).unwrap_or(0);
        let t = &self.tables[i][side as usize];
        let g = t.group.get(group).copied().unwrap_or(0.0);
        let p = t.procedure.get(procedure).copied().unwrap_or(0.0);
        (t.base + t.shift + g + p).clamp(P_MIN, P_MAX)
    }
}
