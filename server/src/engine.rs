//! The engine driver: follows the durable log from its last checkpoint (or
//! its start), folds each micro-batch into the minute windows (published to
//! the hub) and into the retained KPI state (`crate::kpis`, read by
//! `/kpis` and `/backlog`), and checkpoints both every
//! `engine.checkpoint_secs`.
//! It reads only the log (never the ingest path), so what the dashboard
//! shows is always what is durable.

use crate::app::AppState;
use crate::checkpoint;
use crate::log::LogReader;
use model::live::topics;
use pipelines::kpi::fold::{Fold, Folder};
use pipelines::windows::batch::to_record_batch;
use pipelines::windows::minute::MinuteWindows;
use pipelines::windows::watermark::{Verdict, Watermarks};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub async fn run(state: AppState) -> anyhow::Result<()> {
    let cfg = &state.config.engine;
    let (path, mut committed) = {
        let log = state.log.lock().unwrap_or_else(|p| p.into_inner());
        (log.path().to_owned(), log.watch())
    };
    let upto = *committed.borrow();
    let (mut windows, mut watermarks, start) = resume(&state, upto).await?;
    let lateness = cfg.lateness();
    let folder = Folder::new(state.units.clone());
    let mut reader = Some(LogReader::new(path, start));
    let mut saved = (start, Instant::now());
    let mut woke = Instant::now();
    let mut compacted_to = i64::MIN;
    let mut last_write = Duration::ZERO;
    loop {
        let upto = *committed.borrow_and_update();
        loop {
            let mut r = reader.take().expect("reader is put back after every read");
            let max = cfg.batch_max;
            let (r, records) = tokio::task::spawn_blocking(move || {
                let records = r.read(upto, max);
                (r, records)
            })
            .await?;
            let offset = r.offset();
            reader = Some(r);
            let records = records?;
            if records.is_empty() {
                break;
            }
            // Too-late events stay in the log (and the archive) but not in
            // the live state; late ones are folded in as corrections.
            let mut events = Vec::with_capacity(records.len());
            for r in records {
                let t = r.event.occurred_at.timestamp();
                if watermarks.observe(&r.source, t, &lateness) != Verdict::TooLate {
                    events.push(r.event);
                }
            }
            // One Arrow batch for both the minute windows and the KPI fold.
            let batch = to_record_batch(&events, &state.units)?;
            // Judged against the watermark the rows published so far were
            // final behind (a change there is a correction); the rows
            // published now are final behind the advanced one.
            let changed = windows.apply_batch(batch.clone()).await?;
            windows.set_final_before(watermarks.watermark(&lateness));
            let mut part = Fold::default();
            folder.fold_batch(batch, &events, &mut part).await?;
            state.kpis.observe(&events, &state.units);
            state.kpis.apply(part, offset);
            // After the fold they moved over: a reader that sees these
            // watermarks sees the events behind them folded in.
            state.kpis.set_watermarks(&watermarks);
            let rows: Vec<_> = {
                let minutes = windows.read();
                changed.iter().map(|code| minutes.row(code)).collect()
            };
            // The overview first: its deltas are the largest and its
            // watchers (the committee) the most, per topic; published last
            // they queued behind every province's sends.
            state.hub.publish(topics::OVERVIEW, rows.clone());
            for row in rows {
                state.hub.publish(&topics::unit(&row.code), vec![row]);
            }
            // Events committed before the wake-up are now visible.
            state
                .metrics
                .pipeline_latency
                .observe(woke.elapsed().as_secs_f64());
            state
                .metrics
                .engine_offset
                .store(offset as i64, Ordering::Relaxed);
            // Dossiers that finished before every source's correction horizon
            // can no longer change: fold them into sums and drop their
            // histories, so memory follows the open and recent dossiers, not
            // the whole history. At most once an event-time day (each pass
            // visits every dossier held), also while catching up on a long log.
            if let Some(cut) = watermarks.compaction_cut(&lateness)
                && cut >= compacted_to.saturating_add(86_400)
            {
                let (kpis, calendar) = (state.kpis.clone(), state.calendar.clone());
                let gone =
                    tokio::task::spawn_blocking(move || kpis.compact(cut, &calendar)).await?;
                compacted_to = cut;
                if gone > 0 {
                    tracing::info!(
                        gone,
                        held = state.kpis.dossiers(),
                        "finished dossiers folded into sums"
                    );
                }
            }
        }
        let offset = reader.as_ref().map_or(saved.0, LogReader::offset);
        // A large state is checkpointed less often: at least 20 times the
        // last write apart, so writing never takes more than 5 % of the
        // time (the log tail replayed after a crash grows instead).
        let interval = Duration::from_secs(cfg.checkpoint_secs).max(last_write * 20);
        if cfg.checkpoint_secs > 0 && offset > saved.0 && saved.1.elapsed() >= interval {
            let started = Instant::now();
            save(&state, offset, &windows, &watermarks).await;
            last_write = started.elapsed();
            tracing::debug!(secs = last_write.as_secs_f64(), "engine checkpoint took");
            saved = (offset, Instant::now());
        }
        // Wake at least once per checkpoint interval, so that state folded
        // in just before the log went quiet is checkpointed too.
        let idle = Duration::from_secs(cfg.checkpoint_secs.clamp(1, 3600));
        match tokio::time::timeout(idle, committed.changed()).await {
            Ok(Err(_)) => return Ok(()),
            Ok(Ok(())) => woke = Instant::now(),
            Err(_) => {}
        }
    }
}

/// The windows and watermarks to start from and the log offset they cover:
/// the last checkpoint if there is a usable one (its rows are published at
/// once), else empty state at the start of the log.
async fn resume(
    state: &AppState,
    committed: u64,
) -> anyhow::Result<(MinuteWindows, Watermarks, u64)> {
    let cfg = &state.config.engine;
    // The shared window state starts empty (`AppState::open`).
    let fresh = || MinuteWindows::attach(state.minutes.clone());
    if cfg.checkpoint_secs == 0 {
        return Ok((fresh(), Watermarks::default(), 0));
    }
    let dir = state.config.server.data_dir.clone();
    let loaded = tokio::task::spawn_blocking(move || checkpoint::load(&dir, committed)).await?;
    let cp = match loaded {
        Ok(Some(cp)) => cp,
        Ok(None) => return Ok((fresh(), Watermarks::default(), 0)),
        Err(why) => {
            tracing::warn!(%why, "checkpoint not used; reading the log from the start");
            return Ok((fresh(), Watermarks::default(), 0));
        }
    };
    let offset = cp.log_offset;
    let units = state.units.clone();
    let fold = tokio::task::spawn_blocking(move || Fold::restore(cp.kpis, &units)).await?;
    state.kpis.replace(fold, offset);
    let windows = fresh();
    windows.write().restore(cp.windows);
    let rows = windows.rows();
    state.hub.publish(topics::OVERVIEW, rows.clone());
    for row in rows {
        state.hub.publish(&topics::unit(&row.code), vec![row]);
    }
    for m in [
        &state.metrics.engine_offset,
        &state.metrics.checkpoint_offset,
    ] {
        m.store(offset as i64, Ordering::Relaxed);
    }
    state.kpis.set_watermarks(&cp.watermarks);
    state.kpis.set_clocks(cp.clocks);
    tracing::info!(offset, "engine resumed from its checkpoint");
    Ok((windows, cp.watermarks, offset))
}

/// Write a checkpoint of `windows` at `offset`; a failure is logged (the
/// next restart then reads more of the log, nothing is lost).
async fn save(state: &AppState, offset: u64, windows: &MinuteWindows, watermarks: &Watermarks) {
    let windows = windows.checkpoint();
    let watermarks = watermarks.clone();
    let dir = state.config.server.data_dir.clone();
    let (kpis, units) = (state.kpis.clone(), state.units.clone());
    let saved = tokio::task::spawn_blocking(move || {
        let cp = checkpoint::Checkpoint::new(
            offset,
            windows,
            kpis.checkpoint(&units),
            watermarks,
            kpis.clocks(),
        );
        checkpoint::save(&dir, &cp)
    });
    match saved.await {
        Ok(Ok(bytes)) => {
            state
                .metrics
                .checkpoint_offset
                .store(offset as i64, Ordering::Relaxed);
            tracing::debug!(offset, bytes, "engine checkpoint written");
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot write the engine checkpoint"),
        Err(e) => tracing::warn!(error = %e, "checkpoint writer failed"),
    }
}
