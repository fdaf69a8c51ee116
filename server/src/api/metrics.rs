//! `GET /metrics`: Prometheus text format (version 0.0.4). Server-wide
//! counters and per-source feed health (source names, totals, lateness,
//! watermarks): what `/api/v1/sources` keeps to the committee, so only the
//! scrape token (`metrics.token`) or a committee or admin session reads it.

use crate::api::error::ApiError;
use crate::app::{AppState, LATENCY_BUCKETS};
use crate::auth::{SESSION_COOKIE, bearer_token, signed_in};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::sync::atomic::Ordering;

struct Out(String);

/// A per-source family: name, type, help, and the value of one feed.
type PerSource = (
    &'static str,
    &'static str,
    &'static str,
    fn(&crate::feeds::FeedHealth) -> Option<f64>,
);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.0, "{k}=\"{v}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

/// Whether `a` and `b` are equal, in time that depends on neither: both are
/// hashed first (hiding their lengths), then every byte is compared.
fn same_secret(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    let diff = x
        .iter()
        .zip(y.iter())
        .fold(0u8, |acc, (p, q)| acc | (p ^ q));
    std::hint::black_box(diff) == 0
}

/// Whether the caller may read the operator's counters: the configured
/// scrape token as a bearer token, or a committee or admin session.
pub async fn operator(state: &AppState, headers: &HeaderMap) -> Result<bool, ApiError> {
    if let (Some(sent), Some(token)) = (bearer_token(headers), &state.config.metrics.token)
        && same_secret(sent, token)
    {
        return Ok(true);
    }
    Ok(signed_in(state, headers)
        .await?
        .is_some_and(|u| u.is_national()))
}

/// `GET /metrics` for the scrape token or a committee or admin session;
/// 401 with a `WWW-Authenticate` challenge for anyone else.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match operator(&state, &headers).await {
        Ok(true) => render(&state),
        Ok(false) => {
            let mut r = ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!(
                    "send the scrape token (metrics.token) as 'Authorization: Bearer <token>', or log in as committee or admin ({SESSION_COOKIE} cookie)"
                ),
            )
            .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"govpulse metrics\""),
            );
            r
        }
        Err(e) => e.into_response(),
    }
}

fn render(state: &AppState) -> Response {
    let m = &state.metrics;
    let load = |a: &std::sync::atomic::AtomicI64| a.load(Ordering::Relaxed) as f64;
    let (logged, committed) = {
        let log = state.log.lock().unwrap_or_else(|p| p.into_inner());
        (log.len() as f64, log.committed() as f64)
    };
    let engine = load(&m.engine_offset);
    let mut o = Out(String::new());
    let c = "counter";
    let g = "gauge";
    let server_wide: [(&str, &str, &str, f64); 15] = [
        (
            "govpulse_events_accepted_total",
            c,
            "Events appended to the durable log.",
            load(&m.events_accepted),
        ),
        (
            "govpulse_events_duplicate_total",
            c,
            "Events recognised as duplicates (same source and event_id).",
            load(&m.events_duplicate),
        ),
        (
            "govpulse_events_rejected_total",
            c,
            "Records rejected with a reason.",
            load(&m.events_rejected),
        ),
        (
            "govpulse_log_events",
            g,
            "Events in the durable log.",
            logged,
        ),
        (
            "govpulse_log_committed_bytes",
            g,
            "Committed length of the event log.",
            committed,
        ),
        (
            "govpulse_engine_offset_bytes",
            g,
            "Log offset the engine has folded in.",
            engine,
        ),
        (
            "govpulse_engine_lag_bytes",
            g,
            "Committed log bytes the engine has not read yet.",
            (committed - engine).max(0.0),
        ),
        (
            "govpulse_archive_offset_bytes",
            g,
            "Log offset the Parquet archive has caught up to.",
            load(&m.archive_offset),
        ),
        (
            "govpulse_checkpoint_offset_bytes",
            g,
            "Log offset covered by the last engine checkpoint written.",
            load(&m.checkpoint_offset),
        ),
        (
            "govpulse_ws_connections",
            g,
            "Open websocket connections.",
            load(&m.connections),
        ),
        (
            "govpulse_ws_coalesced_updates_total",
            c,
            "Topic updates folded into a later delta for a slow client (per-connection queue drops).",
            load(&m.ws_coalesced),
        ),
        (
            "govpulse_nats_connected",
            g,
            "1 while connected to NATS JetStream.",
            load(&m.nats_connected),
        ),
        (
            "govpulse_nats_delivered_total",
            c,
            "JetStream messages delivered.",
            load(&m.nats_delivered),
        ),
        (
            "govpulse_nats_redelivered_total",
            c,
            "JetStream messages delivered again.",
            load(&m.nats_redelivered),
        ),
        (
            "govpulse_nats_acked_total",
            c,
            "JetStream messages acknowledged after the append.",
            load(&m.nats_acked),
        ),
    ];
    for (name, kind, help, value) in server_wide {
        o.single(name, kind, help, value);
    }

    let name = "govpulse_pipeline_latency_seconds";
    o.family(
        name,
        "histogram",
        "From the engine seeing committed events to their rows reaching the hub.",
    );
    let (cumulative, sum) = m.pipeline_latency.read();
    for (i, n) in cumulative.iter().enumerate() {
        let le = LATENCY_BUCKETS
            .get(i)
            .map_or("+Inf".to_owned(), |b| b.to_string());
        o.sample(&format!("{name}_bucket"), &[("le", &le)], *n as f64);
    }
    o.sample(&format!("{name}_sum"), &[], sum);
    o.sample(
        &format!("{name}_count"),
        &[],
        cumulative.last().copied().unwrap_or(0) as f64,
    );

    let feeds = state.feeds.health();
    let per_source: [PerSource; 5] = [
        (
            "govpulse_source_events_total",
            c,
            "Events accepted per source since start.",
            |h| Some(h.accepted as f64),
        ),
        (
            "govpulse_source_rejected_total",
            c,
            "Records rejected per source since start.",
            |h| Some(h.rejected as f64),
        ),
        (
            "govpulse_source_events_last_minute",
            g,
            "Events accepted per source in the last minute.",
            |h| Some(h.events_last_minute as f64),
        ),
        (
            "govpulse_source_last_event_age_seconds",
            g,
            "Seconds since the source last delivered an accepted event.",
            |h| h.last_event_age_secs.map(|s| s as f64),
        ),
        (
            "govpulse_source_lateness_seconds",
            g,
            "Receive time minus event time of the newest event in the last batch.",
            |h| h.lateness_secs.map(|s| s as f64),
        ),
    ];
    for (name, kind, help, value) in per_source {
        o.family(name, kind, help);
        for h in &feeds {
            if let Some(v) = value(h) {
                o.sample(name, &[("source", &h.source)], v);
            }
        }
    }

    // Event-time progress, from the engine's per-source clocks.
    let lateness = state.config.engine.lateness();
    let clocks = state.kpis.watermarks();
    let (late, too_late) = clocks.totals();
    o.single(
        "govpulse_events_late_total",
        c,
        "Events behind their source's watermark, folded in as corrections.",
        late as f64,
    );
    o.single(
        "govpulse_events_too_late_total",
        c,
        "Events beyond the correction horizon, left out of the live state (kept in the log).",
        too_late as f64,
    );
    o.single(
        "govpulse_dossiers_held",
        g,
        "Dossier histories the live state holds: open ones and those finished within the correction horizon; older ones are folded into sums.",
        state.kpis.dossiers() as f64,
    );
    if let Some(w) = clocks.watermark(&lateness) {
        o.single(
            "govpulse_watermark_seconds",
            g,
            "Global event-time watermark (Unix seconds): live results before it are final.",
            w as f64,
        );
    }
    let name = "govpulse_source_watermark_seconds";
    o.family(
        name,
        g,
        "Newest event time of the source minus the allowed lateness (Unix seconds).",
    );
    for (source, _) in clocks.sources() {
        if let Some(w) = clocks.source_watermark(source, &lateness) {
            o.sample(name, &[("source", source)], w as f64);
        }
    }
    let per_clock: [PerClock; 2] = [
        (
            "govpulse_source_late_total",
            c,
            "Late events per source (folded in as corrections).",
            |c| c.late,
        ),
        (
            "govpulse_source_too_late_total",
            c,
            "Too-late events per source (kept in the log, not in the live state).",
            |c| c.too_late,
        ),
    ];
    for (name, kind, help, value) in per_clock {
        o.family(name, kind, help);
        for (source, clock) in clocks.sources() {
            o.sample(name, &[("source", source)], value(clock) as f64);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        o.0,
    )
        .into_response()
}

/// A per-source series read off the engine's clock: name, kind, help, value.
type PerClock = (
    &'static str,
    &'static str,
    &'static str,
    fn(&pipelines::windows::watermark::SourceClock) -> u64,
);

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(
            "scrape-token-0123456789",
            "scrape-token-0123456789"
        ));
        assert!(!same_secret(
            "scrape-token-0123456789",
            "scrape-token-012345678"
        ));
        assert!(!same_secret(
            "scrape-token-0123456789",
            "Scrape-token-0123456789"
        ));
        assert!(!same_secret("", "x"));
    }
}
