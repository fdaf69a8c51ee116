//! Application state, the router, and the tasks that run beside it.

use crate::config::Config;
use crate::live::Hub;
use crate::log::EventLog;
use crate::store::Store;
use crate::{api, engine, ingest, live};
use axum::Router;
use axum::routing::{get, post};
use pipelines::units::UnitRegistry;
use pipelines::windows::minute::MinuteState;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tower_http::services::{ServeDir, ServeFile};

/// Counters shown on `/metrics` and the health endpoint.
#[derive(Debug, Default)]
pub struct Metrics {
    pub connections: AtomicI64,
    pub events_accepted: AtomicI64,
    pub events_duplicate: AtomicI64,
    pub events_rejected: AtomicI64,
    pub engine_offset: AtomicI64,
    pub nats_connected: AtomicI64,
    pub nats_delivered: AtomicI64,
    pub nats_redelivered: AtomicI64,
    pub nats_acked: AtomicI64,
    /// Topic updates folded into a later delta for a slow websocket client
    /// (the per-connection queue coalesces instead of growing).
    pub ws_coalesced: AtomicI64,
    /// Log offset the Parquet archive has caught up to.
    pub archive_offset: AtomicI64,
    /// Log offset covered by the last engine checkpoint written.
    pub checkpoint_offset: AtomicI64,
    /// Seconds from the engine seeing newly committed events to their rows
    /// being published to the hub.
    pub pipeline_latency: Histogram,
}

/// Upper bounds of the latency histogram buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// A fixed-bucket histogram for `/metrics` (Prometheus semantics: each
/// bucket counts observations at or below its bound).
#[derive(Debug, Default)]
pub struct Histogram {
    /// One more than the bounds: the last is `+Inf`.
    counts: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, secs: f64) {
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }

    /// Cumulative counts per bound (the last is `+Inf`, the total), and the
    /// sum in seconds.
    pub fn read(&self) -> (Vec<u64>, f64) {
        let mut acc = 0;
        let cumulative = self
            .counts
            .iter()
            .map(|c| {
                acc += c.load(Ordering::Relaxed);
                acc
            })
            .collect();
        (
            cumulative,
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub units: Arc<UnitRegistry>,
    pub log: Arc<Mutex<EventLog>>,
    pub store: Arc<Store>,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub feeds: Arc<crate::feeds::Feeds>,
    pub limiter: Arc<crate::auth::LoginLimiter>,
    pub calendar: Arc<model::calendar::WorkCalendar>,
    /// The engine's retained KPI state (`/kpis`, `/backlog`).
    pub kpis: Arc<crate::kpis::LiveKpis>,
    /// The engine's one-minute windows (`/recent`); the engine feeds them.
    pub minutes: Arc<std::sync::RwLock<MinuteState>>,
    /// The sessions of open websockets, checked so that a socket closes
    /// when its session ends.
    pub sessions: Arc<live::sessions::SessionWatch>,
    /// Each source's rejection budget (`rejected.max_per_minute`).
    pub rejection_budget: Arc<ingest::throttle::RejectionBudget>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// Open the data directory and build the state; starts nothing.
    pub fn open(config: Config) -> anyhow::Result<Self> {
        let units = Arc::new(UnitRegistry::embedded()?);
        let log = EventLog::open(&config.server.data_dir)?;
        let store = Arc::new(Store::open(&config.server.data_dir)?);
        let hub = Hub::with_topics(live::topic_names(&units));
        let minutes = MinuteState::new(
            units.clone(),
            config.engine.retention_minutes,
            config.engine.row_minutes,
        );
        let rejection_budget = Arc::new(ingest::throttle::RejectionBudget::new(
            config.rejected.max_per_minute,
        ));
        Ok(Self {
            minutes: Arc::new(std::sync::RwLock::new(minutes)),
            limiter: Arc::new(crate::auth::LoginLimiter::from_config(&config.auth)),
            calendar: Arc::new(sample_data::calendar()?),
            config: Arc::new(config),
            units,
            log: Arc::new(Mutex::new(log)),
            store,
            hub: Arc::new(hub),
            metrics: Arc::new(Metrics::default()),
            feeds: Arc::default(),
            kpis: Arc::default(),
            sessions: Arc::default(),
            rejection_budget,
        })
    }

    /// Start the NATS JetStream consumer (idle when `nats.url` is unset).
    pub fn spawn_nats(&self) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        tokio::spawn(crate::nats::run(self.clone()))
    }

    /// Start the engine task that follows the log into the hub.
    pub fn spawn_engine(&self) -> tokio::task::JoinHandle<anyhow::Result<()>> {
        tokio::spawn(engine::run(self.clone()))
    }
}

/// Every route of [`router`], as documented in `server/openapi.json`.
pub const API_PATHS: &[&str] = &[
    "/api/v1/events",
    "/api/v1/overview",
    "/api/v1/schema",
    "/api/v1/openapi.json",
    "/api/v1/session",
    "/api/v1/session/password",
    "/api/v1/users",
    "/api/v1/audit",
    "/api/v1/units",
    "/api/v1/units/{code}",
    "/api/v1/units/{code}/kpis",
    "/api/v1/units/{code}/backlog",
    "/api/v1/units/{code}/recent",
    "/api/v1/units/{code}/history",
    "/api/v1/rejected",
    "/api/v1/sources",
    "/api/v1/live",
    "/metrics",
    "/healthz",
];

/// All HTTP routes. Tested without a socket through `oneshot`.
pub fn router(state: AppState) -> Router {
    let web = &state.config.server.web_dir;
    let index = web.join("index.html");
    let static_files = ServeDir::new(web).fallback(ServeFile::new(&index));
    let body_limit = state.config.server.max_body_bytes;
    let api = Router::new()
        .route("/api/v1/overview", get(api::overview))
        .route("/api/v1/schema", get(api::schema))
        .route("/api/v1/openapi.json", get(api::openapi))
        .route(
            "/api/v1/session",
            post(api::session::login)
                .get(api::session::me)
                .delete(api::session::logout),
        )
        .route(
            "/api/v1/session/password",
            post(api::session::change_password),
        )
        .route("/api/v1/users", get(api::session::users))
        .route("/api/v1/audit", get(api::session::audit))
        .route("/api/v1/units", get(api::units::tree))
        .route("/api/v1/units/{code}", get(api::units::unit))
        .route("/api/v1/units/{code}/kpis", get(api::units::kpis))
        .route("/api/v1/units/{code}/backlog", get(api::units::backlog))
        .route("/api/v1/units/{code}/recent", get(api::units::recent))
        .route("/api/v1/units/{code}/history", get(api::units::history))
        .route("/api/v1/rejected", get(api::admin::rejected))
        .route("/api/v1/sources", get(api::admin::sources))
        .route("/api/v1/live", get(live::ws::handler))
        .route("/metrics", get(api::metrics::metrics))
        .route("/healthz", get(api::health))
        // Everything above may be called with the session cookie.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::check_origin,
        ))
        // Ingest authenticates with source tokens only, never the cookie,
        // so a forged cross-site request there carries no authority.
        .route("/api/v1/events", post(ingest::http::post_events))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit));
    let app = if index.exists() {
        api.fallback_service(static_files)
    } else {
        api.fallback(api::no_bundle)
    };
    // Last, so that pages, static files, API answers and errors alike
    // carry the headers.
    app.layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The Content-Security-Policy of every answer. The dashboard is a WASM
/// module loaded by `/boot.js` (no inline script): `'wasm-unsafe-eval'`
/// lets it compile WebAssembly, nothing else; `connect-src 'self'` covers
/// the REST API and the same-origin websocket. Leptos sets `style="…"`
/// attributes for the bar widths, hence inline style *attributes* only
/// (`style-src-attr`), never inline `<style>` elements.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     connect-src 'self'; img-src 'self' data:; style-src 'self'; style-src-attr 'unsafe-inline'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every answer: the CSP above, no framing, no MIME
/// sniffing, no referrer leaving the dashboard.
async fn security_headers(mut r: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[test]
    fn the_openapi_document_lists_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(api::OPENAPI).unwrap();
        let mut documented: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort_unstable();
        let mut routes = API_PATHS.to_vec();
        routes.sort_unstable();
        assert_eq!(documented, routes);
        assert_eq!(doc["openapi"], "3.1.0");
    }

    #[tokio::test]
    async fn every_listed_route_exists() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.data_dir = dir.path().to_owned();
        config.server.web_dir = dir.path().join("no-bundle");
        let app = router(AppState::open(config).unwrap());
        for path in API_PATHS {
            let uri = path.replace("{code}", "01");
            let r = app
                .clone()
                .oneshot(Request::get(&uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            // Without the bundle, an unknown path falls back to the 503
            // page; every API path answers something else.
            assert_ne!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{uri}");
            assert_ne!(r.status(), StatusCode::NOT_FOUND, "{uri}");
        }
    }
}
