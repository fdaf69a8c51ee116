//! Ingest: decode, validate, deduplicate and make durable. Every path
//! (HTTP, files, later NATS) ends in [`append`], which answers only after
//! the events are in the log.

pub mod http;
pub mod throttle;

use crate::app::AppState;
use crate::log::Appended;
use crate::store::{SourceInfo, StoreError};
use chrono::Utc;
use model::UnitCode;
use pipelines::sources::validate::Checks;
use pipelines::sources::{Decoded, FieldError, Format, Rejection, RuleCount};
use pipelines::units::UnitRegistry;
use serde::Serialize;
use std::sync::atomic::Ordering;

/// What happened to one submitted batch. Its size is bounded whatever the
/// input: the first `rejected.answer_max` rejections are listed in full,
/// every one is counted.
#[derive(Debug, Serialize)]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    /// The first rejections, by line, each with every rule it broke.
    pub rejected: Vec<Rejection>,
    /// Every rejection of the batch, listed or not.
    pub rejected_count: u64,
    /// Rejections per field and rule (a record counts once under each
    /// rule it broke).
    pub rejected_rules: Vec<RuleCount>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Log(#[from] crate::log::LogError),
    #[error("rejected-records store: {0}")]
    Rejects(#[from] StoreError),
    #[error("ingest worker failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The source is over its rejection budget (`rejected.max_per_minute`).
    #[error("source {name:?} is over its rejection budget; retry in {} s", .retry_after.as_secs())]
    Throttled {
        name: String,
        retry_after: std::time::Duration,
    },
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
/// `scope`. Blocking work (decoding, fsync) runs on the blocking pool. A
/// source over its rejection budget is refused before anything is read.
pub async fn ingest(
    state: &AppState,
    source: &SourceInfo,
    format: Format,
    body: axum::body::Bytes,
    check_clock: bool,
) -> Result<IngestReport, IngestError> {
    throttled(state, &source.name)?;
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

/// `Err(Throttled)` while `source` is over its rejection budget.
pub fn throttled(state: &AppState, source: &str) -> Result<(), IngestError> {
    match state.rejection_budget.over(source) {
        Some(retry_after) => Err(IngestError::Throttled {
            name: source.to_owned(),
            retry_after,
        }),
        None => Ok(()),
    }
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
    let limits = state.config.rejected.limits();
    state
        .store
        .add_rejections(&source.name, &rejected, limits)?;
    let total = rejected.total();
    state.rejection_budget.charge(&source.name, total);
    let m = &state.metrics;
    m.events_accepted
        .fetch_add(accepted as i64, Ordering::Relaxed);
    m.events_duplicate
        .fetch_add(duplicates as i64, Ordering::Relaxed);
    m.events_rejected
        .fetch_add(i64::try_from(total).unwrap_or(i64::MAX), Ordering::Relaxed);
    state.feeds.record(
        &source.name,
        accepted,
        duplicates,
        usize::try_from(total).unwrap_or(usize::MAX),
        newest,
    );
    Ok(IngestReport {
        accepted,
        duplicates,
        rejected: rejected
            .sample()
            .iter()
            .take(state.config.rejected.answer_max)
            .cloned()
            .collect(),
        rejected_count: total,
        rejected_rules: rejected.by_rule(),
    })
}
