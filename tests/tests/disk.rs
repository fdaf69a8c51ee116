//! Disk full during ingest: the data directory is a 1 MiB tmpfs. Ingest
//! answers 503 with `Retry-After` once the disk is full, keeps serving, and
//! after space comes back (the tmpfs grows) every acknowledged event is in
//! the log exactly once, across a restart too.
//!
//! Needs root to mount the tmpfs (CI runs as root). Elsewhere the test says
//! so and fails, rather than pretending it ran.

use e2e::{AppOptions, accepted_event, govpulse_bin, spawn_app};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A mounted tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .expect("running mount");
        assert!(
            out.status.success(),
            "this test mounts a small tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(at.to_owned())
    }

    fn grow(&self, size: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_answers_503_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let fs = Tmpfs::mount(&data, "1m");
    let mut app = spawn_app(AppOptions {
        data_dir: Some(data.clone()),
        ..Default::default()
    })
    .await
    .unwrap();

    // 400-event batches (~150 KB) until the disk is full.
    let batch = |b: usize| -> Vec<String> {
        (0..400)
            .map(|i| {
                accepted_event(
                    &format!("disk-{b}-{i}"),
                    "2025-11-20T08:00:00+07:00",
                    "00070",
                    "online",
                )
            })
            .collect()
    };
    let mut acked = HashSet::new();
    let mut full_at = None;
    for b in 0..20 {
        let lines = batch(b);
        let (status, report) = app.ingest(&lines.join("\n")).await.unwrap();
        match status {
            200 => acked.extend(lines),
            503 => {
                assert!(
                    report["error"].as_str().unwrap().contains("retry"),
                    "{report}"
                );
                full_at = Some(b);
                break;
            }
            s => panic!("unexpected {s}: {report}"),
        }
    }
    let full_at = full_at.expect("the 1 MiB disk filled up");
    assert!(full_at >= 2, "some batches fit before the disk filled");
    // Retry-After is sent, and the server still answers.
    let r = app
        .http
        .post(app.url("/api/v1/events"))
        .header("content-type", "application/x-ndjson")
        .bearer_auth(&app.token)
        .body(batch(full_at).join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(app.get_json("/healthz").await.unwrap()["status"], "ok");

    // Space comes back: the refused batch and the rest go in.
    fs.grow("16m");
    for b in full_at..full_at + 5 {
        let lines = batch(b);
        let mut tries = 0;
        loop {
            let (status, report) = app.ingest(&lines.join("\n")).await.unwrap();
            if status == 200 {
                assert_eq!(report["accepted"], 400, "{report}");
                acked.extend(lines);
                break;
            }
            tries += 1;
            assert!(tries < 20, "still {status} after the disk grew: {report}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    app.settle().await.unwrap();

    // After a kill -9 and a restart: every acknowledged event, once.
    app.kill();
    let token = app.token.clone();
    let app = spawn_app(AppOptions {
        data_dir: Some(data.clone()),
        token: Some(token),
        ..Default::default()
    })
    .await
    .unwrap();
    app.settle().await.unwrap();
    let out = Command::new(govpulse_bin().unwrap())
        .args(["log", "export", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let ids: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["event_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no event twice");
    let acked_ids: HashSet<String> = acked
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["event_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(unique.len(), acked_ids.len());
    assert!(acked_ids.iter().all(|id| unique.contains(id)));
    drop(app);
}
