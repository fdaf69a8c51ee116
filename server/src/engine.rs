//! The engine driver: follows the durable log from its start, folds each
//! micro-batch into the windows, and publishes changed rows to the hub.
//! It reads only the log (never the ingest path), so what the dashboard
//! shows is always what is durable.

use crate::app::AppState;
use crate::log::LogReader;
use model::live::topics;
use pipelines::windows::minute::MinuteWindows;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub async fn run(state: AppState) -> anyhow::Result<()> {
    let cfg = &state.config.engine;
    let mut windows =
        MinuteWindows::new(state.units.clone(), cfg.retention_minutes, cfg.row_minutes);
    let (path, mut committed) = {
        let log = state.log.lock().unwrap_or_else(|p| p.into_inner());
        (log.path().to_owned(), log.watch())
    };
    let mut reader = Some(LogReader::new(path, 0));
    let mut woke = Instant::now();
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
            let events: Vec<_> = records.into_iter().map(|r| r.event).collect();
            let changed = windows.apply(&events).await?;
            let rows: Vec<_> = changed.iter().map(|code| windows.row(code)).collect();
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
        }
        if committed.changed().await.is_err() {
            return Ok(());
        }
        woke = Instant::now();
    }
}
