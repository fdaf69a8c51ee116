//! The command line as a user runs it: `govpulse generate` writes the same
//! stream in every format, `govpulse kpi` reads files and a server's data
//! directory, and bad arguments get clear errors.

use e2e::{AppOptions, govpulse_bin, spawn_app};
use serde_json::Value;
use std::process::Command;

fn govpulse(args: &[&str]) -> std::process::Output {
    Command::new(govpulse_bin().unwrap())
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One generated day (2025-11-18) in `format` under `dir`.
fn generate_day(
    dir: &std::path::Path,
    format: &str,
    scale: &str,
    seed: &str,
) -> std::path::PathBuf {
    let file = dir.join(format!("day.{format}"));
    ok(govpulse(&[
        "generate",
        "--from",
        "2025-11-18",
        "--days",
        "1",
        "--scale",
        scale,
        "--seed",
        seed,
        "--format",
        format,
        "--out",
        file.to_str().unwrap(),
    ]));
    file
}

fn nation_all(stdout: &str) -> Value {
    let rows: Value = serde_json::from_str(stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    rows[0].clone()
}

#[test]
fn generate_then_kpi_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for format in ["ndjson", "csv", "parquet"] {
        let out = dir.path().join(format!("week.{format}"));
        let out_s = out.to_str().unwrap();
        let generated = govpulse(&[
            "generate",
            "--from",
            "2025-11-17",
            "--days",
            "5",
            "--scale",
            "0.002",
            "--seed",
            "5",
            "--format",
            format,
            "--out",
            out_s,
        ]);
        let stderr = String::from_utf8_lossy(&generated.stderr).into_owned();
        assert!(generated.status.success(), "{stderr}");
        assert!(
            stderr.contains("events/s"),
            "throughput is reported: {stderr}"
        );
        let kpi = ok(govpulse(&[
            "kpi", "--input", out_s, "--level", "nation", "--period", "all",
        ]));
        results.push(nation_all(&kpi));
    }
    assert_eq!(results[0], results[1], "CSV gives the same KPIs as NDJSON");
    assert_eq!(
        results[0], results[2],
        "Parquet gives the same KPIs as NDJSON"
    );
    let online = &results[0]["kpis"]["online_dossiers"];
    let pct = online["value"].as_f64().unwrap();
    // The national blend of the 2024 baselines (59.6 % and 56 %), with the
    // lag of online acceptance at the end of a short run.
    assert!((45.0..65.0).contains(&pct), "{online}");
    assert!(results[0]["overdue_open"].as_i64().unwrap() >= 0);
}

#[test]
fn kpi_reads_a_server_data_directory_and_csv_has_every_column() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt
        .block_on(spawn_app(AppOptions {
            sample: true,
            ..Default::default()
        }))
        .unwrap();
    rt.block_on(app.settle()).unwrap();
    let mut app = app;
    app.kill();
    let data = app.data_dir.to_str().unwrap().to_owned();
    let csv = ok(govpulse(&[
        "kpi", "--data", &data, "--level", "province", "--period", "hour", "--format", "csv",
    ]));
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in [
        "period",
        "unit",
        "online_dossiers_numerator",
        "on_time_pct",
        "video_meetings_denominator",
        "overdue_open",
        "due_soon_open",
    ] {
        assert!(header.contains(&col), "{col} missing from {header:?}");
    }
    let accepted: i64 = lines
        .map(|l| {
            l.split(',')
                .nth(
                    header
                        .iter()
                        .position(|c| *c == "online_dossiers_denominator")
                        .unwrap(),
                )
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(accepted, 120, "the 120 accepted sample dossiers");

    // Broken down by procedure, the same dossiers spread over procedure rows.
    let by = ok(govpulse(&[
        "kpi",
        "--data",
        &data,
        "--level",
        "nation",
        "--period",
        "all",
        "--by",
        "procedure",
    ]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&by).unwrap();
    let procedures: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["procedure"].as_str())
        .collect();
    assert!(procedures.len() > 1, "{procedures:?}");
    assert!(
        procedures
            .iter()
            .all(|p| p.len() == 8 && p.as_bytes()[1] == b'.')
    );
    let accepted: i64 = rows
        .iter()
        .map(|r| {
            r["kpis"]["online_dossiers"]["denominator"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert_eq!(accepted, 120);

    // Broken down by channel: online dossiers are exactly the online row.
    let by = ok(govpulse(&[
        "kpi", "--data", &data, "--level", "nation", "--period", "all", "--by", "channel",
    ]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&by).unwrap();
    let dossiers = |r: &serde_json::Value| {
        let k = &r["kpis"]["online_dossiers"];
        (
            r["channel"].as_str().unwrap_or("").to_owned(),
            k["numerator"].as_i64().unwrap(),
            k["denominator"].as_i64().unwrap(),
        )
    };
    let split: Vec<_> = rows.iter().map(dossiers).filter(|d| d.2 > 0).collect();
    assert!(split.len() >= 2, "{split:?}");
    assert_eq!(split.iter().map(|d| d.2).sum::<i64>(), 120);
    for (channel, online, accepted) in split {
        let expected = if channel == "online" { accepted } else { 0 };
        assert_eq!(online, expected, "{channel}");
    }
}

#[test]
fn bad_arguments_are_named() {
    let out = govpulse(&[
        "generate",
        "--from",
        "2025-11-17",
        "--days",
        "0",
        "--scale=-1",
        "--out",
        "/tmp/never.ndjson",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--scale") && err.contains("--days"), "{err}");
    let out = govpulse(&["kpi", "--data", "/nonexistent/govpulse"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no event log"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = govpulse(&["kpi", "--input", "/tmp/x.ndjson", "--level", "galaxy"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("galaxy"));
    let out = govpulse(&[
        "generate",
        "--from",
        "2025-11-17",
        "--scenario",
        "chaos",
        "--out",
        "/tmp/never.ndjson",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("baseline, lagging or dirty"));
}

#[test]
fn replay_feeds_a_running_server_and_counts_match_the_batch_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = generate_day(dir.path(), "ndjson", "0.002", "8");
    let file_s = file.to_str().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(spawn_app(AppOptions::default())).unwrap();
    let url = format!("http://{}", app.addr);
    let out = govpulse(&[
        "replay", file_s, "--url", &url, "--batch", "700", "--token", &app.token,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("0 duplicates") && stderr.contains("0 rejected"),
        "{stderr}"
    );
    // Replaying again is safe: everything is a duplicate.
    let again = govpulse(&["replay", file_s, "--url", &url, "--token", &app.token]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains(" 0 accepted"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    rt.block_on(app.settle()).unwrap();
    let overview = rt.block_on(app.get_json("/api/v1/overview")).unwrap();
    let live: u64 = overview["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["accepted"].as_u64().unwrap())
        .sum();
    let batch = nation_all(&ok(govpulse(&[
        "kpi", "--input", file_s, "--level", "nation", "--period", "all",
    ])));
    assert_eq!(
        live as i64,
        batch["kpis"]["online_dossiers"]["denominator"]
            .as_i64()
            .unwrap()
    );
    assert!(live > 100);
}

/// The `online_dossiers` denominator of `unit` in a `kpi --level province
/// --period all` JSON answer.
fn accepted_of(stdout: &str, unit: &str) -> i64 {
    let rows: Value = serde_json::from_str(stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"] == unit)
        .map_or(0, |r| {
            r["kpis"]["online_dossiers"]["denominator"]
                .as_i64()
                .unwrap()
        })
}

#[test]
fn replay_loads_a_stopped_servers_data_directory_within_the_sources_scope() {
    let dir = tempfile::tempdir().unwrap();
    let file = generate_day(dir.path(), "parquet", "0.003", "5");
    let file_s = file.to_str().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    // A Hà Nội archive: every other province's events are out of scope.
    e2e::add_source(&data, "hanoi-archive", "01").unwrap();

    let out = govpulse(&[
        "replay",
        file_s,
        "--data",
        data_s,
        "--source",
        "hanoi-archive",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let count = |what: &str| -> i64 {
        let words: Vec<&str> = stderr.split([' ', ',', ':']).collect();
        let i = words
            .iter()
            .position(|w| *w == what)
            .unwrap_or_else(|| panic!("{stderr}"));
        words[i - 1].parse().unwrap()
    };
    let (accepted, rejected) = (count("accepted"), count("rejected"));
    assert!(accepted > 50 && rejected > accepted, "{stderr}");
    assert_eq!(count("duplicates"), 0, "{stderr}");

    // What landed is exactly Hà Nội's part of the file.
    let from_file = ok(govpulse(&[
        "kpi", "--input", file_s, "--level", "province", "--period", "all",
    ]));
    let from_log = ok(govpulse(&[
        "kpi", "--data", data_s, "--level", "province", "--period", "all",
    ]));
    assert!(accepted_of(&from_file, "01") > 0);
    assert_eq!(accepted_of(&from_log, "01"), accepted_of(&from_file, "01"));
    assert_eq!(accepted_of(&from_log, "79"), 0, "{from_log}");

    // Out-of-scope records are all counted, and the first of each append
    // kept with their reason (rejections cost bounded memory).
    let listed = ok(govpulse(&[
        "rejected", "list", "--data", data_s, "--limit", "1",
    ]));
    let stored: i64 = listed
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        listed.contains(" rejected records stored") && stored > 0 && stored <= rejected,
        "{rejected} rejected: {listed}"
    );
    assert!(listed.contains("unit (scope)"), "{listed}");

    // Loading again adds nothing.
    let again = govpulse(&[
        "replay",
        file_s,
        "--data",
        data_s,
        "--source",
        "hanoi-archive",
    ]);
    let again = String::from_utf8_lossy(&again.stderr).into_owned();
    assert!(
        again.contains(&format!(" 0 accepted, {accepted} duplicates")),
        "{again}"
    );

    // Unknown sources and a directory a server holds are refused.
    let unknown = govpulse(&["replay", file_s, "--data", data_s, "--source", "nobody"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no source \"nobody\""));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt
        .block_on(spawn_app(AppOptions {
            data_dir: Some(data.clone()),
            ..AppOptions::default()
        }))
        .unwrap();
    let busy = govpulse(&[
        "replay",
        file_s,
        "--data",
        data_s,
        "--source",
        "hanoi-archive",
    ]);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in use by another govpulse process"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    drop(app);
}

#[test]
fn serve_loads_no_sample_unless_asked_and_never_beside_sources() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A directory set up for real use (a source, an account), log empty:
    // a plain `serve` leaves the log empty.
    let app = rt.block_on(spawn_app(AppOptions::default())).unwrap();
    let h = rt.block_on(app.health()).unwrap();
    assert_eq!(h["events_logged"], 0, "{h}");
    let mut app = app;
    app.kill();

    // `--sample` on it is refused, naming the flag and the sources.
    let out = Command::new(govpulse_bin().unwrap())
        .args(["serve", "--sample", "--addr", "127.0.0.1:0", "--data"])
        .arg(&app.data_dir)
        .env("GOVPULSE_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--sample") && stderr.contains("has sources (e2e)"),
        "{stderr}"
    );

    // A sample directory takes no source.
    let sample = rt
        .block_on(spawn_app(AppOptions {
            sample: true,
            ..Default::default()
        }))
        .unwrap();
    assert_eq!(rt.block_on(sample.settle()).unwrap()["events_logged"], 240);
    let err = e2e::add_source(&sample.data_dir, "real-source", "01")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("holds sample events") && err.contains("clean data directory"),
        "{err}"
    );
    let fresh = tempfile::tempdir().unwrap();
    let err = e2e::add_source(fresh.path(), "sample", "01")
        .unwrap_err()
        .to_string();
    assert!(err.contains("reserved for the sample stream"), "{err}");
    e2e::add_source(fresh.path(), "real-source", "01").unwrap();
}

#[test]
fn demo_serves_generated_events_on_its_own_directory() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(govpulse_bin().unwrap())
        .args([
            "demo",
            "--addr",
            "127.0.0.1:0",
            "--scale",
            "0.002",
            "--lead",
            "1",
        ])
        .env("GOVPULSE_LOG", "warn")
        .env(e2e::METRICS_TOKEN_ENV, "demo-metrics-token-0123")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = lines
        .by_ref()
        .find_map(|l| {
            l.ok()?
                .strip_prefix("govpulse listening on http://")
                .map(|a| a.trim_end_matches('/').to_owned())
        })
        .expect("the demo prints its address");
    std::thread::spawn(move || for _ in lines {});
    let rt = tokio::runtime::Runtime::new().unwrap();
    let logged = rt.block_on(async {
        let http = reqwest::Client::new();
        for _ in 0..600 {
            let h: Value = http
                .get(format!("http://{addr}/healthz"))
                .bearer_auth("demo-metrics-token-0123")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if h["events_logged"].as_u64().unwrap_or(0) > 0 {
                return h["events_logged"].as_u64().unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        0
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(logged > 0, "the demo fed no events");
}
