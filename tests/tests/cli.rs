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
    let file = dir.path().join("day.ndjson");
    let file_s = file.to_str().unwrap();
    ok(govpulse(&[
        "generate",
        "--from",
        "2025-11-18",
        "--days",
        "1",
        "--scale",
        "0.002",
        "--seed",
        "8",
        "--out",
        file_s,
    ]));
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
