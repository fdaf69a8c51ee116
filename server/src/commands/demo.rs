//! `govpulse demo`: a server on a fresh temporary data directory, fed with
//! generated events in accelerated time so the dashboard moves within
//! seconds of opening it.
//!
//! The generator makes the most recent working day and the day before it
//! (local time); on a weekend or holiday that working day is shifted to
//! today, so there is always office-hours activity to watch. Everything older
//! than `--lead` before now is ingested at once; the last `--lead` is replayed
//! `--speed` times faster than real time until the replay clock reaches now,
//! and from then on in real time. Events are never sent before the replay
//! clock passes their time, so the server's future-time check holds.

use crate::config::Config;
use crate::ingest;
use anyhow::{Context, Result};
use chrono::{Duration, Utc};
use model::calendar::vn_offset;
use sample_data::generator::{GenConfig, Generator, Record, Scenario};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Share of national volume to simulate.
    #[arg(long, default_value_t = 0.02)]
    pub scale: f64,
    /// How many times faster than real time the recent past is replayed.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Minutes of recent past replayed in accelerated time.
    #[arg(long, default_value_t = 120)]
    pub lead: i64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// baseline or lagging.
    #[arg(long, default_value = "lagging")]
    pub scenario: Scenario,
    /// Directory of the built dashboard bundle.
    #[arg(long)]
    pub web: Option<std::path::PathBuf>,
}

/// The source name of the demo's events.
const DEMO_SOURCE: &str = "demo";

pub async fn run(args: Args, mut config: Config) -> Result<()> {
    anyhow::ensure!(args.speed >= 1.0, "--speed must be at least 1");
    let data = tempfile::tempdir().context("temporary data directory")?;
    config.server.addr = args.addr.clone();
    config.server.data_dir = data.path().to_owned();
    config.sample.load = false;
    if let Some(web) = args.web.clone() {
        config.server.web_dir = web;
    }
    eprintln!("data directory {} (removed on exit)", data.path().display());
    let running = crate::serve::start(config).await?;
    let state = running.state.clone();

    let today = Utc::now().with_timezone(&vn_offset()).date_naive();
    let calendar = sample_data::calendar()?;
    let mut workday = today;
    while !calendar.is_working_day(workday) {
        workday -= Duration::days(1);
    }
    let shift = today - workday;
    let cfg = GenConfig {
        scenario: args.scenario,
        ..GenConfig::new(workday - Duration::days(1), 2, args.scale, args.seed)
    };
    let records = tokio::task::spawn_blocking(move || -> Result<Vec<model::Event>> {
        let mut out = Vec::new();
        Generator::new(cfg)?.run(
            |r| {
                if let Record::Event(mut e) = r {
                    e.occurred_at += shift;
                    e.due_at = e.due_at.map(|d| d + shift);
                    out.push(e);
                }
                Ok::<_, std::convert::Infallible>(())
            },
            |_| {},
        )?;
        // Replay in event-time order; arrival jitter is the network's job.
        out.sort_by_key(|e| e.occurred_at);
        Ok(out)
    })
    .await??;
    eprintln!(
        "replaying {} generated events (scale {}, {} x speed)",
        records.len(),
        args.scale,
        args.speed
    );

    let source = ingest::internal_source(DEMO_SOURCE);
    let replay = async move {
        let started = Instant::now();
        let t0 = Utc::now() - Duration::minutes(args.lead);
        let mut next = 0;
        loop {
            let elapsed = Duration::from_std(started.elapsed()).unwrap_or_default();
            let accelerated = t0
                + Duration::milliseconds((elapsed.num_milliseconds() as f64 * args.speed) as i64);
            let clock = accelerated.min(Utc::now());
            let upto = records[next..].partition_point(|e| e.occurred_at <= clock) + next;
            if upto > next {
                let mut body = Vec::new();
                for e in &records[next..upto] {
                    serde_json::to_writer(&mut body, e)?;
                    body.push(b'\n');
                }
                ingest::ingest_ndjson(&state, &source, body.into(), true).await?;
                next = upto;
            }
            if next == records.len() {
                eprintln!("replay finished; still serving");
                return Ok::<_, anyhow::Error>(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    };
    let replay = tokio::spawn(async move {
        if let Err(e) = replay.await {
            tracing::error!("demo replay stopped: {e:#}");
        }
    });
    let result = running.wait().await;
    replay.abort();
    result
}
