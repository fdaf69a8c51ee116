//! Application state, the router, and the tasks that run beside it.

use crate::config::Config;
use crate::live::Hub;
use crate::log::EventLog;
use crate::store::Store;
use crate::{api, engine, ingest, live};
use axum::Router;
use axum::routing::{get, post};
use pipelines::units::UnitRegistry;
use std::sync::atomic::AtomicI64;
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
        Ok(Self {
            config: Arc::new(config),
            units,
            log: Arc::new(Mutex::new(log)),
            store,
            hub: Arc::new(Hub::new()),
            metrics: Arc::new(Metrics::default()),
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

/// All HTTP routes. Tested without a socket through `oneshot`.
pub fn router(state: AppState) -> Router {
    let web = &state.config.server.web_dir;
    let index = web.join("index.html");
    let static_files = ServeDir::new(web).fallback(ServeFile::new(&index));
    let body_limit = state.config.server.max_body_bytes;
    let api = Router::new()
        .route("/api/v1/events", post(ingest::http::post_events))
        .route("/api/v1/overview", get(api::overview))
        .route("/api/v1/schema", get(api::schema))
        .route("/api/v1/live", get(live::ws::handler))
        .route("/healthz", get(api::health))
        .layer(axum::extract::DefaultBodyLimit::max(body_limit));
    let app = if index.exists() {
        api.fallback_service(static_files)
    } else {
        api.fallback(api::no_bundle)
    };
    app.with_state(state)
}
