//! Live fan-out benchmark (issue #5): many websocket clients subscribed to
//! the overview and to province topics while events flow; prints update
//! delivery latency (p50, p99, max) and the server's memory per connection.
//!
//! `cargo bench -p e2e --bench live` starts the real release binary on port
//! 0 (built by the e2e harness). Environment:
//! GOVPULSE_BENCH_CLIENTS (default 5000), GOVPULSE_BENCH_OVERVIEW_SHARE
//! (default 0.1), GOVPULSE_BENCH_SECONDS of flow (default 30),
//! GOVPULSE_BENCH_INTERVAL_MS between ingest batches (default 250).
//!
//! Latency is from just before the ingest request leaves the feeder to the
//! moment a client has parsed the delta that contains that batch; it
//! includes the durable append (fsync), the engine's DataFusion batch, the
//! hub, the socket and the client's own parsing. Clients and server share
//! the machine's two cores.

use e2e::{AppOptions, TestApp, accepted_event, spawn_app};
use futures::{SinkExt, StreamExt};
use model::live::{ClientMsg, ServerMsg, TopicData};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Batch `i`: one accepted dossier per province, in minute `i % 60`.
fn batch(i: usize, provinces: &[String]) -> String {
    provinces
        .iter()
        .map(|p| {
            accepted_event(
                &format!("b{i}-{p}"),
                &format!("2025-11-20T10:{:02}:00+07:00", i % 60),
                p,
                "online",
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Send instants of each batch, shared with the clients.
type Sent = Arc<Mutex<Vec<Instant>>>;

/// One client: subscribe, note the snapshot's count for its watched
/// province, then turn each delta's count into "batches seen" and record
/// the latency of every batch it newly covers.
async fn client(
    app: Arc<TestApp>,
    topic: String,
    watch: String,
    ready: tokio::sync::mpsc::Sender<()>,
    sent: Sent,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<Duration>> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(app.ws_request(app.cookie.as_deref())).await?;
    let sub = serde_json::to_string(&ClientMsg::Subscribe { topic })?;
    ws.send(Message::Text(sub.into())).await?;
    let count = |data: &TopicData| {
        let TopicData::Overview { rows } = data;
        rows.iter().find(|r| r.code == watch).map(|r| r.accepted)
    };
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
        match serde_json::from_str::<ServerMsg>(&text)? {
            ServerMsg::Snapshot { data, .. } => {
                base = count(&data);
                ready.send(()).await.ok();
            }
            ServerMsg::Delta { data, .. } => {
                let (Some(b), Some(c)) = (base, count(&data)) else {
                    continue;
                };
                let covered = c - b;
                let sent = sent.lock().unwrap_or_else(|p| p.into_inner());
                for i in seen..covered.min(sent.len() as u64) {
                    latencies.push(now.duration_since(sent[i as usize]));
                }
                seen = seen.max(covered);
            }
            ServerMsg::Heartbeat { .. } => {
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
    let units = pipelines::units::UnitRegistry::embedded()?;
    let provinces: Vec<String> = units
        .level(model::UnitLevel::Province)
        .iter()
        .map(|u| u.code.to_string())
        .collect();

    let app = Arc::new(spawn_app(AppOptions::default()).await?);
    // Every province has a row before anyone subscribes.
    let (status, _) = app.ingest(&batch(100_000, &provinces)).await?;
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
    let flow = Instant::now();
    let mut i = 0usize;
    let mut tick = tokio::time::interval(interval);
    while flow.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let body = batch(i, &provinces);
        sent.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Instant::now());
        let (status, _) = app.ingest(&body).await?;
        anyhow::ensure!(status == 200, "ingest failed with {status}");
        i += 1;
    }
    app.settle().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_flow = app.rss_bytes()?;
    stop_tx.send(true).ok();
    let mut latencies = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await? {
            Ok(l) => latencies.extend(l),
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
        "{i} batches of {} events over {seconds} s; {} of {expected} client updates measured, {failed} clients failed",
        provinces.len(),
        latencies.len()
    );
    println!(
        "update delivery latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&latencies, 0.50).as_secs_f64() * 1e3,
        pct(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    println!(
        "server RSS after the flow: {:.1} MB ({:.1} KB a connection over the idle baseline)",
        rss_flow as f64 / 1e6,
        (rss_flow.saturating_sub(rss_before)) as f64 / clients.max(1) as f64 / 1024.0
    );
    Ok(())
}
