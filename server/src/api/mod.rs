//! Read-side REST endpoints.

use crate::app::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use model::live::{TopicData, topics};
use std::sync::atomic::Ordering;

/// `GET /api/v1/overview`: the overview topic's current rows and sequence
/// number, the same state a websocket snapshot carries.
pub async fn overview(State(state): State<AppState>) -> impl IntoResponse {
    match state.hub.snapshot(topics::OVERVIEW) {
        Some(snap) => {
            let TopicData::Overview { rows } = snap.data;
            Json(serde_json::json!({ "seq": snap.seq, "rows": rows })).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /api/v1/schema`: the JSON Schema of the event contract.
pub async fn schema() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/schema+json")],
        pipelines::sources::JSON_SCHEMA,
    )
}

/// `GET /healthz`: liveness plus the counters an operator looks at first.
pub async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    let (logged, committed) = {
        let log = state.log.lock().unwrap_or_else(|p| p.into_inner());
        (log.len(), log.committed())
    };
    Json(serde_json::json!({
        "status": "ok",
        "events_logged": logged,
        "log_bytes": committed,
        "engine_offset": m.engine_offset.load(Ordering::Relaxed),
        "accepted": m.events_accepted.load(Ordering::Relaxed),
        "duplicates": m.events_duplicate.load(Ordering::Relaxed),
        "rejected": m.events_rejected.load(Ordering::Relaxed),
        "connections": m.connections.load(Ordering::Relaxed),
        "nats": {
            "enabled": state.config.nats.url.as_deref().is_some_and(|u| !u.is_empty()),
            "connected": m.nats_connected.load(Ordering::Relaxed) == 1,
            "delivered": m.nats_delivered.load(Ordering::Relaxed),
            "redelivered": m.nats_redelivered.load(Ordering::Relaxed),
            "acked": m.nats_acked.load(Ordering::Relaxed),
        },
    }))
}

/// Served in place of the dashboard when its WASM bundle was not built.
pub async fn no_bundle() -> impl IntoResponse {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Html(
            "<!doctype html><title>govpulse</title><h1>govpulse</h1>\
             <p>The dashboard bundle is not built. Run <code>./scripts/build-web</code> \
             (or <code>./scripts/demo</code>), or point <code>server.web_dir</code> at a built bundle.</p>\
             <p>The API is up: <a href=\"/api/v1/overview\">/api/v1/overview</a>.</p>",
        ),
    )
}
