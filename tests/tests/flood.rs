//! A source that floods ingest with bad records: the answer stays small,
//! the rejected store keeps a bounded sample with exact counts, the source
//! is throttled with 429 and `Retry-After`, and other sources and logins
//! are served meanwhile.

use e2e::{AppOptions, E2E_PASSWORD, E2E_USER, accepted_event, add_source, add_user, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn a_flood_of_bad_records_is_counted_bounded_and_throttled() {
    let app = spawn_app(AppOptions {
        env: vec![
            ("GOVPULSE__REJECTED__MAX_PER_MINUTE".into(), "50000".into()),
            ("GOVPULSE__REJECTED__SAMPLE_PER_HOUR".into(), "300".into()),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    let other = add_source(&app.data_dir, "other", "01").unwrap();
    // 60,000 junk lines and one good event in the middle.
    let mut lines = vec!["x"; 60_000].join("\n");
    let good = accepted_event("good-1", "2025-11-20T09:00:00+07:00", "00070", "online");
    lines.push('\n');
    lines.push_str(&good);
    let (status, report) = app.ingest(&lines).await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["accepted"], 1,
        "one bad record never sinks its batch"
    );
    assert_eq!(report["rejected_count"], 60_000);
    let listed = report["rejected"].as_array().unwrap();
    assert_eq!(listed.len(), 100, "the answer lists the first 100");
    assert_eq!(listed[0]["line"], 1);
    let rules = report["rejected_rules"].as_array().unwrap();
    let counted: u64 = rules.iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 60_000, "{rules:?}");

    // Over its budget: refused before anything is read, with a wait.
    let (status, body) = app.ingest(&good).await.unwrap();
    assert_eq!(status, 429, "{body}");
    let r = app
        .http
        .post(app.url("/api/v1/events"))
        .bearer_auth(&app.token)
        .header("content-type", "application/x-ndjson")
        .body("x\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&wait), "{wait}");

    // Another source and a login are served meanwhile.
    let hanoi = accepted_event("other-1", "2025-11-20T09:00:00+07:00", "00070", "online");
    let (status, report) = app.ingest_as(&other, &hanoi).await.unwrap();
    assert_eq!(
        (status, &report["accepted"]),
        (200, &Value::from(1)),
        "{report}"
    );
    app.login(E2E_USER, E2E_PASSWORD).await.unwrap();

    // The store counted every rejection and kept the hour's sample.
    add_user(&app.data_dir, "flood-admin", "admin", None).unwrap();
    let admin = app.login("flood-admin", E2E_PASSWORD).await.unwrap();
    let store = app
        .get_as(Some(&admin), "/api/v1/rejected?limit=1000")
        .await
        .unwrap()
        .json();
    assert_eq!(store["total"], 60_000, "{}", store["rules"]);
    assert_eq!(store["kept"], 300);
    assert_eq!(store["rows"].as_array().unwrap().len(), 300);
}
