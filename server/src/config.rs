//! Configuration: embedded defaults, then a TOML file, then
//! `GOVPULSE__SECTION__KEY` environment variables, then command-line flags.
//! Validated once at start with every problem reported together, and passed
//! around as a value.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Config {
    pub server: ServerConfig,
    pub engine: EngineConfig,
    pub live: LiveConfig,
    pub sample: SampleConfig,
    pub nats: NatsConfig,
    pub auth: AuthConfig,
    pub archive: ArchiveConfig,
    pub rejected: RejectedConfig,
    pub metrics: MetricsConfig,
}

/// Rejected records: what an ingest answer lists, what the rejected store
/// keeps, and how fast a source may have records rejected.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RejectedConfig {
    /// Rejections an ingest answer lists in full; the rest are counted.
    pub answer_max: usize,
    /// Records the store keeps in full per source and hour; every
    /// rejection is counted per field and rule all the same.
    pub sample_per_hour: u64,
    /// Days rejected records and their counts are kept.
    pub retention_days: u64,
    /// Most megabytes of raw records kept; the oldest hours' go first
    /// (their counts stay).
    pub max_kept_mb: u64,
    /// Rejections per source and minute above which the source's requests
    /// are refused with 429 and `Retry-After`; 0 turns this off.
    pub max_per_minute: u64,
}

impl Default for RejectedConfig {
    fn default() -> Self {
        Self {
            answer_max: 100,
            sample_per_hour: 1000,
            retention_days: 30,
            max_kept_mb: 256,
            max_per_minute: 10_000,
        }
    }
}

impl RejectedConfig {
    pub fn limits(&self) -> crate::store::RejectedLimits {
        crate::store::RejectedLimits {
            sample_per_hour: self.sample_per_hour,
            retention_days: self.retention_days,
            max_kept_bytes: self.max_kept_mb.saturating_mul(1 << 20),
        }
    }
}

/// Who may read `/metrics` and the full `/healthz`: a scraper sending
/// `Authorization: Bearer <token>` (Prometheus' `authorization` setting),
/// or a committee or admin session. Without a token, only those sessions.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// The scrape token (`GOVPULSE__METRICS__TOKEN`): 16 to 256 visible
    /// ASCII characters.
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("MetricsConfig")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

/// The Parquet archive of the log that history queries read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Seconds between catching the archive up with the log.
    pub interval_secs: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self { interval_secs: 60 }
    }
}

/// Accounts and sessions (DESIGN.md, "Access and security").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Minutes without a request after which a session ends.
    pub session_idle_minutes: i64,
    /// Hours after login after which a session ends regardless.
    pub session_absolute_hours: i64,
    /// Failed logins for one account within `login_window_minutes` after
    /// which that account's logins are refused until the window passes.
    pub login_failures_per_account: usize,
    /// Failed logins from one client address within the window after which
    /// that client's logins are refused.
    pub login_failures_per_client: usize,
    pub login_window_minutes: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            login_failures_per_account: 5,
            login_failures_per_client: 20,
            login_window_minutes: 15,
        }
    }
}

impl AuthConfig {
    pub fn session_limits(&self) -> crate::store::SessionLimits {
        crate::store::SessionLimits {
            idle_secs: self.session_idle_minutes * 60,
            absolute_secs: self.session_absolute_hours * 3600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub addr: String,
    /// Data directory: event log, rejected records.
    pub data_dir: PathBuf,
    /// The built dashboard (wasm-bindgen output and index.html).
    pub web_dir: PathBuf,
    /// Largest ingest request body, in bytes.
    pub max_body_bytes: usize,
    /// The origins (`scheme://host[:port]`) people open the dashboard at;
    /// a state-changing request or a websocket from a browser must carry
    /// one of them as its `Origin`. Empty: the origins of the address
    /// actually bound ([`ServerConfig::default_origins`]); required when
    /// listening on every interface (0.0.0.0, ::), or behind a proxy.
    pub public_origins: Vec<String>,
}

impl ServerConfig {
    /// The origins a browser uses for a server bound to `addr`: `http://`
    /// and `https://` of `IP:PORT`, and of `localhost:PORT` for a loopback
    /// address.
    pub fn default_origins(addr: std::net::SocketAddr) -> Vec<String> {
        let port = addr.port();
        let mut hosts = vec![addr.to_string()];
        if addr.ip().is_loopback() {
            hosts.push(format!("localhost:{port}"));
        }
        hosts
            .iter()
            .flat_map(|h| [format!("http://{h}"), format!("https://{h}")])
            .collect()
    }
}

/// Why `origin` is not a `scheme://host[:port]` origin, if it is not.
fn origin_problem(origin: &str) -> Option<&'static str> {
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return Some("must start with http:// or https://");
    };
    if authority.is_empty() {
        return Some("has no host");
    }
    if authority.contains(['/', '?', '#', '@', ' ']) {
        return Some("must be scheme://host[:port] with no path, query, user or trailing '/'");
    }
    None
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Most events the engine folds into one DataFusion micro-batch.
    pub batch_max: usize,
    /// Minutes of one-minute buckets kept behind the newest event.
    pub retention_minutes: i64,
    /// Recent minute buckets shown per unit on the overview.
    pub row_minutes: usize,
    /// Seconds between engine checkpoints (window state and log offset,
    /// `DATA/checkpoint.json`); a restart resumes from the last one
    /// instead of re-reading the whole log. 0 turns checkpoints off.
    pub checkpoint_secs: u64,
    /// Seconds an event may trail its source's newest event and still be
    /// on time; older ones are late (folded in as corrections).
    pub allowed_lateness_secs: i64,
    /// Seconds behind the watermark a late event still updates the live
    /// state; older ones are too late: counted per source and left to the
    /// log and the archive (`govpulse kpi --data` still counts them).
    pub correction_horizon_secs: i64,
    /// Seconds a source's newest event may trail the newest of all before
    /// the source stops holding back the global watermark.
    pub idle_source_secs: i64,
}

impl EngineConfig {
    pub fn lateness(&self) -> pipelines::windows::watermark::Lateness {
        pipelines::windows::watermark::Lateness {
            allowed: self.allowed_lateness_secs,
            horizon: self.correction_horizon_secs,
            idle: self.idle_source_secs,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// Seconds between heartbeats; a peer silent for three is dropped.
    pub heartbeat_secs: u64,
}

/// The NATS JetStream source. Off unless `url` is set. Publishers send
/// NDJSON (or CSV/Parquet, by `Content-Type` header) on
/// `events.<source-name>[.…]`, where the source name is one made by
/// `govpulse sources add` and its units bound what it may report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// Server URL, e.g. `nats://127.0.0.1:4222`; unset or empty: no NATS.
    pub url: Option<String>,
    /// The stream, created with `subjects` if it does not exist.
    pub stream: String,
    /// Subjects of the stream and filter of the consumer.
    pub subjects: String,
    /// Durable pull consumer name.
    pub consumer: String,
    /// Most messages fetched (and appended to the log) at once.
    pub batch: usize,
    /// Seconds before an unacknowledged message is redelivered.
    pub ack_wait_secs: u64,
    /// Seconds in which JetStream drops a repeated `Nats-Msg-Id`.
    pub duplicate_window_secs: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: None,
            stream: "EVENTS".into(),
            subjects: "events.>".into(),
            consumer: "govpulse".into(),
            batch: 1000,
            ack_wait_secs: 30,
            duplicate_window_secs: 120,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    /// Load sample events into an empty event log at start (`govpulse
    /// serve --sample`); refused on a data directory that has sources.
    pub load: bool,
    /// NDJSON file to load instead of the embedded demo slice.
    pub file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            web_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../frontend/dist")),
            max_body_bytes: 64 * 1024 * 1024,
            public_origins: Vec::new(),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            batch_max: 65_536,
            retention_minutes: 48 * 60,
            row_minutes: 30,
            checkpoint_secs: 60,
            allowed_lateness_secs: 5 * 60,
            correction_horizon_secs: 14 * 86_400,
            idle_source_secs: 15 * 60,
        }
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self { heartbeat_secs: 15 }
    }
}

/// Everything wrong with a configuration, one line each.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Defaults, overlaid with `file` (if any) and then with environment
    /// variables `GOVPULSE__SECTION__KEY` from `env`.
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut table = toml::Table::try_from(Config::default())
            .map_err(|e| ConfigError(vec![e.to_string()]))?;
        if let Some(path) = file {
            match std::fs::read_to_string(path).map(|s| s.parse::<toml::Table>()) {
                Ok(Ok(t)) => merge(&mut table, t),
                Ok(Err(e)) => problems.push(format!("{}: {e}", path.display())),
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("GOVPULSE__") else {
                continue;
            };
            let parts: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            let [section, field] = parts.as_slice() else {
                problems.push(format!("{key}: expected GOVPULSE__SECTION__KEY"));
                continue;
            };
            let parsed = format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or(toml::Value::String(value));
            match table
                .get_mut(section.as_str())
                .and_then(|s| s.as_table_mut())
            {
                Some(s) => {
                    s.insert(field.clone(), parsed);
                }
                None => problems.push(format!("{key}: no section [{section}]")),
            }
        }
        let config: Config = match toml::Value::Table(table).try_into() {
            Ok(c) => c,
            Err(e) => {
                problems.push(e.to_string());
                return Err(ConfigError(problems));
            }
        };
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Check a configuration changed after [`Config::load`] (by
    /// command-line flags), reporting every problem together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match self.server.addr.parse::<std::net::SocketAddr>() {
            Err(_) => p.push(format!(
                "server.addr {:?} must be HOST:PORT with an IP address",
                self.server.addr
            )),
            Ok(a) if a.ip().is_unspecified() && self.server.public_origins.is_empty() => {
                p.push(format!(
                    "server.public_origins must list the origins people open the dashboard at (e.g. [\"https://govpulse.example.gov.vn\"]) when server.addr {:?} listens on every interface",
                    self.server.addr
                ));
            }
            Ok(_) => {}
        }
        for o in &self.server.public_origins {
            if let Some(rule) = origin_problem(o) {
                p.push(format!("server.public_origins: {o:?} {rule}"));
            }
        }
        if self.server.max_body_bytes < 1024 {
            p.push("server.max_body_bytes must be at least 1024".into());
        }
        if self.engine.batch_max == 0 {
            p.push("engine.batch_max must be at least 1".into());
        }
        if self.engine.retention_minutes < 60 {
            p.push("engine.retention_minutes must be at least 60".into());
        }
        if self.nats.batch == 0 || self.nats.ack_wait_secs == 0 {
            p.push("nats.batch and nats.ack_wait_secs must be at least 1".into());
        }
        if !self.nats.subjects.ends_with(".>") {
            p.push(format!(
                "nats.subjects {:?} must end in '.>' (the next token names the source)",
                self.nats.subjects
            ));
        }
        if let Some(t) = &self.metrics.token {
            let n = t.chars().count();
            if !(16..=256).contains(&n) || !t.bytes().all(|b| b.is_ascii_graphic()) {
                p.push(format!(
                    "metrics.token must be 16 to 256 visible ASCII characters without spaces (got {n} characters)"
                ));
            }
        }
        if self.live.heartbeat_secs == 0 {
            p.push("live.heartbeat_secs must be at least 1".into());
        }
        if self.archive.interval_secs == 0 {
            p.push("archive.interval_secs must be at least 1".into());
        }
        if self.rejected.retention_days == 0 {
            p.push("rejected.retention_days must be at least 1".into());
        }
        let a = &self.auth;
        if a.session_idle_minutes < 1 || a.session_absolute_hours < 1 {
            p.push(
                "auth.session_idle_minutes and auth.session_absolute_hours must be at least 1"
                    .into(),
            );
        }
        if a.login_failures_per_account == 0
            || a.login_failures_per_client == 0
            || a.login_window_minutes == 0
        {
            p.push("auth.login_failures_per_account, auth.login_failures_per_client and auth.login_window_minutes must be at least 1".into());
        }
        p
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("govpulse.toml");
        std::fs::write(
            &file,
            "[server]\naddr = \"127.0.0.1:9000\"\n[engine]\nbatch_max = 10\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[("GOVPULSE__ENGINE__BATCH_MAX", "20"), ("OTHER", "x")]),
        )
        .unwrap();
        assert_eq!(c.server.addr, "127.0.0.1:9000");
        assert_eq!(c.engine.batch_max, 20);
        assert_eq!(c.live.heartbeat_secs, 15);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::load(
            None,
            env(&[
                ("GOVPULSE__SERVER__ADDR", "nowhere"),
                ("GOVPULSE__ENGINE__BATCH_MAX", "0"),
                ("GOVPULSE__NOPE__X", "1"),
            ]),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("server.addr"), "{text}");
        assert!(text.contains("engine.batch_max"), "{text}");
        assert!(text.contains("[nope]"), "{text}");
    }

    #[test]
    fn listening_everywhere_needs_public_origins() {
        let err = Config::load(
            None,
            env(&[
                ("GOVPULSE__SERVER__ADDR", "0.0.0.0:8080"),
                ("GOVPULSE__ENGINE__BATCH_MAX", "0"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("server.public_origins"), "{err}");
        assert!(err.contains("engine.batch_max"), "{err}");
        let mut c = Config::default();
        c.server.addr = "[::]:8080".into();
        assert!(c.validate().is_err());
        c.server.public_origins = vec!["https://govpulse.example.gov.vn".into()];
        c.validate().unwrap();
        for bad in [
            "govpulse.example",
            "https://x.example/",
            "https://",
            "ftp://x",
        ] {
            c.server.public_origins = vec![bad.into()];
            let err = c.validate().unwrap_err().to_string();
            assert!(
                err.contains("server.public_origins") && err.contains(bad),
                "{err}"
            );
        }
    }

    #[test]
    fn default_origins_are_those_of_the_bound_address() {
        let o = ServerConfig::default_origins("127.0.0.1:4000".parse().unwrap());
        assert_eq!(
            o,
            [
                "http://127.0.0.1:4000",
                "https://127.0.0.1:4000",
                "http://localhost:4000",
                "https://localhost:4000"
            ]
        );
        let o = ServerConfig::default_origins("10.1.2.3:80".parse().unwrap());
        assert_eq!(o, ["http://10.1.2.3:80", "https://10.1.2.3:80"]);
        let o = ServerConfig::default_origins("[::1]:9".parse().unwrap());
        assert!(
            o.contains(&"http://[::1]:9".to_owned())
                && o.contains(&"http://localhost:9".to_owned())
        );
    }

    #[test]
    fn the_metrics_token_is_checked_and_never_printed() {
        let c = Config::load(
            None,
            env(&[("GOVPULSE__METRICS__TOKEN", "scrape-token-0123456789")]),
        )
        .unwrap();
        assert_eq!(c.metrics.token.as_deref(), Some("scrape-token-0123456789"));
        assert!(!format!("{c:?}").contains("scrape-token"));
        for bad in ["short", "has a space in it, long enough"] {
            let err = Config::load(None, env(&[("GOVPULSE__METRICS__TOKEN", bad)])).unwrap_err();
            assert!(err.to_string().contains("metrics.token"), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err =
            Config::load(None, env(&[("GOVPULSE__SERVER__ADRESS", "127.0.0.1:1")])).unwrap_err();
        assert!(err.to_string().contains("adress"), "{err}");
    }
}
