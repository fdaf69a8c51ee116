//! Operator views: the rejected-records store (admin) and feed health per
//! source (committee and admin; a locality never sees other sources).

use super::Params;
use super::error::{ApiResult, blocking};
use super::vn_time;
use crate::app::AppState;
use crate::auth::{Admin, Client, National};
use crate::store::RejectionQuery;
use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};
use std::collections::HashMap;

/// `GET /api/v1/rejected?source=&after_id=&limit=` (admin): the records
/// kept in full with their field errors and raw record, keyset-paged, and
/// every rejection counted per field and rule. Every read is audited as an
/// export (the raw records are source data).
pub async fn rejected(
    State(state): State<AppState>,
    Admin(user): Admin,
    Client(client): Client,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let mut p = Params::new(q, &["source", "after_id", "limit"])?;
    let query = RejectionQuery {
        source: p.str("source"),
        after_id: p.int("after_id", 0, 0, i64::MAX)?,
        limit: p.int("limit", 100, 1, 1000)? as usize,
    };
    let store = state.store.clone();
    let (rows, totals) = blocking(move || {
        let rows = store.rejections(&query)?;
        let totals = store.rejection_totals(query.source.as_deref())?;
        store.audit(
            Some(&user.name),
            "export",
            query.source.as_deref(),
            Some(&client),
            json!({ "what": "rejected", "rows": rows.len(), "after_id": query.after_id }),
        )?;
        Ok((rows, totals))
    })
    .await?;
    let next = rows.last().map(|r| r.id);
    Ok(Json(json!({
        "total": totals.counted,
        "kept": totals.kept,
        "rules": totals.rules,
        "rows": rows,
        "next_after_id": next,
    })))
}

/// `GET /api/v1/sources` (committee, admin): every source with its units
/// and its feed health since the server started.
pub async fn sources(State(state): State<AppState>, _: National) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let sources = blocking(move || Ok(store.sources()?)).await?;
    let mut health: HashMap<String, crate::feeds::FeedHealth> = state
        .feeds
        .health()
        .into_iter()
        .map(|h| (h.source.clone(), h))
        .collect();
    // Event-time progress from the engine: watermark, late and too-late
    // counts, whether the source is idle.
    let lateness = state.config.engine.lateness();
    let clocks = state.kpis.watermarks();
    let event_time = |name: &str| -> Value {
        let Some((_, c)) = clocks.sources().find(|(s, _)| *s == name) else {
            return Value::Null;
        };
        json!({
            "newest_event": vn_time(c.newest),
            "watermark": clocks.source_watermark(name, &lateness).and_then(vn_time),
            "idle": clocks.is_idle(name, &lateness),
            "events": c.events,
            "late": c.late,
            "too_late": c.too_late,
            "max_behind_secs": c.max_behind,
        })
    };
    let mut rows: Vec<Value> = sources
        .into_iter()
        .map(|s| {
            let h = health.remove(&s.name);
            let et = event_time(&s.name);
            json!({ "name": s.name, "units": s.units, "created_at": s.created_at,
                    "revoked_at": s.revoked_at, "health": h, "event_time": et })
        })
        .collect();
    // The server's own feeds (sample, demo) have no row in the database.
    rows.extend(health.into_values().map(|h| {
        let et = event_time(&h.source);
        json!({ "name": h.source, "units": ["VN"], "created_at": null,
                "revoked_at": null, "internal": true, "health": h, "event_time": et })
    }));

    Ok(Json(json!({
        "sources": rows,
        "watermark": clocks.watermark(&lateness).and_then(vn_time),
        "lateness": {
            "allowed_secs": lateness.allowed,
            "correction_horizon_secs": lateness.horizon,
            "idle_secs": lateness.idle,
        },
    })))
}
