//! Live fan-out benchmark (issue #5): many websocket clients subscribed to
//! the overview and to province topics while events flow; prints update
//! delivery latency (p50, p99, max) and the server's memory per connection.
//!
//! `cargo bench -p govpulse --bench live` starts the real release binary on
//! port 0 with a fresh data directory, a source and a committee account
//! made with its own CLI. Environment:
//! GOVPULSE_BENCH_CLIENTS (default 5000), GOVPULSE_BENCH_OVERVIEW_SHARE
//! (default 0.1), GOVPULSE_BENCH_SECONDS of flow (default 30),
//! GOVPULSE_BENCH_INTERVAL_MS between ingest batches (default 250),
//! GOVPULSE_BENCH_EVENTS_PER_PROVINCE in each batch (default 1; 147 with
//! 34 provinces every 250 ms is 20,000 events a second).
//!
//! Latency is from just before the ingest request leaves the feeder to the
//! moment a client has parsed the delta that contains that batch; it
//! includes the durable append (fsync), the engine's DataFusion batch, the
//! hub, the socket and the client's own parsing. Clients and server share
//! the machine's two cores.

use futures::{SinkExt, StreamExt};
use model::live::ClientMsg;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const BIN: &str = env!("CARGO_BIN_EXE_govpulse");
const PASSWORD: &str = "bench-password-not-secret";

/// The server under test, killed when dropped.
struct Server {
    addr: String,
    token: String,
    cookie: String,
    child: Child,
    http: reqwest::Client,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdin"))?
            .write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "govpulse {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The scrape token of `/metrics` and the full `/healthz` for this run.
const METRICS_TOKEN: &str = "bench-metrics-token-not-secret";

impl Server {
    async fn start() -> anyhow::Result<Self> {
        let data = tempfile::tempdir()?;
        let dir = data.path().to_str().unwrap_or_default().to_owned();
        let token = cli(
            &[
                "sources", "add", "--name", "bench", "--units", "VN", "--data", &dir,
            ],
            None,
        )?
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned();
        cli(
            &[
                "users",
                "add",
                "--name",
                "bench",
                "--role",
                "committee",
                "--password-stdin",
                "--data",
                &dir,
            ],
            Some(&format!("{PASSWORD}\n")),
        )?;
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--data", &dir])
            .env("GOVPULSE_LOG", "warn")
            .env("GOVPULSE__METRICS__TOKEN", METRICS_TOKEN)
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .ok_or_else(|| anyhow::anyhow!("server exited"))??;
            if let Some(a) = line.strip_prefix("govpulse listening on http://") {
                break a.trim_end_matches('/').to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let http = reqwest::Client::new();
        let login = http
            .post(format!("http://{addr}/api/v1/session"))
            .header("origin", format!("http://{addr}"))
            .json(&serde_json::json!({ "username": "bench", "password": PASSWORD }))
            .send()
            .await?;
        let cookie = login
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next())
            .find(|c| c.starts_with("__Host-govpulse="))
            .ok_or_else(|| anyhow::anyhow!("login failed: {}", login.status()))?
            .to_owned();
        Ok(Self {
            addr,
            token,
            cookie,
            child,
            http,
            _data: data,
        })
    }

    async fn ingest(&self, ndjson: String) -> anyhow::Result<u16> {
        Ok(self
            .http
            .post(format!("http://{}/api/v1/events", self.addr))
            .bearer_auth(&self.token)
            .header("content-type", "application/x-ndjson")
            .body(ndjson)
            .send()
            .await?
            .status()
            .as_u16())
    }

    /// Wait until the engine has read everything the log committed.
    async fn settle(&self) -> anyhow::Result<()> {
        for _ in 0..600 {
            let h: serde_json::Value = self
                .http
                .get(format!("http://{}/healthz", self.addr))
                .bearer_auth(METRICS_TOKEN)
                .send()
                .await?
                .json()
                .await?;
            if h["engine_offset"] == h["log_bytes"] {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("the engine did not catch up")
    }

    fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no VmRSS"))?;
        Ok(kb * 1024)
    }

    fn ws_request(&self) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{}/api/v1/live", self.addr)
            .into_client_request()
            .expect("a websocket URL");
        req.headers_mut()
            .insert("cookie", self.cookie.parse().expect("a cookie header"));
        req
    }
}

/// User + system CPU seconds of a process so far (`/proc/PID/stat`, in
/// clock ticks of 1/100 s).
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

fn accepted_event(id: &str, at: &str, unit: &str) -> String {
    serde_json::json!({
        "event_id": id, "kind": "dossier", "occurred_at": at, "unit": unit,
        "dossier_id": id, "status": "accepted", "procedure_code": "1.001757",
        "channel": "online", "due_at": "2025-11-25T17:00:00+07:00",
    })
    .to_string()
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Batch `i`: one accepted dossier per province, in minute `i % 60`.
fn batch(i: usize, provinces: &[String], per_province: usize) -> String {
    provinces
        .iter()
        .flat_map(|p| {
            (0..per_province).map(move |k| {
                accepted_event(
                    &format!("b{i}-{p}-{k}"),
                    &format!("2025-11-20T10:{:02}:00+07:00", i % 60),
                    p,
                )
            })
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a load-generating client reads of a server message: its type,
/// and the count of the watched province's row if the message has one.
/// A scan for two keys instead of a JSON parse: 500 overview clients
/// parsing 66 KB deltas four times a second would spend a core in the load
/// generator, on the machine the server runs on. (The server writes
/// `type` first and a row's `code` before its `accepted`.)
fn scan<'a>(text: &'a str, watch: &str) -> (&'a str, Option<u64>) {
    let kind = text
        .strip_prefix("{\"type\":\"")
        .and_then(|t| t.split('"').next())
        .unwrap_or("");
    let needle = format!("\"code\":\"{watch}\"");
    let count = text.find(&needle).and_then(|at| {
        let rest = &text[at + needle.len()..];
        let key = "\"accepted\":";
        let digits = &rest[rest.find(key)? + key.len()..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().ok()
    });
    (kind, count)
}

/// Send instants of each batch, shared with the clients.
type Sent = Arc<Mutex<Vec<Instant>>>;

/// One client: subscribe, note the snapshot's count for its watched
/// province, then turn each delta's count into "batches seen" and record
/// the latency of every batch it newly covers.
async fn client(
    app: Arc<Server>,
    topic: String,
    watch: String,
    ready: tokio::sync::mpsc::Sender<()>,
    sent: Sent,
    stop: tokio::sync::watch::Receiver<bool>,
    per_province: u64,
) -> anyhow::Result<Vec<Duration>> {
    // A browser is not on the server's cores; these clients are. Their
    // library's default 128 KiB read buffer is zeroed on every read, which
    // made memset a quarter of the machine's busy time, so they read into
    // 8 KiB (an overview delta fits) like the server does into 4 KiB.
    let config = WebSocketConfig::default().read_buffer_size(8 * 1024);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(app.ws_request(), Some(config), true).await?;
    let sub = serde_json::to_string(&ClientMsg::Subscribe { topic })?;
    ws.send(Message::Text(sub.into())).await?;
    let mut base = None;
    let mut seen = 0u64;
    let mut latencies = Vec::new();
    let mut stop = stop;
    loop {
        let frame = tokio::select! {
            f = ws.next() => f,
            _ = stop.changed() => break,
        };
        let Some(frame) = frame else { break };
        let Message::Text(text) = frame? else {
            continue;
        };
        let now = Instant::now();
        let (kind, count) = scan(&text, &watch);
        match kind {
            "snapshot" => {
                base = count;
                ready.send(()).await.ok();
            }
            "delta" => {
                let (Some(b), Some(c)) = (base, count) else {
                    continue;
                };
                // Each batch adds `per_province` to the watched count.
                let covered = c.saturating_sub(b) / per_province.max(1);
                let sent = sent.lock().unwrap_or_else(|p| p.into_inner());
                for i in seen..covered.min(sent.len() as u64) {
                    latencies.push(now.duration_since(sent[i as usize]));
                }
                seen = seen.max(covered);
            }
            "heartbeat" => {
                let ping = serde_json::to_string(&ClientMsg::Ping)?;
                ws.send(Message::Text(ping.into())).await?;
            }
            _ => {}
        }
    }
    Ok(latencies)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let clients: usize = env("GOVPULSE_BENCH_CLIENTS", 5000);
    let overview_share: f64 = env("GOVPULSE_BENCH_OVERVIEW_SHARE", 0.1);
    let seconds: u64 = env("GOVPULSE_BENCH_SECONDS", 30);
    let interval = Duration::from_millis(env("GOVPULSE_BENCH_INTERVAL_MS", 250));
    let per_province: usize = env("GOVPULSE_BENCH_EVENTS_PER_PROVINCE", 1);
    let units = pipelines::units::UnitRegistry::embedded()?;
    let provinces: Vec<String> = units
        .level(model::UnitLevel::Province)
        .iter()
        .map(|u| u.code.to_string())
        .collect();

    let app = Arc::new(Server::start().await?);
    // Every province has a row before anyone subscribes.
    let status = app.ingest(batch(100_000, &provinces, 1)).await?;
    anyhow::ensure!(status == 200, "warm-up ingest failed");
    app.settle().await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = app.rss_bytes()?;

    let sent: Sent = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(clients.max(1));
    let overview_clients = (clients as f64 * overview_share).round() as usize;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    let mut topics: HashMap<&str, usize> = HashMap::new();
    for i in 0..clients {
        let province = provinces[i % provinces.len()].clone();
        let topic = if i < overview_clients {
            *topics.entry("overview").or_default() += 1;
            "overview".to_owned()
        } else {
            *topics.entry("unit/…").or_default() += 1;
            format!("unit/{province}")
        };
        tasks.push(tokio::spawn(client(
            app.clone(),
            topic,
            province,
            ready_tx.clone(),
            sent.clone(),
            stop_rx.clone(),
            per_province as u64,
        )));
        // Connect in waves so the listen backlog never overflows.
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for _ in 0..clients {
        tokio::time::timeout(Duration::from_secs(120), ready_rx.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("a client failed before its snapshot"))?;
    }
    let connect_secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = app.rss_bytes()?;
    println!(
        "live benchmark: {clients} clients ({} overview, {} province topics) connected and subscribed in {connect_secs:.1} s",
        topics.get("overview").copied().unwrap_or(0),
        topics.get("unit/…").copied().unwrap_or(0)
    );
    println!(
        "server RSS: {:.1} MB before, {:.1} MB with {clients} clients: {:.1} KB a connection",
        rss_before as f64 / 1e6,
        rss_connected as f64 / 1e6,
        (rss_connected.saturating_sub(rss_before)) as f64 / clients.max(1) as f64 / 1024.0
    );

    // Events flow: one batch touching every province each interval.
    let server_pid = app.child.id().to_string();
    let cpu_before = (cpu_secs(&server_pid), cpu_secs("self"));
    let flow = Instant::now();
    let mut i = 0usize;
    let mut tick = tokio::time::interval(interval);
    while flow.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let body = batch(i, &provinces, per_province);
        sent.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Instant::now());
        let status = app.ingest(body).await?;
        anyhow::ensure!(status == 200, "ingest failed with {status}");
        i += 1;
    }
    let flow_secs = flow.elapsed().as_secs_f64();
    let cpu = (
        cpu_secs(&server_pid) - cpu_before.0,
        cpu_secs("self") - cpu_before.1,
    );
    app.settle().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_flow = app.rss_bytes()?;
    stop_tx.send(true).ok();
    let mut latencies = Vec::new();
    let mut by_kind = [Vec::new(), Vec::new()];
    let mut failed = 0;
    for (n, t) in tasks.into_iter().enumerate() {
        match t.await? {
            Ok(l) => {
                by_kind[usize::from(n < overview_clients)].extend(l.iter().copied());
                latencies.extend(l);
            }
            Err(e) => {
                failed += 1;
                if failed == 1 {
                    eprintln!("client error: {e:#}");
                }
            }
        }
    }
    latencies.sort_unstable();
    let expected = clients * i;
    println!(
        "{i} batches of {} events over {seconds} s ({:.0} events/s); {} of {expected} client updates measured, {failed} clients failed",
        provinces.len() * per_province,
        (i * provinces.len() * per_province) as f64 / flow_secs,
        latencies.len()
    );
    println!(
        "update delivery latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&latencies, 0.50).as_secs_f64() * 1e3,
        pct(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    println!(
        "CPU during the flow: server {:.0} % of one core, clients and feeder {:.0} % (2 cores in all)",
        cpu.0 / flow_secs * 100.0,
        cpu.1 / flow_secs * 100.0
    );
    for (name, mut l) in ["province topics", "overview"].into_iter().zip(by_kind) {
        l.sort_unstable();
        println!(
            "  {name}: p50 {:.1} ms, p99 {:.1} ms",
            pct(&l, 0.50).as_secs_f64() * 1e3,
            pct(&l, 0.99).as_secs_f64() * 1e3
        );
    }
    let metrics = app
        .http
        .get(format!("http://{}/metrics", app.addr))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await?
        .text()
        .await?;
    let value = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (sum, n) = (
        value("govpulse_pipeline_latency_seconds_sum"),
        value("govpulse_pipeline_latency_seconds_count"),
    );
    // Percentiles as the upper bound of the histogram bucket they fall in.
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("govpulse_pipeline_latency_seconds_bucket{le=\"")?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.parse().ok()?))
        })
        .collect();
    let bound = |q: f64| {
        buckets
            .iter()
            .find(|(_, c)| *c >= q * n)
            .map_or(f64::NAN, |(le, _)| *le * 1e3)
    };
    println!(
        "inside the server, log commit seen -> KPI state and rows updated: mean {:.1} ms over {n} engine batches, p50 <= {} ms, p99 <= {} ms; {} updates coalesced for slow clients",
        if n > 0.0 { sum / n * 1e3 } else { 0.0 },
        bound(0.5),
        bound(0.99),
        value("govpulse_ws_coalesced_updates_total")
    );
    println!(
        "server RSS after the flow: {:.1} MB ({:.1} KB a connection over the idle baseline)",
        rss_flow as f64 / 1e6,
        (rss_flow.saturating_sub(rss_before)) as f64 / clients.max(1) as f64 / 1024.0
    );
    Ok(())
}
