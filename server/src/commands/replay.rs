//! `govpulse replay`: send event files to a running server's ingest
//! endpoint, in file order, paced by event time (`--speed`), with a
//! progress bar. A batch the server cannot take now (503) is retried after
//! its `Retry-After`, so nothing acknowledged is lost and nothing is sent
//! twice into the count (the server deduplicates by source and event_id).

use anyhow::{Context, Result, bail};
use pipelines::sources::validate::Checks;
use pipelines::sources::{Format, decode};
use pipelines::units::UnitRegistry;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Event files (.ndjson, .jsonl, .csv, .parquet), sent in order.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Event-time seconds per wall-clock second; 0 sends as fast as the
    /// server takes them.
    #[arg(long, default_value_t = 0.0)]
    pub speed: f64,
    /// Events per request.
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
    /// The source token (from `govpulse sources add`).
    #[arg(long, env = "GOVPULSE_TOKEN", hide_env_values = true)]
    pub token: String,
}

pub async fn run(args: Args) -> Result<()> {
    anyhow::ensure!(
        args.speed >= 0.0,
        "--speed must be 0 (as fast as possible) or positive"
    );
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    let units = UnitRegistry::embedded()?;
    let mut events = Vec::new();
    for path in &args.files {
        let Some(format) = Format::from_path(path) else {
            bail!(
                "{}: unknown extension (use .ndjson, .jsonl, .csv or .parquet)",
                path.display()
            );
        };
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let d = decode(format, bytes.into(), &units, Checks::default());
        if let Some(first) = d.rejected.first() {
            let why: Vec<String> = first
                .errors
                .iter()
                .map(|e| format!("{} ({})", e.field, e.rule))
                .collect();
            eprintln!(
                "{}: {} records fail the contract and are not sent; first at line {}: {}",
                path.display(),
                d.rejected.len(),
                first.line,
                why.join(", ")
            );
        }
        events.extend(d.events.into_iter().map(|(_, e)| e));
    }
    let client = reqwest::Client::new();
    let endpoint = format!("{}/api/v1/events", args.url.trim_end_matches('/'));
    let bar = super::progress(events.len() as u64, "events");
    let started = Instant::now();
    let t0 = events.first().map(|e| e.occurred_at);
    let (mut accepted, mut duplicates, mut rejected) = (0u64, 0u64, 0u64);
    for chunk in events.chunks(args.batch) {
        if let (Some(t0), Some(last)) = (t0, chunk.last())
            && args.speed > 0.0
        {
            let due = (last.occurred_at - t0).num_milliseconds().max(0) as f64 / args.speed;
            let wait = due - started.elapsed().as_millis() as f64;
            if wait > 0.0 {
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
        }
        let mut body = Vec::with_capacity(chunk.len() * 256);
        for e in chunk {
            serde_json::to_writer(&mut body, e)?;
            body.push(b'\n');
        }
        let report = send(&client, &endpoint, &args.token, body).await?;
        accepted += report["accepted"].as_u64().unwrap_or(0);
        duplicates += report["duplicates"].as_u64().unwrap_or(0);
        rejected += report["rejected"].as_array().map_or(0, |r| r.len() as u64);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "sent {} events to {}: {accepted} accepted, {duplicates} duplicates, {rejected} rejected by the server, in {secs:.1} s ({:.0} events/s)",
        events.len(),
        args.url,
        events.len() as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// POST one batch, retrying while the server answers 503.
async fn send(
    client: &reqwest::Client,
    endpoint: &str,
    token: &str,
    body: Vec<u8>,
) -> Result<serde_json::Value> {
    let mut backoff = Duration::from_millis(200);
    for _ in 0..20 {
        let resp = client
            .post(endpoint)
            .header("content-type", "application/x-ndjson")
            .bearer_auth(token)
            .body(body.clone())
            .send()
            .await
            .with_context(|| format!("sending to {endpoint}"))?;
        let status = resp.status();
        if status.as_u16() == 503 {
            let after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(backoff, Duration::from_secs);
            tokio::time::sleep(after.min(Duration::from_secs(30))).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
            continue;
        }
        let json: serde_json::Value = resp
            .json()
            .await
            .with_context(|| format!("reading the answer of {endpoint}"))?;
        if !status.is_success() {
            bail!(
                "{endpoint} answered {status}: {}",
                json["error"].as_str().unwrap_or("no reason given")
            );
        }
        return Ok(json);
    }
    bail!("{endpoint} kept answering 503; stopped after 20 tries")
}
