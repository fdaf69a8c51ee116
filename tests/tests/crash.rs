//! The crash loop of issue #4: ingest continuously, `kill -9` the server at
//! random moments, restart it on the same data directory, and check that
//! every acknowledged event is in the log exactly once and that the KPIs
//! equal those of an uninterrupted run over the same events.
//!
//! `GOVPULSE_CRASH_KILLS` sets the number of kills (20 in CI;
//! `scripts/crash-loop` runs 100) and `GOVPULSE_CRASH_SEED` replays a run.

use e2e::{AppOptions, TestApp, spawn_app};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// xorshift64*: enough randomness for kill moments and batch sizes.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn govpulse(args: &[&str]) -> String {
    e2e::govpulse(args).unwrap()
}

/// Send `batches[*next..]` one after another, advancing `next` and
/// recording every event of an answered batch as acknowledged. Returns when
/// all are sent or a request fails (the server died).
async fn send_all(
    app: &TestApp,
    batches: &[Vec<String>],
    next: &mut usize,
    acked: &mut HashSet<String>,
) {
    while *next < batches.len() {
        let batch = &batches[*next];
        let body = batch.join("\n");
        match app.ingest(&body).await {
            Ok((200, report)) => {
                let rejected = report["rejected"].as_array().map_or(0, Vec::len);
                assert_eq!(rejected, 0, "{report}");
                for line in batch {
                    acked.insert(event_id(line));
                }
                *next += 1;
            }
            Ok((503, _)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Ok((status, report)) => panic!("ingest answered {status}: {report}"),
            Err(_) => return,
        }
    }
}

fn event_id(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["event_id"].as_str().unwrap().to_owned()
}

#[test]
fn kill_9_at_random_moments_loses_nothing_acknowledged_and_counts_nothing_twice() {
    let kills: usize = std::env::var("GOVPULSE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("GOVPULSE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash loop: {kills} kills, GOVPULSE_CRASH_SEED={seed}");
    let mut rng = Rng(seed);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.ndjson");
    let file_s = file.to_str().unwrap();
    // About 3,500 events per kill, so ingest is still running at every kill.
    let scale = format!("{:.4}", 0.0015 * kills.max(5) as f64);
    govpulse(&[
        "generate",
        "--from",
        "2025-11-17",
        "--days",
        "2",
        "--scale",
        &scale,
        "--seed",
        "11",
        "--out",
        file_s,
    ]);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut batches = Vec::new();
    let mut rest = &lines[..];
    while !rest.is_empty() {
        let n = (10 + rng.below(90) as usize).min(rest.len());
        batches.push(rest[..n].to_vec());
        rest = &rest[n..];
    }

    let data = dir.path().join("data");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut app = rt
        .block_on(spawn_app(AppOptions {
            data_dir: Some(data.clone()),
            ..Default::default()
        }))
        .unwrap();
    let token = app.token.clone();
    let (mut next, mut acked) = (0usize, HashSet::new());
    let mut while_sending = 0;
    for k in 0..kills {
        let moment = Duration::from_millis(20 + rng.below(250));
        rt.block_on(async {
            tokio::select! {
                () = send_all(&app, &batches, &mut next, &mut acked) => {}
                () = tokio::time::sleep(moment) => {}
            }
        });
        // SIGKILL while a request is (most likely) inside the server.
        if next < batches.len() {
            while_sending += 1;
        }
        app.kill();
        app = rt
            .block_on(spawn_app(AppOptions {
                data_dir: Some(data.clone()),
                token: Some(token.clone()),
                ..Default::default()
            }))
            .unwrap_or_else(|e| panic!("restart after kill {k} (seed {seed}): {e:#}"));
    }
    eprintln!(
        "{while_sending} of {kills} kills landed while ingesting ({} batches, {} events)",
        batches.len(),
        lines.len()
    );
    assert!(
        while_sending * 10 >= kills * 9,
        "too few kills landed during ingest"
    );
    rt.block_on(send_all(&app, &batches, &mut next, &mut acked));
    assert_eq!(
        next,
        batches.len(),
        "every batch was acknowledged in the end"
    );
    assert_eq!(acked.len(), lines.len());
    rt.block_on(app.settle()).unwrap();

    // Every acknowledged event exactly once.
    let data_s = data.to_str().unwrap();
    let exported = govpulse(&["log", "export", "--data", data_s]);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in exported.lines() {
        *counts.entry(event_id(line)).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "counted twice (seed {seed}): {twice:?}");
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but lost (seed {seed}): {missing:?}"
    );
    let check: serde_json::Value =
        serde_json::from_str(&govpulse(&["log", "check", "--data", data_s])).unwrap();
    assert_eq!(check["records"], lines.len() as u64, "{check}");

    // The KPIs equal those of an uninterrupted run over the same events.
    let args = ["--level", "province", "--period", "day"];
    let from_log = govpulse(&[&["kpi", "--data", data_s][..], &args].concat());
    let uninterrupted = govpulse(&[&["kpi", "--input", file_s][..], &args].concat());
    let a: serde_json::Value = serde_json::from_str(&from_log).unwrap();
    let b: serde_json::Value = serde_json::from_str(&uninterrupted).unwrap();
    assert!(a.as_array().unwrap().len() > 30);
    assert_eq!(a, b, "KPIs after {kills} kills differ (seed {seed})");
}
