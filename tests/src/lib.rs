//! End-to-end test support: start the real `govpulse` binary on port 0 with
//! a temporary data directory ([`spawn_app`]), talk to it over HTTP and
//! websockets, and drive headless Chromium through the DevTools protocol
//! ([`cdp`]). The tests themselves live in `tests/`.

pub mod cdp;

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `govpulse` binary: `$GOVPULSE_BIN`, or the one cargo builds next to
/// this test executable (built here, once per test process, so it is never
/// stale).
pub fn govpulse_bin() -> Result<PathBuf> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate_bin().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn locate_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("GOVPULSE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<test> → target/<profile>/govpulse
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable has no profile dir")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let profile = profile_dir
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("debug");
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "govpulse", "--bin", "govpulse"])
        .current_dir(workspace_root());
    if profile != "debug" {
        cmd.args(["--profile", profile]);
    }
    let status = cmd
        .status()
        .context("running cargo build for the govpulse binary")?;
    if !status.success() {
        bail!("cargo build -p govpulse failed");
    }
    let bin = profile_dir.join("govpulse");
    if !bin.exists() {
        bail!("{} does not exist after building it", bin.display());
    }
    Ok(bin)
}

/// The built dashboard bundle: `$GOVPULSE_WEB_DIR` or `frontend/dist`.
pub fn web_dir() -> PathBuf {
    std::env::var_os("GOVPULSE_WEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("frontend/dist"))
}

/// Options for [`spawn_app`].
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Start with `--sample`: the embedded sample stream is loaded into an
    /// empty log. Such a data directory may have no source, so none is
    /// created and [`TestApp::token`] is empty (unless `token` is given);
    /// a test that needs the sample numbers and a source ingests
    /// [`sample_ndjson`] instead.
    pub sample: bool,
    /// Reuse this data directory instead of a fresh one.
    pub data_dir: Option<PathBuf>,
    /// The source token for [`TestApp::ingest`]; without one, a source `e2e`
    /// for every unit is created with `govpulse sources add`.
    pub token: Option<String>,
    /// Extra environment for the server (`GOVPULSE__SECTION__KEY=…`).
    pub env: Vec<(String, String)>,
    /// Start with no accounts (the server then creates `admin` and prints
    /// its password) instead of the committee account [`E2E_USER`].
    pub no_users: bool,
    /// Serve this dashboard directory instead of [`web_dir`].
    pub web_dir: Option<PathBuf>,
    /// Configure no `/metrics` scrape token (by default one is set through
    /// [`METRICS_TOKEN_ENV`] and kept in [`TestApp::metrics_token`]).
    pub no_metrics_token: bool,
}

/// The committee account every [`spawn_app`] server has (unless
/// `no_users`), and which [`TestApp::get_json`] is logged in as.
pub const E2E_USER: &str = "e2e-committee";
/// Test fixtures' password (never used outside throw-away data dirs).
pub const E2E_PASSWORD: &str = "e2e-password-not-secret";

/// Create a user with the real CLI (`users add --password-stdin`).
/// An existing user of that name is left as it is.
pub fn add_user(data_dir: &Path, name: &str, role: &str, unit: Option<&str>) -> Result<()> {
    use std::io::Write;
    let mut cmd = Command::new(govpulse_bin()?);
    cmd.args([
        "users",
        "add",
        "--name",
        name,
        "--role",
        role,
        "--password-stdin",
        "--data",
    ])
    .arg(data_dir)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(u) = unit {
        cmd.args(["--unit", u]);
    }
    let mut child = cmd.spawn()?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(format!("{E2E_PASSWORD}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !stderr.contains("already exists") {
        bail!("users add {name}: {stderr}");
    }
    Ok(())
}

/// Run `govpulse ARGS…`, require success, and return its standard output.
pub fn govpulse(args: &[&str]) -> Result<String> {
    let out = Command::new(govpulse_bin()?).args(args).output()?;
    if !out.status.success() {
        bail!(
            "govpulse {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Create a source in `data_dir` with the real CLI; returns its token (the
/// last line of standard output).
pub fn add_source(data_dir: &Path, name: &str, units: &str) -> Result<String> {
    let out = Command::new(govpulse_bin()?)
        .args(["sources", "add", "--name", name, "--units", units, "--data"])
        .arg(data_dir)
        .output()?;
    if !out.status.success() {
        bail!(
            "sources add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8(out.stdout)?;
    let token = stdout.lines().last().context("no token printed")?.trim();
    Ok(token.to_owned())
}

/// The embedded sample stream (`sample-data/demo/slice.ndjson`: 120
/// dossiers), for tests that ingest it as a real source would.
pub fn sample_ndjson() -> Result<String> {
    let path = workspace_root().join("sample-data/demo/slice.ndjson");
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// A running server. Killed when dropped.
#[derive(Debug)]
pub struct TestApp {
    pub addr: String,
    pub data_dir: PathBuf,
    /// Token of the source `ingest` sends as.
    pub token: String,
    child: Child,
    _tmp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
    /// `Cookie` header of the [`E2E_USER`] session (None with `no_users`).
    pub cookie: Option<String>,
    /// Standard output lines before the address line.
    pub startup: Vec<String>,
    /// The scrape token of `/metrics` and the full `/healthz`
    /// (`GOVPULSE__METRICS__TOKEN`, set by [`spawn_app`] unless
    /// [`AppOptions::env`] sets it).
    pub metrics_token: String,
}

/// An HTTP answer: status, headers and body text.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The environment variable of the `/metrics` scrape token.
pub const METRICS_TOKEN_ENV: &str = "GOVPULSE__METRICS__TOKEN";

/// Start `govpulse serve --addr 127.0.0.1:0` and wait for its URL line.
pub async fn spawn_app(opts: AppOptions) -> Result<TestApp> {
    let bin = govpulse_bin()?;
    let (tmp, data_dir) = match opts.data_dir {
        Some(d) => (None, d),
        None => {
            let t = tempfile::tempdir()?;
            let p = t.path().to_owned();
            (Some(t), p)
        }
    };
    let token = match opts.token {
        Some(t) => t,
        None if opts.sample => String::new(),
        None => add_source(&data_dir, "e2e", "VN")?,
    };
    if !opts.no_users {
        add_user(&data_dir, E2E_USER, "committee", None)?;
    }
    let mut cmd = Command::new(&bin);
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(&data_dir)
        .arg("--web")
        .arg(opts.web_dir.clone().unwrap_or_else(web_dir))
        .env("GOVPULSE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if opts.sample {
        cmd.arg("--sample");
    }
    let metrics_token = match opts.env.iter().find(|(k, _)| k == METRICS_TOKEN_ENV) {
        Some((_, t)) => t.clone(),
        None if opts.no_metrics_token => String::new(),
        None => {
            let t = format!("e2e-metrics-token-{}", std::process::id());
            cmd.env(METRICS_TOKEN_ENV, &t);
            t
        }
    };
    cmd.envs(opts.env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let addr = tokio::task::spawn_blocking(move || -> Result<(String, Vec<String>)> {
        let mut lines = BufReader::new(stdout).lines();
        let mut before = Vec::new();
        for line in lines.by_ref() {
            let line = line?;
            if let Some(url) = line.strip_prefix("govpulse listening on http://") {
                let addr = url.trim_end_matches('/').to_owned();
                // Keep draining stdout so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return Ok((addr, before));
            }
            before.push(line);
        }
        bail!("govpulse exited before printing its address")
    });
    let (addr, startup) = tokio::time::timeout(Duration::from_secs(60), addr)
        .await
        .context("server did not start within 60 s")???;
    let mut app = TestApp {
        addr,
        data_dir,
        token,
        child,
        _tmp: tmp,
        http: reqwest::Client::new(),
        cookie: None,
        startup,
        metrics_token,
    };
    if !opts.no_users {
        app.cookie = Some(app.login(E2E_USER, E2E_PASSWORD).await?);
    }
    Ok(app)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/v1/live", self.addr)
    }

    /// This server's origin, as a browser on its pages would send it.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A websocket handshake request carrying `cookie` (a `Cookie` header
    /// value) and no Origin, as a non-browser client sends it.
    pub fn ws_request(
        &self,
        cookie: Option<&str>,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = self
            .ws_url()
            .into_client_request()
            .expect("a valid websocket URL");
        if let Some(c) = cookie
            && let Ok(v) = c.parse()
        {
            req.headers_mut().insert("cookie", v);
        }
        req
    }

    /// Send a request with an optional session cookie and Origin.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
        origin: Option<&str>,
        json: Option<serde_json::Value>,
    ) -> Result<Answer> {
        let mut r = self.http.request(method, self.url(path));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(j) = json {
            r = r.json(&j);
        }
        let resp = r.send().await?;
        Ok(Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await?,
        })
    }

    /// GET with a session cookie.
    pub async fn get_as(&self, cookie: Option<&str>, path: &str) -> Result<Answer> {
        self.request(reqwest::Method::GET, path, cookie, None, None)
            .await
    }

    /// The status of `GET /api/v1/session` with this cookie: 200 while the
    /// session lives, 401 once it has ended.
    pub async fn session_status(&self, cookie: &str) -> Result<u16> {
        Ok(self.get_as(Some(cookie), "/api/v1/session").await?.status)
    }

    /// Log in as a browser on this server's pages would; returns the
    /// `Cookie` header value of the new session.
    pub async fn login(&self, user: &str, password: &str) -> Result<String> {
        let a = self
            .request(
                reqwest::Method::POST,
                "/api/v1/session",
                None,
                Some(&self.origin()),
                Some(serde_json::json!({ "username": user, "password": password })),
            )
            .await?;
        if a.status != 200 {
            bail!("login as {user}: {} {}", a.status, a.body);
        }
        session_cookie(&a.headers).context("no session cookie set")
    }

    /// POST an NDJSON body to the ingest endpoint as the test source;
    /// returns status and JSON.
    pub async fn ingest(&self, ndjson: &str) -> Result<(u16, serde_json::Value)> {
        self.ingest_as(&self.token, ndjson).await
    }

    /// POST an NDJSON body with the given source token.
    pub async fn ingest_as(&self, token: &str, ndjson: &str) -> Result<(u16, serde_json::Value)> {
        let r = self
            .http
            .post(self.url("/api/v1/events"))
            .header("content-type", "application/x-ndjson")
            .bearer_auth(token)
            .body(ndjson.to_owned())
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }

    /// GET as the [`E2E_USER`] session; fails on a non-2xx status.
    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        let mut r = self.http.get(self.url(path));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        Ok(r.send().await?.error_for_status()?.json().await?)
    }

    /// GET with the scrape token as a bearer token (`/metrics`, `/healthz`).
    pub async fn get_operator(&self, path: &str) -> Result<Answer> {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.metrics_token)
            .send()
            .await?;
        Ok(Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await?,
        })
    }

    /// The `/metrics` text, read with the scrape token.
    pub async fn metrics(&self) -> Result<String> {
        let a = self.get_operator("/metrics").await?;
        if a.status != 200 {
            bail!("/metrics: {} {}", a.status, a.body);
        }
        Ok(a.body)
    }

    /// The full `/healthz` counters, read with the scrape token.
    pub async fn health(&self) -> Result<serde_json::Value> {
        let a = self.get_operator("/healthz").await?;
        if a.status != 200 {
            bail!("/healthz: {} {}", a.status, a.body);
        }
        Ok(a.json())
    }

    /// Wait until the engine has read everything the log committed.
    pub async fn settle(&self) -> Result<serde_json::Value> {
        for _ in 0..400 {
            let h = self.health().await?;
            if h["engine_offset"] == h["log_bytes"] {
                return Ok(h);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("engine did not catch up with the log within 20 s")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory in bytes (`VmRSS` of /proc).
    pub fn rss_bytes(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS")?;
        Ok(kb * 1024)
    }

    /// Kill the server (SIGKILL) and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The next protocol message on a live socket, skipping heartbeats; panics
/// after 20 s of silence.
pub async fn next_msg<S>(ws: &mut S) -> model::live::ServerMsg
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures::StreamExt;
    use model::live::ServerMsg;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a message within 20 s")
            .expect("socket open")
            .expect("frame");
        if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
            match serde_json::from_str(&t).expect("a protocol message") {
                ServerMsg::Heartbeat { .. } => continue,
                m => return m,
            }
        }
    }
}

/// The `Cookie` header value (`__Host-govpulse=…`) from a `Set-Cookie`.
pub fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|kv| kv.starts_with("__Host-govpulse=") && kv.len() > "__Host-govpulse=".len())
        .map(str::to_owned)
}

/// An accepted-dossier event line for tests.
pub fn accepted_event(id: &str, at: &str, unit: &str, channel: &str) -> String {
    serde_json::json!({
        "event_id": id, "kind": "dossier", "occurred_at": at, "unit": unit,
        "dossier_id": format!("D-{id}"), "status": "accepted", "procedure_code": "1.001757",
        "channel": channel, "due_at": "2025-11-25T17:00:00+07:00",
    })
    .to_string()
}

/// A real `nats-server` with JetStream on a free loopback port and a
/// temporary store directory. Killed when dropped.
#[derive(Debug)]
pub struct NatsServer {
    pub url: String,
    child: Child,
    _store: tempfile::TempDir,
}

impl NatsServer {
    /// Start `nats-server -js` (installed by `./scripts/test` from apt) and
    /// wait until it takes connections.
    pub async fn start() -> Result<Self> {
        let bin = which("nats-server").context(
            "nats-server is not installed; ./scripts/test installs it (apt package nats-server)",
        )?;
        let store = tempfile::tempdir()?;
        // Pick a free port; the small race with other processes is retried.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let mut child = Command::new(&bin)
                .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
                .arg(store.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .with_context(|| format!("starting {}", bin.display()))?;
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(Self {
                        url: format!("nats://127.0.0.1:{port}"),
                        child,
                        _store: store,
                    });
                }
                if child.try_wait()?.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        bail!("nats-server did not start")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A program on `PATH`, or in `/usr/sbin` where Debian puts nats-server.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}
