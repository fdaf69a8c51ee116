//! `POST /api/v1/events`: NDJSON in, a per-record report out.

use super::{IngestError, ingest_ndjson};
use crate::app::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The source name of unauthenticated HTTP ingest.
pub const HTTP_SOURCE: &str = "http";

pub async fn post_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-ndjson");
    let essence = ctype.split(';').next().unwrap_or_default().trim();
    if !matches!(
        essence,
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "text/plain"
    ) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content-type {essence:?} is not supported; send application/x-ndjson"),
        );
    }
    match ingest_ndjson(&state, HTTP_SOURCE, body, true).await {
        Ok(report) => Json(report).into_response(),
        Err(e @ IngestError::Log(_)) => {
            tracing::error!("ingest: {e}");
            let mut r = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event log cannot take writes now; nothing of this request was stored".into(),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
            r
        }
        Err(e) => {
            tracing::error!("ingest: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ingest failed; nothing of this request was stored".into(),
            )
        }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
