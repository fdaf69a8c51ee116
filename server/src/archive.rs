//! Keeps the Parquet archive (`DATA/archive/day=YYYY-MM-DD/part-….parquet`)
//! caught up with the event log, for history queries through DataFusion
//! (`pipelines::kpi::archive`).
//!
//! ```text
//!  log [.. archived ..|.. new ..] ─► read whole batches from ARCHIVED offset
//!                                     └► one part per local day, named by the
//!                                        start offset (tmp + fsync + rename)
//!                                     └► ARCHIVED = new offset (tmp + rename)
//! ```
//!
//! The offset moves only after a chunk's parts are durable, so a crash in
//! between rewrites the same part names from the same offset on the next
//! run, replacing them whole; without an offset file the archive is cleared
//! and rebuilt. Either way nothing is archived twice. Late events for an
//! earlier day land in a new part of that day.

use crate::app::AppState;
use crate::log::LogReader;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The archive directory inside a data directory.
pub const DIR: &str = "archive";
const OFFSET_FILE: &str = "ARCHIVED";
/// Most events in one part file.
const CHUNK: usize = 200_000;

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join(DIR)
}

/// The log offset archived up to; `None` when none was recorded.
fn read_offset(dir: &Path) -> anyhow::Result<Option<u64>> {
    match std::fs::read_to_string(dir.join(OFFSET_FILE)) {
        Ok(s) => s
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("{}: not a log offset", dir.join(OFFSET_FILE).display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context("reading the archive offset"),
    }
}

fn write_offset(dir: &Path, offset: u64) -> anyhow::Result<()> {
    let tmp = dir.join(format!(".{OFFSET_FILE}.tmp"));
    std::fs::write(&tmp, offset.to_string())?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, dir.join(OFFSET_FILE))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Remove every part: without a recorded offset the archive is rebuilt
/// from the start of the log, and old parts would count their events twice.
fn clear_parts(dir: &Path) -> anyhow::Result<()> {
    for day in std::fs::read_dir(dir)?.flatten() {
        if !day.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(day.path())?.flatten() {
            if f.path().extension().is_some_and(|x| x == "parquet") {
                std::fs::remove_file(f.path())?;
            }
        }
    }
    Ok(())
}

/// Archive everything committed since the last run; returns the number of
/// events written. Blocking.
pub fn catch_up(state: &AppState) -> anyhow::Result<usize> {
    let dir = dir(&state.config.server.data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (path, committed) = {
        let log = state.log.lock().unwrap_or_else(|p| p.into_inner());
        (log.path().to_owned(), log.committed())
    };
    let offset = match read_offset(&dir)? {
        Some(o) => o,
        None => {
            clear_parts(&dir)?;
            0
        }
    };
    let mut reader = LogReader::new(path, offset);
    let mut total = 0;
    loop {
        let start = reader.offset();
        let records = reader.read(committed, CHUNK)?;
        if records.is_empty() {
            break;
        }
        let events: Vec<_> = records.into_iter().map(|r| r.event).collect();
        pipelines::kpi::archive::write_parts(
            &dir,
            &format!("part-{start:016x}"),
            &events,
            &state.units,
        )?;
        write_offset(&dir, reader.offset())?;
        state
            .metrics
            .archive_offset
            .store(reader.offset() as i64, Ordering::Relaxed);
        total += events.len();
    }
    Ok(total)
}

/// Run [`catch_up`] at start and then every `archive.interval_secs`. A
/// failure is logged and retried at the next tick; the log is unaffected.
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(state.config.archive.interval_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = state.clone();
        match tokio::task::spawn_blocking(move || catch_up(&s)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(events = n, "archived to Parquet"),
            Ok(Err(e)) => tracing::warn!("archiving to Parquet: {e:#}"),
            Err(e) => tracing::warn!("archive task: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn parts(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|d| d.path().is_dir())
            .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
            .map(|f| f.path())
            .collect();
        v.sort();
        v
    }

    fn event(id: &str, at: &str) -> model::Event {
        let t = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        let mut e = model::Event::new(
            id,
            model::EventKind::Dossier,
            t,
            model::UnitCode::parse("00070").unwrap(),
        );
        e.dossier_id = Some(id.into());
        e.status = Some(model::DossierStatus::Accepted);
        e.procedure_code = Some("1.001757".into());
        e.channel = Some(model::Channel::Online);
        e
    }

    #[test]
    fn catching_up_archives_each_event_once_even_after_a_lost_offset() {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.data_dir = data.path().to_owned();
        let state = AppState::open(config).unwrap();
        let append = |events| {
            state.log.lock().unwrap().append("t", &events).unwrap();
        };
        append(vec![
            event("a", "2025-11-19T10:00:00+07:00"),
            event("b", "2025-11-20T10:00:00+07:00"),
        ]);
        assert_eq!(catch_up(&state).unwrap(), 2);
        assert_eq!(catch_up(&state).unwrap(), 0, "nothing new");
        // A late event for the 19th gets its own part in that day.
        append(vec![event("c", "2025-11-19T11:00:00+07:00")]);
        assert_eq!(catch_up(&state).unwrap(), 1);
        let dir = dir(data.path());
        let before = parts(&dir);
        assert_eq!(before.len(), 3, "{before:?}");
        // As if the offset were lost: the archive is rebuilt from the start
        // of the log, without the parts it replaces.
        std::fs::remove_file(dir.join(OFFSET_FILE)).unwrap();
        assert_eq!(catch_up(&state).unwrap(), 3);
        let after = parts(&dir);
        assert_eq!(after.len(), 2, "one part per day from offset 0: {after:?}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let spec = pipelines::kpi::report::ReportSpec {
            level: pipelines::kpi::report::Level::Nation,
            period: pipelines::windows::periods::Period::All,
            chunk: 100,
        };
        let rows = rt
            .block_on(pipelines::kpi::archive::history(
                &dir,
                state.units.clone(),
                "VN",
                None,
                None,
                spec,
            ))
            .unwrap();
        assert_eq!(
            rows[0].kpis["online_dossiers"].denominator, 3,
            "each event once"
        );
        assert_eq!(
            state.metrics.archive_offset.load(Ordering::Relaxed) as u64,
            state.log.lock().unwrap().committed()
        );
    }
}
