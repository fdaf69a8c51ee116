//! Rejection-flood benchmark (issue #20): one source floods ingest with
//! bad records while a prober logs in and another source ingests good
//! events; prints the prober's latencies (p50, p99, max), the flooder's
//! answers, the server's peak memory and the data directory's size.
//!
//! `cargo bench -p e2e --bench flood` starts the real binary (the bench
//! profile's, or `$GOVPULSE_BIN`) on port 0 with a fresh data directory.
//! Environment: GOVPULSE_BENCH_SECONDS (default 30),
//! GOVPULSE_BENCH_FLOOD_MIB per flood request (default 2: a million `x`
//! lines, the probe's request), GOVPULSE_BENCH_POLITE=1 to make the
//! flooder wait out each `Retry-After` (sending at its limit) instead of
//! knocking again at once.

use e2e::{AppOptions, E2E_PASSWORD, E2E_USER, accepted_event, add_source, spawn_app};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{name:<22} n={:<5} p50={:>7.1} ms  p99={:>7.1} ms  max={:>7.1} ms",
        v.len(),
        ms(percentile(&v, 0.5)),
        ms(percentile(&v, 0.99)),
        ms(v.last().copied().unwrap_or_default()),
    );
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = env_or("GOVPULSE_BENCH_SECONDS", 30);
    let flood_mib: usize = env_or("GOVPULSE_BENCH_FLOOD_MIB", 2);
    let polite = std::env::var("GOVPULSE_BENCH_POLITE").is_ok_and(|v| v == "1");
    let app = Arc::new(
        spawn_app(AppOptions::default())
            .await
            .expect("server starts"),
    );
    let steady = add_source(&app.data_dir, "steady", "VN").expect("source");
    println!(
        "binary {}; flood {flood_mib} MiB of `x` lines a request, {}; {seconds} s",
        e2e::govpulse_bin().unwrap().display(),
        if polite {
            "waiting out Retry-After"
        } else {
            "knocking again at once"
        }
    );
    let junk: bytes::Bytes = "x\n".repeat(flood_mib << 19).into();
    let stop = Arc::new(AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<(u16, Duration)>>> = Arc::default();
    let rejected = Arc::new(AtomicU64::new(0));

    let flooder = {
        let (app, stop, answers, rejected) =
            (app.clone(), stop.clone(), answers.clone(), rejected.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = app
                    .http
                    .post(app.url("/api/v1/events"))
                    .bearer_auth(&app.token)
                    .header("content-type", "application/x-ndjson")
                    .body(junk.clone())
                    .send()
                    .await;
                let Ok(r) = r else { continue };
                let status = r.status().as_u16();
                let wait = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                rejected.fetch_add(
                    body["rejected_count"].as_u64().unwrap_or(0),
                    Ordering::Relaxed,
                );
                answers.lock().unwrap().push((status, t.elapsed()));
                if let (true, Some(w)) = (polite, wait) {
                    tokio::time::sleep(Duration::from_secs(w)).await;
                }
            }
        })
    };

    let (mut logins, mut ingests) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let t = Instant::now();
        app.login(E2E_USER, E2E_PASSWORD).await.expect("login");
        logins.push(t.elapsed());
        let batch: Vec<String> = (0..100)
            .map(|i| {
                accepted_event(
                    &format!("steady-{n}-{i}"),
                    "2025-11-20T09:00:00+07:00",
                    "00070",
                    "online",
                )
            })
            .collect();
        n += 1;
        let t = Instant::now();
        let (status, report) = app
            .ingest_as(&steady, &batch.join("\n"))
            .await
            .expect("ingest");
        assert_eq!(status, 200, "{report}");
        ingests.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_secs(120), flooder).await;

    summary("login", logins);
    summary("other source ingest", ingests);
    let answers = answers.lock().unwrap();
    let ok: Vec<Duration> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, d)| *d)
        .collect();
    let refused = answers.iter().filter(|(s, _)| *s == 429).count();
    println!(
        "flooder: {} requests, {} answered 200 ({} rejections counted), {refused} refused with 429",
        answers.len(),
        ok.len(),
        rejected.load(Ordering::Relaxed)
    );
    summary("flood request (200)", ok);
    println!(
        "server peak RSS {:.1} MB; data directory {:.1} MB (govpulse.db {:.1} MB, WAL {:.1} MB)",
        peak_rss(app.pid()) as f64 / 1e6,
        dir_bytes(&app.data_dir) as f64 / 1e6,
        std::fs::metadata(app.data_dir.join("govpulse.db")).map_or(0, |m| m.len()) as f64 / 1e6,
        std::fs::metadata(app.data_dir.join("govpulse.db-wal")).map_or(0, |m| m.len()) as f64 / 1e6,
    );
}
