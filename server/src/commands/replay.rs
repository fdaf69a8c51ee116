//! `govpulse replay`: send event files to a running server's ingest
//! endpoint, in file order, paced by event time (`--speed`), with a
//! progress bar. A batch the server cannot take now (503) is retried after
//! its `Retry-After`, so nothing acknowledged is lost and nothing is sent
//! twice into the count (the server deduplicates by source and event_id).
//!
//! With `--data DIR --source NAME` it loads the files into the data
//! directory of a stopped server instead (bulk loads, archives): the same
//! validation, scope check, deduplication, durable append and rejected
//! records as ingest, with decoding on one thread and appending on
//! another so the two overlap.

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
    #[arg(
        long,
        env = "GOVPULSE_TOKEN",
        hide_env_values = true,
        required_unless_present = "data"
    )]
    pub token: Option<String>,
    /// Load into this data directory of a stopped server instead of
    /// sending to a running one.
    #[arg(long, requires = "source", conflicts_with_all = ["url", "speed", "token"])]
    pub data: Option<PathBuf>,
    /// With `--data`: the source (from `govpulse sources add`) the events
    /// are loaded as; its units bound them, and duplicates are per source.
    #[arg(long, requires = "data")]
    pub source: Option<String>,
}

pub async fn run(args: Args) -> Result<()> {
    if let (Some(data), Some(source)) = (&args.data, &args.source) {
        let (data, source, files) = (data.clone(), source.clone(), args.files.clone());
        let loaded =
            tokio::task::spawn_blocking(move || load(&data, &source, &files, true)).await??;
        eprintln!("{loaded}");
        return Ok(());
    }
    let token = args
        .token
        .clone()
        .context("--token (or GOVPULSE_TOKEN) is required to send to a server")?;
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
        if let Some(first) = d.rejected.sample().first() {
            let why: Vec<String> = first
                .errors
                .iter()
                .map(|e| format!("{} ({})", e.field, e.rule))
                .collect();
            eprintln!(
                "{}: {} records fail the contract and are not sent; first at line {}: {}",
                path.display(),
                d.rejected.total(),
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
        let report = send(&client, &endpoint, &token, body).await?;
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

/// What a load into a data directory did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Loaded {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub elapsed: Duration,
}

impl std::fmt::Display for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        let n = self.accepted + self.duplicates + self.rejected;
        write!(
            f,
            "loaded {n} records: {} accepted, {} duplicates, {} rejected (kept with their reasons), in {secs:.1} s ({:.0} records/s)",
            self.accepted,
            self.duplicates,
            self.rejected,
            n as f64 / secs.max(1e-9)
        )
    }
}

/// What the decoding thread hands the appending one.
enum Chunk {
    /// A file is starting; about this many records (for the progress bar).
    File(u64),
    Decoded(pipelines::sources::Decoded),
}

/// Events per append (one `fsync` each) when loading text files.
const LOAD_BATCH: usize = 8192;

/// Load `files` into the data directory `data` as `source`: decode and
/// validate on one thread, check scope, append durably and keep the
/// rejections on this one. Fails if a server holds the directory.
pub fn load(
    data: &std::path::Path,
    source: &str,
    files: &[PathBuf],
    show_progress: bool,
) -> Result<Loaded> {
    let started = Instant::now();
    let units = std::sync::Arc::new(UnitRegistry::embedded()?);
    let store = crate::store::Store::open(data)?;
    let info = store.source_by_name(source)?.with_context(|| {
        format!("--source: no source {source:?} (create it with `govpulse sources add`)")
    })?;
    if info.revoked_at.is_some() {
        bail!("--source: source {source:?} is revoked");
    }
    for path in files {
        if Format::from_path(path).is_none() {
            bail!(
                "{}: unknown extension (use .ndjson, .jsonl, .csv or .parquet)",
                path.display()
            );
        }
    }
    let mut log = crate::log::EventLog::open(data)?;
    let bar = if show_progress {
        super::progress(0, "records")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Chunk>>(2);
    let decoder = {
        let files = files.to_vec();
        let units = units.clone();
        std::thread::spawn(move || {
            for path in files {
                if let Err(e) = decode_file(&path, &units, &tx) {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        })
    };
    let mut out = Loaded::default();
    let mut failed = None;
    for chunk in rx {
        let decoded = match chunk {
            Ok(Chunk::File(rows)) => {
                bar.inc_length(rows);
                continue;
            }
            Ok(Chunk::Decoded(d)) => d,
            Err(e) => {
                failed = Some(e);
                break;
            }
        };
        let n = decoded.events.len() as u64 + decoded.rejected.total();
        let pipelines::sources::Decoded { events, rejected } =
            crate::ingest::enforce_scope(&units, &info, decoded);
        let appended = log.append(&info.name, events.iter().map(|(_, e)| e))?;
        store.add_rejections(&info.name, rejected.sample())?;
        out.accepted += appended.accepted;
        out.duplicates += appended.duplicates;
        out.rejected += usize::try_from(rejected.total()).unwrap_or(usize::MAX);
        bar.inc(n);
    }
    // The decoder stops at its next send once the receiver is gone.
    let _ = decoder.join();
    bar.finish_and_clear();
    if let Some(e) = failed {
        return Err(e);
    }
    out.elapsed = started.elapsed();
    Ok(out)
}

/// Decode one file into chunks on `tx`: Parquet one Arrow batch at a
/// time, text formats whole and then cut into [`LOAD_BATCH`] events.
fn decode_file(
    path: &std::path::Path,
    units: &UnitRegistry,
    tx: &std::sync::mpsc::SyncSender<Result<Chunk>>,
) -> Result<()> {
    let format = Format::from_path(path).context("checked before")?;
    let bytes = bytes::Bytes::from(
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let send = |c: Chunk| {
        tx.send(Ok(c))
            .map_err(|_| anyhow::anyhow!("appender stopped"))
    };
    // The clock rule of HTTP ingest: nothing from beyond the allowed skew.
    let checks = Checks {
        not_after: Some(
            (chrono::Utc::now() + chrono::Duration::minutes(crate::ingest::MAX_SKEW_MINUTES))
                .fixed_offset(),
        ),
    };
    if format == Format::Parquet {
        let rows = pipelines::sources::parquet::row_count(&bytes).unwrap_or(0);
        send(Chunk::File(rows))?;
        for d in pipelines::sources::parquet::batches(bytes, units, checks) {
            send(Chunk::Decoded(d))?;
        }
        return Ok(());
    }
    send(Chunk::File(memchr_count(&bytes)))?;
    let d = decode(format, bytes, units, checks);
    let mut rejected = d.rejected;
    let mut events = d.events.into_iter().peekable();
    // The file's rejections (all counted, the first few in full) go with
    // its last events.
    while events.peek().is_some() || !rejected.is_empty() {
        let chunk: Vec<_> = events.by_ref().take(LOAD_BATCH).collect();
        let rejected = if events.peek().is_none() {
            std::mem::take(&mut rejected)
        } else {
            Default::default()
        };
        send(Chunk::Decoded(pipelines::sources::Decoded {
            events: chunk,
            rejected,
        }))?;
    }
    Ok(())
}

/// Lines in a text file, for the progress bar.
fn memchr_count(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}
