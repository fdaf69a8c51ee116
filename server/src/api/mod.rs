//! The REST API under `/api/v1` (documented in `server/openapi.json`,
//! served at `/api/v1/openapi.json`). Every handler that returns unit data
//! takes the caller from the session and answers only within its scope.

pub mod admin;
pub mod error;
pub mod metrics;
pub mod session;
pub mod units;

use crate::app::AppState;
use crate::auth::National;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use error::{ApiError, ApiResult};
use model::live::{TopicData, topics};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::Ordering;

/// Unix seconds as RFC 3339 in Vietnam time.
pub(crate) fn vn_time(t: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.with_timezone(&model::calendar::vn_offset()).to_rfc3339())
}

/// The OpenAPI 3.1 document of this API.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// Query parameters, checked: an unknown name or a bad value is a 400
/// naming the parameter and the rule.
#[derive(Debug)]
pub struct Params(HashMap<String, String>);

impl Params {
    pub fn new(map: HashMap<String, String>, allowed: &[&str]) -> ApiResult<Self> {
        let mut unknown: Vec<&String> = map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        unknown.sort();
        if let Some(k) = unknown.first() {
            let shown: String = k.chars().take(32).collect();
            return Err(ApiError::field(
                shown,
                format!("unknown parameter; use {}", allowed.join(", ")),
            ));
        }
        Ok(Self(map))
    }

    /// A non-empty string value.
    pub fn str(&mut self, name: &str) -> Option<String> {
        self.0.remove(name).filter(|v| !v.is_empty())
    }

    pub fn parse<T: FromStr>(&mut self, name: &str) -> ApiResult<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.str(name)
            .map(|v| v.parse().map_err(|e| ApiError::field(name, format!("{e}"))))
            .transpose()
    }

    pub fn int(&mut self, name: &str, default: i64, min: i64, max: i64) -> ApiResult<i64> {
        let Some(v) = self.str(name) else {
            return Ok(default);
        };
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::field(
                name,
                format!("must be a whole number from {min} to {max}"),
            )),
        }
    }

    /// A local date `YYYY-MM-DD`.
    pub fn date(&mut self, name: &str) -> ApiResult<Option<chrono::NaiveDate>> {
        self.str(name)
            .map(|v| {
                chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                    .map_err(|_| ApiError::field(name, "must be a date YYYY-MM-DD"))
            })
            .transpose()
    }

    /// `format=json` (the default) or `format=csv`.
    pub fn format_csv(&mut self) -> ApiResult<bool> {
        match self.str("format").as_deref() {
            None | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(_) => Err(ApiError::field("format", "use json or csv")),
        }
    }
}

/// `GET /api/v1/overview` (committee, admin): the overview topic's current
/// rows and sequence number, the same state a websocket snapshot carries.
pub async fn overview(State(state): State<AppState>, _: National) -> impl IntoResponse {
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

/// `GET /healthz`: liveness for anyone (`{"status":"ok"}`); with the
/// scrape token or a committee or admin session, also the counters an
/// operator looks at first.
pub async fn health(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    match metrics::operator(&state, &headers).await {
        Ok(true) => {}
        // Liveness must not depend on the database: a failed session
        // lookup still answers that the process is up.
        Ok(false) | Err(_) => return Json(serde_json::json!({ "status": "ok" })).into_response(),
    }
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
    .into_response()
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
