//! Ingest: decode, validate, deduplicate and make durable. Every path
//! (HTTP, files, later NATS) ends in [`append`], which answers only after
//! the events are in the log.

pub mod http;

use crate::app::AppState;
use crate::log::Appended;
use crate::store::{SourceInfo, StoreError};
use chrono::Utc;
use model::UnitCode;
use pipelines::sources::validate::Checks;
use pipelines::sources::{Decoded, FieldError, Format, Rejection};
use pipelines::units::UnitRegistry;
use serde::Serialize;
use std::sync::atomic::Ordering;

/// What happened to one submitted batch.
#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    /// The rejections kept in full (the first
    /// [`pipelines::sources::Rejections::DEFAULT_KEEP`]), by line.
    pub rejected: Vec<Rejection>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Log(#[from] crate::log::LogError),
    #[error("rejected-records store: {0}")]
    Rejects(#[from] StoreError),
    #[error("ingest worker failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Clock skew allowed between a source and this server.
pub const MAX_SKEW_MINUTES: i64 = 10;

/// A source the server feeds itself (sample data, files), allowed every unit.
pub fn internal_source(name: &str) -> SourceInfo {
    SourceInfo {
        name: name.to_owned(),
        units: vec![UnitCode::nation()],
        created_at: Utc::now(),
        revoked_at: None,
    }
}

/// Decode an NDJSON body from `source` and append its valid events.
pub async fn ingest_ndjson(
    state: &AppState,
    source: &SourceInfo,
    body: axum::body::Bytes,
    check_clock: bool,
) -> Result<IngestReport, IngestError> {
    ingest(state, source, Format::Ndjson, body, check_clock).await
}

/// Decode a body in `format` from `source` and append its valid events;
/// events for units outside the source's units are rejected with the rule
/// `scope`. Blocking work (decoding, fsync) runs on the blocking pool.
pub async fn ingest(
    state: &AppState,
    source: &SourceInfo,
    format: Format,
    body: axum::body::Bytes,
    check_clock: bool,
) -> Result<IngestReport, IngestError> {
    let state = state.clone();
    let source = source.clone();
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

/// Move events for units outside `source`'s units into the rejections.
pub(crate) fn enforce_scope(
    units: &UnitRegistry,
    source: &SourceInfo,
    decoded: Decoded,
) -> Decoded {
    let Decoded {
        events,
        mut rejected,
    } = decoded;
    let (inside, outside): (Vec<_>, Vec<_>) = events
        .into_iter()
        .partition(|(_, e)| source.covers(units, e.unit.as_str()));
    if outside.is_empty() {
        return Decoded {
            events: inside,
            rejected,
        };
    }
    let allowed = source
        .units
        .iter()
        .map(UnitCode::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    for (line, e) in outside {
        rejected.push(Rejection {
            line,
            event_id: Some(e.event_id.to_string()),
            errors: vec![FieldError {
                field: "unit".into(),
                rule: "scope".into(),
                message: format!(
                    "unit {} is outside the units of source {:?} ({allowed})",
                    e.unit, source.name
                ),
            }],
            raw: serde_json::to_string(&e).unwrap_or_default(),
        });
    }
    rejected.sort_sample_by_line();
    Decoded {
        events: inside,
        rejected,
    }
}

/// Scope-check already decoded events, append them and keep the
/// rejections. Blocking: call it from a blocking thread.
pub fn append(
    state: &AppState,
    source: &SourceInfo,
    decoded: Decoded,
) -> Result<IngestReport, IngestError> {
    let Decoded { events, rejected } = enforce_scope(&state.units, source, decoded);
    let newest = events.iter().map(|(_, e)| e.occurred_at).max();
    let Appended {
        accepted,
        duplicates,
    } = {
        let mut log = state.log.lock().unwrap_or_else(|p| p.into_inner());
        log.append(&source.name, events.iter().map(|(_, e)| e))?
    };
    // After the append: when the log cannot write, the request is retried
    // whole, and its rejections are stored once, by the retry.
    state
        .store
        .add_rejections(&source.name, rejected.sample())?;
    let m = &state.metrics;
    m.events_accepted
        .fetch_add(accepted as i64, Ordering::Relaxed);
    m.events_duplicate
        .fetch_add(duplicates as i64, Ordering::Relaxed);
    let total = usize::try_from(rejected.total()).unwrap_or(usize::MAX);
    m.events_rejected.fetch_add(total as i64, Ordering::Relaxed);
    state
        .feeds
        .record(&source.name, accepted, duplicates, total, newest);
    Ok(IngestReport {
        accepted,
        duplicates,
        rejected: rejected.sample().to_vec(),
    })
}
