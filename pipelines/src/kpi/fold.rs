//! The KPI engine's state and how events get into it.
//!
//! ```text
//!  events ─► Folder ─► Arrow batch ─► DataFusion hourly_sql ─► Fold.partials
//!                  └──────────────────► Dossiers::add ───────► Fold.dossiers
//!  Fold + Fold ─► Fold   (merge: sums add, dossier histories combine)
//! ```
//!
//! A [`Fold`] is everything a set of events contributes: per unit and hour
//! the SQL counters of [`super::defs`], and each dossier's history. Both
//! merge in any order, so a worker can fold its share of an input alone
//! and the shares are merged at the end (`govpulse kpi` on two cores), and
//! a live engine can fold one micro-batch after another into the same state.

use super::defs::{COUNTERS, counter_names, hourly_sql_by};
use super::dossiers::{Dossiers, SharedDossiers};
use crate::error::{Error, Result};
use crate::units::UnitRegistry;
use crate::windows::batch::{bin_starts_micros, to_record_batch};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use datafusion::prelude::{SessionConfig, SessionContext};
use model::Event;
use std::sync::Arc;

/// Hourly partial sums per leaf unit (dense registry index, hour start in
/// Unix seconds, breakdown value or 0), in [`counter_names`] order.
pub type Partials = crate::keys::FastMap<(u32, i64, u64), Vec<i64>>;

/// A breakdown of the KPIs besides unit and period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Breakdown {
    #[default]
    None,
    /// Per procedure code (every dossier event carries one; documents,
    /// reports and meetings fall under "no procedure").
    Procedure,
    /// Per channel the dossier came in through (`counter`, `online`,
    /// `postal`). Only `accepted` carries it, so every later event of the
    /// dossier is counted under the channel of its `accepted`, looked up in
    /// the dossier histories of a first pass ([`Folder::by_channel`]).
    /// Documents, reports, meetings and dossiers whose `accepted` was never
    /// seen fall under "no channel".
    Channel,
}

impl std::str::FromStr for Breakdown {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "procedure" => Ok(Self::Procedure),
            "channel" => Ok(Self::Channel),
            _ => Err(format!("unknown breakdown {s:?}: use procedure or channel")),
        }
    }
}

impl Breakdown {
    /// The SQL expression of the breakdown over the batch schema.
    fn sql(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::Procedure => Some("procedure_code"),
            Self::Channel => Some(DOSSIER_CHANNEL),
        }
    }
}

/// The column a channel breakdown groups by: the channel of the event's
/// dossier, added to the micro-batch by [`Folder::by_channel`].
const DOSSIER_CHANNEL: &str = "dossier_channel";

/// What a set of events contributes to the KPIs.
#[derive(Debug, Clone, Default)]
pub struct Fold {
    /// What the partial sums and dossier facts are broken down by.
    pub breakdown: Breakdown,
    pub partials: Partials,
    pub dossiers: Dossiers,
    /// The open-state spans of dossiers compacted away ([`Fold::compact`]),
    /// as +1/-1 changes of the span counters per unit and hour: a change
    /// in an hour counts at every period end after it, exactly as the span
    /// did (period ends are hour boundaries).
    pub frozen: Partials,
    /// Oldest and newest event time seen (Unix seconds).
    pub span: Option<(i64, i64)>,
    /// Events folded in.
    pub events: u64,
}

impl Fold {
    /// Add another part's contribution.
    pub fn merge(&mut self, other: Fold) {
        debug_assert_eq!(
            self.breakdown, other.breakdown,
            "folds of one breakdown merge"
        );
        // Sums commute: add the smaller map into the larger.
        let mut theirs = other.partials;
        if theirs.len() > self.partials.len() {
            std::mem::swap(&mut self.partials, &mut theirs);
        }
        add_sums(&mut self.partials, theirs);
        add_sums(&mut self.frozen, other.frozen);
        self.dossiers.merge(other.dossiers);
        self.span = match (self.span, other.span) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (s, None) | (None, s) => s,
        };
        self.events += other.events;
    }

    /// The part of the fold that belongs to the units `keep` admits (by
    /// dense index), keeping the whole fold's time span: the event-time
    /// clock is shared, so a quiet unit's open dossiers still age.
    pub fn subset(&self, keep: impl Fn(u32) -> bool) -> Fold {
        Fold {
            breakdown: self.breakdown,
            partials: of_units(&self.partials, &keep),
            dossiers: self.dossiers.subset(&keep),
            frozen: of_units(&self.frozen, &keep),
            span: self.span,
            events: self.events,
        }
    }
}

/// A [`Fold`] in a checkpoint, with unit codes instead of dense indices.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct FoldCheckpoint {
    /// (unit, hour start, breakdown value, sums in [`counter_names`] order)
    pub partials: Vec<(String, i64, u64, Vec<i64>)>,
    pub dossiers: super::dossiers::DossiersCheckpoint,
    /// [`Fold::frozen`], as `partials`.
    #[serde(default)]
    pub frozen: Vec<(String, i64, u64, Vec<i64>)>,
    pub span: Option<(i64, i64)>,
    pub events: u64,
}

impl Fold {
    pub fn checkpoint(&self, units: &UnitRegistry) -> FoldCheckpoint {
        // Trailing zeros are left out (restore pads them back): most hours
        // have no state-counter sums, which come last.
        let coded = |p: &Partials| {
            p.iter()
                .filter_map(|((u, h, d), v)| {
                    let len = v.iter().rposition(|x| *x != 0).map_or(0, |i| i + 1);
                    let code = units.at(*u)?.code.as_str().to_owned();
                    Some((code, *h, *d, v[..len].to_vec()))
                })
                .collect()
        };
        FoldCheckpoint {
            partials: coded(&self.partials),
            frozen: coded(&self.frozen),
            dossiers: self.dossiers.checkpoint(units),
            span: self.span,
            events: self.events,
        }
    }

    /// The fold of a checkpoint. Sums written by a build with fewer
    /// counters are padded with zeros.
    pub fn restore(cp: FoldCheckpoint, units: &UnitRegistry) -> Self {
        let width = counter_names().len();
        let indexed = |p: Vec<(String, i64, u64, Vec<i64>)>| {
            p.into_iter()
                .filter_map(|(u, h, d, mut v)| {
                    v.resize(width, 0);
                    Some(((units.index(&u)?, h, d), v))
                })
                .collect()
        };
        Fold {
            breakdown: Breakdown::None,
            partials: indexed(cp.partials),
            frozen: indexed(cp.frozen),
            dossiers: Dossiers::restore(cp.dossiers, units),
            span: cp.span,
            events: cp.events,
        }
    }
}

impl Fold {
    /// Fold the dossiers that finished before `cut` (Unix seconds) into
    /// hourly sums and drop their histories; returns how many went. The
    /// report is unchanged: their on-time and processing-time facts become
    /// ordinary hourly counters, their open, due-soon and overdue spans
    /// become changes in [`Fold::frozen`].
    ///
    /// Call it with `cut` at least the correction horizon behind every
    /// source's newest event ([`crate::windows::watermark::Watermarks::compaction_cut`]):
    /// events older than that are too late for the live state, and newer
    /// ones cannot change the facts of a dossier that had already finished
    /// (a later rating or payment starts a history with no acceptance,
    /// which has no facts and is dropped by a later cut). Two limits, both
    /// outside the national status codes' normal lifecycle: a `resolved`
    /// arriving after a `withdrawn`, `stopped` or `refused` more than the
    /// horizon later is not counted, and a source never seen before that
    /// replays an `accepted` already folded away starts a second history
    /// (as it would double-count without compaction: dedup is per source).
    /// It is kept at least an hour behind the newest event folded, so that
    /// the last period's reading time (that event, not an hour boundary) is
    /// after every change it freezes.
    pub fn compact(&mut self, cut: i64, calendar: &model::calendar::WorkCalendar) -> usize {
        let Some((_, newest)) = self.span else {
            return 0;
        };
        let cut = cut.min(newest - 3600);
        let before = self.dossiers.len();
        let facts = self
            .dossiers
            .take_finished_before(cut, calendar, self.breakdown);
        let width = counter_names().len();
        for ((unit, dim), f) in facts {
            super::report::add_resolution_facts(&mut self.partials, unit, dim, &f);
            for span in &f.spans {
                let Some(i) = super::defs::counter_index(span.counter) else {
                    continue;
                };
                let hour = |t: i64| t.div_euclid(3600) * 3600;
                for (t, d) in [(span.start, 1), (span.end, -1)] {
                    if t == i64::MAX {
                        continue;
                    }
                    self.frozen
                        .entry((unit, hour(t), dim))
                        .or_insert_with(|| vec![0; width])[i] += d;
                }
            }
        }
        // A span that opened and closed within one hour left nothing.
        self.frozen.retain(|_, v| v.iter().any(|x| *x != 0));
        before - self.dossiers.len()
    }
}

/// The sums of the units `keep` admits.
fn of_units(p: &Partials, keep: impl Fn(u32) -> bool) -> Partials {
    p.iter()
        .filter(|((unit, _, _), _)| keep(*unit))
        .map(|(k, v)| (*k, v.clone()))
        .collect()
}

fn add_sums(into: &mut Partials, from: Partials) {
    for (k, v) in from {
        match into.entry(k) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                for (a, b) in o.get_mut().iter_mut().zip(&v) {
                    *a += b;
                }
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(v);
            }
        }
    }
}

/// Folds micro-batches of events into a [`Fold`]: one DataFusion context
/// with the partial-aggregate query. One per worker thread.
pub struct Folder {
    query: super::BatchQuery,
    units: Arc<UnitRegistry>,
    breakdown: Breakdown,
    /// For a channel breakdown: every dossier's history from a first pass
    /// over the same input, which gives each event its dossier's channel.
    /// The dossiers are not folded again.
    channels: Option<Arc<Dossiers>>,
    /// Where dossier histories go when several workers fold one input;
    /// `None`: into the fold's own [`Fold::dossiers`].
    shared: Option<Arc<SharedDossiers>>,
}

impl std::fmt::Debug for Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Folder").finish_non_exhaustive()
    }
}

impl Folder {
    pub fn new(units: Arc<UnitRegistry>) -> Self {
        Self::by(units, Breakdown::None)
    }

    /// A folder for the second pass of a channel breakdown: `dossiers`
    /// holds the histories of the whole input from the first pass. Its
    /// folds carry partial sums only; the first pass's dossiers go with
    /// them ([`super::batch::fold_inputs`]).
    pub fn by_channel(units: Arc<UnitRegistry>, dossiers: Arc<Dossiers>) -> Self {
        Self {
            channels: Some(dossiers),
            ..Self::by(units, Breakdown::Channel)
        }
    }

    /// A folder whose sums are also broken down by `breakdown`. A channel
    /// breakdown needs the dossiers of the whole input first: use
    /// [`Folder::by_channel`] (this one counts every event under "no
    /// channel").
    pub fn by(units: Arc<UnitRegistry>, breakdown: Breakdown) -> Self {
        // One micro-batch is one partition: a worker thread is the unit of
        // parallelism, so DataFusion need not repartition within a batch.
        let config = SessionConfig::new().with_target_partitions(1);
        Self {
            query: super::BatchQuery::new(
                SessionContext::new_with_config(config),
                hourly_sql_by(super::BATCH_TABLE, breakdown.sql()),
            ),
            units,
            breakdown,
            channels: None,
            shared: None,
        }
    }

    /// This folder, with dossier histories going to `shared` (one table
    /// for every worker of a parallel fold) instead of each fold's own.
    pub fn with_shared(self, shared: Arc<SharedDossiers>) -> Self {
        Self {
            shared: Some(shared),
            ..self
        }
    }

    /// Fold `events` (one micro-batch) into `into`.
    pub async fn fold(&self, events: &[Event], into: &mut Fold) -> Result<()> {
        into.breakdown = self.breakdown;
        if events.is_empty() {
            return Ok(());
        }
        let batch = to_record_batch(events, &self.units)?;
        self.fold_batch(batch, events, into).await
    }

    /// [`Self::fold`] with the events' Arrow batch already built, one row
    /// per event in order: by [`to_record_batch`], so that a caller that
    /// also runs the minute windows over the same events builds it once,
    /// or from a Parquet file's columns
    /// ([`crate::windows::batch::from_contract_columns`]).
    pub async fn fold_batch(
        &self,
        batch: RecordBatch,
        events: &[Event],
        into: &mut Fold,
    ) -> Result<()> {
        into.breakdown = self.breakdown;
        if events.is_empty() {
            return Ok(());
        }
        let batch = match self.breakdown {
            Breakdown::Channel => {
                with_dossier_channel(batch, events, &self.units, self.channels.as_deref())?
            }
            _ => batch,
        };
        self.fold_columns(batch, into).await?;
        self.add_events(events, into);
        Ok(())
    }

    /// The partial sums of one micro-batch's Arrow batch, without its
    /// events ([`Self::add_events`] adds those): for a caller that adds a
    /// Parquet batch's events a run at a time as they are validated
    /// ([`Self::streams_events`]).
    pub async fn fold_columns(&self, batch: RecordBatch, into: &mut Fold) -> Result<()> {
        into.breakdown = self.breakdown;
        let result = self.query.run(batch).await?;
        add_partials(&mut into.partials, &result, &self.units)
    }

    /// Whether a micro-batch's events can be added apart from its Arrow
    /// batch: not for a channel breakdown, whose batch needs a column made
    /// from its events' dossiers.
    pub fn streams_events(&self) -> bool {
        self.breakdown != Breakdown::Channel
    }

    /// The events of a micro-batch (some or all of them) into the time
    /// span, the event count and the dossier histories: what the batch's
    /// partial sums ([`Self::fold_columns`]) do not hold.
    pub fn add_events(&self, events: &[Event], into: &mut Fold) {
        let (mut lo, mut hi) = into.span.unwrap_or((i64::MAX, i64::MIN));
        let own = self.channels.is_none() && self.shared.is_none();
        for e in events {
            let t = e.occurred_at.timestamp();
            lo = lo.min(t);
            hi = hi.max(t);
            if own {
                into.dossiers.add(e, &self.units);
            }
        }
        if let (None, Some(shared)) = (&self.channels, &self.shared) {
            shared.add_all(events, &self.units);
        }
        if !events.is_empty() {
            into.span = Some((lo, hi));
        }
        into.events += events.len() as u64;
    }
}

/// `batch` (one row per event of `events` whose unit rolls up: all of
/// them, for validated events) with one more column, [`DOSSIER_CHANNEL`]:
/// the event's own channel, else the channel of its dossier in
/// `dossiers`, else null.
fn with_dossier_channel(
    batch: RecordBatch,
    events: &[Event],
    units: &UnitRegistry,
    dossiers: Option<&Dossiers>,
) -> Result<RecordBatch> {
    let mut col =
        arrow::array::StringBuilder::with_capacity(batch.num_rows(), batch.num_rows() * 7);
    for e in events {
        // The rows of the batch: events of units that roll up (validation
        // admits no others, so a batch made of a file's columns has the
        // same rows).
        if units.top_of(&e.unit).is_none() {
            continue;
        }
        // The dossier's channel (that of its accepted) first: a later event
        // that names another channel still counts under the dossier's.
        let of_dossier = || {
            let id = e.dossier_id.as_deref()?;
            dossiers?.channel_of(units.index_of(&e.unit)?, id)
        };
        let channel = of_dossier().or(e.channel);
        col.append_option(channel.map(|c| c.as_str()));
    }
    let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
    fields.push(Arc::new(arrow::datatypes::Field::new(
        DOSSIER_CHANNEL,
        arrow::datatypes::DataType::Utf8,
        true,
    )));
    let mut cols = batch.columns().to_vec();
    cols.push(Arc::new(col.finish()));
    Ok(RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        cols,
    )?)
}

/// Add the result of an [`hourly_sql`] query to `out`. Rows of units the
/// registry does not know cannot be rolled up and are skipped.
pub fn add_partials(
    out: &mut Partials,
    result: &[RecordBatch],
    units: &UnitRegistry,
) -> Result<()> {
    let width = counter_names().len();
    for rb in result {
        // Utf8 from in-memory batches, Utf8View from Parquet scans.
        let unit = arrow::compute::cast(rb.column(0), &arrow::datatypes::DataType::Utf8)?;
        let unit = unit
            .as_string_opt::<i32>()
            .ok_or_else(|| Error::Schema("unit column is not text".into()))?;
        let bins = bin_starts_micros(rb.column(1).as_ref())?;
        // A breakdown query has its value in column `dim` before the sums.
        let dim = (rb.schema().field(2).name() == "dim")
            .then(|| arrow::compute::cast(rb.column(2), &arrow::datatypes::DataType::Utf8))
            .transpose()?;
        let dim = dim.as_ref().and_then(|d| d.as_string_opt::<i32>());
        let first = 2 + usize::from(dim.is_some());
        let cols: Vec<_> = (0..COUNTERS.len())
            .map(|c| rb.column(first + c).as_primitive_opt::<Int64Type>())
            .collect();
        for (i, bin) in bins.into_iter().enumerate() {
            let Some(bin) = bin.map(|us| us.div_euclid(1_000_000)) else {
                continue;
            };
            let Some(index) = units.index(unit.value(i)) else {
                continue;
            };
            let d = dim
                .filter(|d| !d.is_null(i))
                .map_or(0, |d| super::dossiers::pack_code(d.value(i)));
            let sums = out.entry((index, bin, d)).or_insert_with(|| vec![0; width]);
            for (slot, col) in sums.iter_mut().zip(&cols) {
                *slot += col.filter(|a| !a.is_null(i)).map_or(0, |a| a.value(i));
            }
        }
    }
    Ok(())
}
