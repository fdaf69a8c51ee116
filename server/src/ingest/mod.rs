//! Ingest: decode, validate, deduplicate and make durable. Every path
//! (HTTP, files, later NATS) ends in [`append`], which answers only after
//! the events are in the log.

pub mod http;

use crate::app::AppState;
use crate::log::Appended;
use chrono::Utc;
use pipelines::sources::validate::Checks;
use pipelines::sources::{Decoded, Format, Rejection};
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::Ordering;

/// What happened to one submitted batch.
#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<Rejection>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Log(#[from] crate::log::LogError),
    #[error("rejected-records store: {0}")]
    Rejects(std::io::Error),
    #[error("ingest worker failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Clock skew allowed between a source and this server.
const MAX_SKEW_MINUTES: i64 = 10;

/// Decode an NDJSON body from `source` and append its valid events.
pub async fn ingest_ndjson(
    state: &AppState,
    source: &str,
    body: axum::body::Bytes,
    check_clock: bool,
) -> Result<IngestReport, IngestError> {
    ingest(state, source, Format::Ndjson, body, check_clock).await
}

/// Decode a body in `format` from `source` and append its valid events.
/// Blocking work (decoding, fsync) runs on the blocking pool.
pub async fn ingest(
    state: &AppState,
    source: &str,
    format: Format,
    body: axum::body::Bytes,
    check_clock: bool,
) -> Result<IngestReport, IngestError> {
    let state = state.clone();
    let source = source.to_owned();
    tokio::task::spawn_blocking(move || {
        let checks = Checks {
            not_after: check_clock
                .then(|| (Utc::now() + chrono::Duration::minutes(MAX_SKEW_MINUTES)).fixed_offset()),
        };
        let decoded = pipelines::sources::decode(format, body, &state.units, checks);
        append(&state, &source, decoded)
    })
    .await?
}

fn append(state: &AppState, source: &str, decoded: Decoded) -> Result<IngestReport, IngestError> {
    let Decoded { events, rejected } = decoded;
    if !rejected.is_empty() {
        store_rejections(state, source, &rejected).map_err(IngestError::Rejects)?;
    }
    let events = events.into_iter().map(|(_, e)| e).collect();
    let Appended {
        accepted,
        duplicates,
    } = {
        let mut log = state.log.lock().unwrap_or_else(|p| p.into_inner());
        log.append(source, events)?
    };
    let m = &state.metrics;
    m.events_accepted
        .fetch_add(accepted as i64, Ordering::Relaxed);
    m.events_duplicate
        .fetch_add(duplicates as i64, Ordering::Relaxed);
    m.events_rejected
        .fetch_add(rejected.len() as i64, Ordering::Relaxed);
    Ok(IngestReport {
        accepted,
        duplicates,
        rejected,
    })
}

/// Rejected records are kept with their reason, never dropped silently.
fn store_rejections(state: &AppState, source: &str, rejected: &[Rejection]) -> std::io::Result<()> {
    let path = state.config.server.data_dir.join("rejected.ndjson");
    let mut buf = Vec::new();
    let at = Utc::now().to_rfc3339();
    for r in rejected {
        serde_json::to_writer(
            &mut buf,
            &serde_json::json!({"at": at, "source": source, "record": r}),
        )?;
        buf.push(b'\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(&buf)?;
    f.sync_data()
}
