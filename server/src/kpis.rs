//! The engine's retained KPI state: every event of the log folded into one
//! [`Fold`] (hourly sums per unit, each dossier's history), which `/kpis`
//! and `/backlog` answer from. The engine task merges each micro-batch in
//! and announces the log offset it has folded; a request first waits until
//! that offset reaches the log's committed length at the time it arrived,
//! so an answer always includes every event acknowledged before it.
//!
//! Beside the fold it keeps a clock per province and ministry: the newest
//! event time folded for any unit of that branch. A national viewer's
//! answers are judged at the engine's clock (the newest event time of all);
//! a locality's at its own branch's, so that nothing it is shown moves with
//! another province's activity.

use crate::checkpoint::Clocks;
use pipelines::kpi::fold::{Fold, FoldCheckpoint};
use pipelines::units::UnitRegistry;
use pipelines::windows::watermark::Watermarks;
use std::sync::RwLock;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug)]
pub struct LiveKpis {
    fold: RwLock<Fold>,
    /// A copy of the engine's per-source clocks, for `/sources` and
    /// `/metrics`.
    watermarks: RwLock<Watermarks>,
    folded: watch::Sender<u64>,
    clocks: RwLock<Clocks>,
}

impl Default for LiveKpis {
    fn default() -> Self {
        Self {
            fold: RwLock::default(),
            clocks: RwLock::default(),
            watermarks: RwLock::default(),
            folded: watch::Sender::new(0),
        }
    }
}

impl LiveKpis {
    /// Start over from `fold`, which covers the log up to `offset`.
    pub fn replace(&self, fold: Fold, offset: u64) {
        *self.fold.write().unwrap_or_else(|p| p.into_inner()) = fold;
        self.folded.send_replace(offset);
    }

    /// Merge one micro-batch's fold, which brings the log up to `offset`.
    pub fn apply(&self, part: Fold, offset: u64) {
        self.fold
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .merge(part);
        self.folded.send_replace(offset);
    }

    /// Advance the branch clocks by a micro-batch's folded events. Called
    /// before [`Self::apply`], so a request that waited for the batch's
    /// offset sees its clocks.
    pub fn observe(&self, events: &[model::Event], units: &UnitRegistry) {
        let mut newest: std::collections::HashMap<&str, i64> = Default::default();
        for e in events {
            if let Some(top) = units.top_of(&e.unit) {
                let t = e.occurred_at.timestamp();
                newest
                    .entry(top)
                    .and_modify(|n| *n = (*n).max(t))
                    .or_insert(t);
            }
        }
        let mut clocks = self.clocks.write().unwrap_or_else(|p| p.into_inner());
        for (top, t) in newest {
            clocks
                .entry(top.to_owned())
                .and_modify(|c| *c = (*c).max(t))
                .or_insert(t);
        }
    }

    /// The clock of a province or ministry: the newest event time folded
    /// for any unit of it.
    pub fn clock_of(&self, top: &str) -> Option<i64> {
        self.clocks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(top)
            .copied()
    }

    pub fn clocks(&self) -> Clocks {
        self.clocks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_clocks(&self, clocks: Clocks) {
        *self.clocks.write().unwrap_or_else(|p| p.into_inner()) = clocks;
    }

    /// Fold the dossiers finished before `cut` into sums and drop their
    /// histories ([`Fold::compact`]); returns how many went.
    pub fn compact(&self, cut: i64, calendar: &model::calendar::WorkCalendar) -> usize {
        self.fold
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .compact(cut, calendar)
    }

    /// Dossiers whose history the state holds.
    pub fn dossiers(&self) -> usize {
        self.fold
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .dossiers
            .len()
    }

    /// Publish the engine's per-source clocks.
    pub fn set_watermarks(&self, w: &Watermarks) {
        w.clone_into(&mut self.watermarks.write().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn watermarks(&self) -> Watermarks {
        self.watermarks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The log offset folded so far.
    pub fn offset(&self) -> u64 {
        *self.folded.borrow()
    }

    /// Wait until the log is folded up to `offset`; `false` after `wait`.
    pub async fn caught_up(&self, offset: u64, wait: Duration) -> bool {
        let mut rx = self.folded.subscribe();
        matches!(
            tokio::time::timeout(wait, rx.wait_for(|o| *o >= offset)).await,
            Ok(Ok(_))
        )
    }

    /// The part of the state for the units `keep` admits, copied out so
    /// that the report is computed without holding the engine up.
    pub fn subset(&self, keep: impl Fn(u32) -> bool) -> Fold {
        self.fold
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .subset(keep)
    }

    pub fn checkpoint(&self, units: &UnitRegistry) -> FoldCheckpoint {
        self.fold
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .checkpoint(units)
    }
}
