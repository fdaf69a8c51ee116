//! `govpulse serve`: open the data directory, load the sample stream into
//! an empty log when asked to (`--sample`, never beside real sources),
//! start the engine and the web server.

use crate::app::{AppState, router};
use crate::config::{Config, ServerConfig};
use crate::ingest;
use anyhow::Context;
use axum::serve::ListenerExt;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// The source name of events loaded from the sample stream.
pub const SAMPLE_SOURCE: &str = "sample";

/// A started server: its state (for in-process feeders such as the demo),
/// its address, and the tasks to wait on.
pub struct Running {
    pub state: AppState,
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    engine: tokio::task::JoinHandle<anyhow::Result<()>>,
    nats: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Open the data directory, load the sample into an empty log, start the
/// engine and the web server. Prints the URL to open once listening.
pub async fn start(mut config: Config) -> anyhow::Result<Running> {
    // Flags were applied after `Config::load` checked the rest.
    config.validate()?;
    let addr: SocketAddr = config.server.addr.parse().context("server.addr")?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let addr = listener.local_addr()?;
    // Only now is the port known (port 0 picks one).
    if config.server.public_origins.is_empty() {
        config.server.public_origins = ServerConfig::default_origins(addr);
    }
    let state = AppState::open(config)?;
    first_admin(&state)?;
    load_sample(&state).await?;
    let engine = state.spawn_engine();
    let nats = state.spawn_nats();
    tokio::spawn(crate::archive::run(state.clone()));
    println!("govpulse listening on http://{addr}/");
    tracing::info!(data_dir = %state.config.server.data_dir.display(), "serving");
    let app = router(state.clone());
    // Live deltas are small frames that must leave at once: without
    // TCP_NODELAY, Nagle holds a frame back while the previous one is
    // unacknowledged, which can add a delayed-ACK timeout to a delivery.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
    });
    Ok(Running {
        state,
        addr,
        server,
        engine,
        nats,
    })
}

impl Running {
    /// Wait until the server stops (Ctrl-C, SIGTERM) or the engine fails.
    pub async fn wait(self) -> anyhow::Result<()> {
        let Running {
            server,
            engine,
            nats,
            ..
        } = self;
        tokio::select! {
            r = server => r.context("web server task")?.context("web server")?,
            r = engine => r.context("engine task")?.context("engine")?,
            r = nats => r.context("NATS task")?.context("NATS source")?,
        }
        Ok(())
    }
}

/// Run until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    start(config).await?.wait().await
}

/// On a first start with no accounts, create the administrator `admin`
/// with a random password and print it once. Change it after logging in.
fn first_admin(state: &AppState) -> anyhow::Result<()> {
    if state.store.user_count()? > 0 {
        return Ok(());
    }
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("random password: {e}"))?;
    let password = hex::encode(bytes);
    let admin = state.store.add_user(
        "admin",
        crate::store::Role::Admin,
        None,
        &password,
        &state.units,
    )?;
    state.store.audit(
        Some("server"),
        "user_add",
        Some(&admin.name),
        None,
        serde_json::json!({ "role": "admin", "first_start": true }),
    )?;
    println!(
        "govpulse: no accounts yet; created administrator \"admin\" with the one-time password {password}"
    );
    println!(
        "govpulse: log in and change it (POST /api/v1/session/password), or use `govpulse users`."
    );
    Ok(())
}

/// With `--sample`, load the sample stream into an empty log. Refused on a
/// data directory that has any source: a real source could then write
/// into a log that holds invented events, and no report could tell them
/// apart.
async fn load_sample(state: &AppState) -> anyhow::Result<()> {
    let sample = &state.config.sample;
    if !sample.load {
        return Ok(());
    }
    let sources = state.store.sources()?;
    if !sources.is_empty() {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        anyhow::bail!(
            "--sample: the data directory {} has sources ({}), so it holds or will hold real events; \
             sample events are invented and must not mix with them. Leave out --sample, \
             or try govpulse with `govpulse demo` or `govpulse serve --sample --data NEW_EMPTY_DIR`",
            state.config.server.data_dir.display(),
            names.join(", ")
        );
    }
    let empty = state
        .log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty();
    if !empty {
        return Ok(());
    }
    let body = match &sample.file {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("sample file {}", path.display()))?
        }
        None => sample_data::DEMO_SLICE_NDJSON.as_bytes().to_vec(),
    };
    let report = ingest::ingest_ndjson(
        state,
        &ingest::internal_source(SAMPLE_SOURCE),
        body.into(),
        false,
    )
    .await?;
    tracing::info!(
        accepted = report.accepted,
        rejected = report.rejected_count,
        "sample events loaded"
    );
    Ok(())
}

/// Whether the event log in `data_dir` holds sample events. The sample is
/// only ever loaded into an empty log, so its first record tells; the name
/// [`SAMPLE_SOURCE`] is refused for real sources.
pub fn holds_sample(data_dir: &std::path::Path) -> anyhow::Result<bool> {
    let path = data_dir.join(crate::log::FILE_NAME);
    if !path.exists() {
        return Ok(false);
    }
    let first = crate::log::LogReader::new(path, 0).read(u64::MAX, 1)?;
    Ok(first.first().is_some_and(|r| r.source == SAMPLE_SOURCE))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
