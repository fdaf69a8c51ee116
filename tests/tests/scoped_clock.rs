//! Each scope is judged at its own clock: a locality's "as of", its
//! backlog's due-soon and overdue, and its finality do not move when an
//! event from another province arrives; a national viewer's do.

use e2e::{AppOptions, E2E_PASSWORD, accepted_event, add_user, spawn_app};
use serde_json::{Value, json};

/// Hoàn Kiếm, a commune of Hà Nội (01); Vũng Tàu, of Hồ Chí Minh City (79).
const HOAN_KIEM: &str = "00070";
const VUNG_TAU: &str = "26506";

fn dossier(id: &str, unit: &str, at: &str, due: &str) -> String {
    let mut v: Value = serde_json::from_str(&accepted_event(id, at, unit, "online")).unwrap();
    v["dossier_id"] = json!(id);
    v["due_at"] = json!(due);
    v.to_string()
}

#[tokio::test]
async fn another_provinces_events_move_nothing_a_locality_sees() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    add_user(&app.data_dir, "hk-officer", "locality", Some(HOAN_KIEM)).unwrap();
    let officer = app.login("hk-officer", E2E_PASSWORD).await.unwrap();
    let committee = app.cookie.clone().unwrap();
    let hanoi = dossier(
        "HK-1",
        HOAN_KIEM,
        "2025-11-20T09:00:00+07:00",
        "2025-11-21T17:00:00+07:00",
    );
    let (status, report) = app.ingest(&hanoi).await.unwrap();
    assert_eq!(status, 200, "{report}");
    app.settle().await.unwrap();
    let read = |cookie: String, path: String| {
        let app = &app;
        async move {
            let a = app.get_as(Some(&cookie), &path).await.unwrap();
            assert_eq!(a.status, 200, "{path}: {}", a.body);
            a.json()
        }
    };
    let kpis = format!("/api/v1/units/{HOAN_KIEM}/kpis?period=day");
    let backlog = format!("/api/v1/units/{HOAN_KIEM}/backlog");
    let before = read(officer.clone(), kpis.clone()).await;
    let before_backlog = read(officer.clone(), backlog.clone()).await;
    assert_eq!(before["as_of"], "2025-11-20T09:00:00+07:00");
    assert_eq!(before_backlog["rows"][0]["state"], "not_due");

    // Days later in Hồ Chí Minh City: past Hoàn Kiếm's due date.
    let hcmc = dossier(
        "VT-1",
        VUNG_TAU,
        "2025-11-27T10:00:00+07:00",
        "2025-12-05T17:00:00+07:00",
    );
    let (status, report) = app.ingest(&hcmc).await.unwrap();
    assert_eq!(status, 200, "{report}");
    app.settle().await.unwrap();

    let after = read(officer.clone(), kpis.clone()).await;
    let after_backlog = read(officer.clone(), backlog.clone()).await;
    assert_eq!(after["as_of"], before["as_of"], "the officer's clock moved");
    assert_eq!(after["final_before"], before["final_before"]);
    assert_eq!(after["rows"], before["rows"]);
    assert_eq!(after_backlog, before_backlog);

    // The committee judges the same dossier at the national clock.
    let national = read(committee.clone(), backlog.clone()).await;
    assert_eq!(national["as_of"], "2025-11-27T10:00:00+07:00");
    assert_eq!(national["rows"][0]["state"], "overdue");

    // The officer's clock moves with Hà Nội's own events.
    let hanoi_later = dossier(
        "HK-2",
        HOAN_KIEM,
        "2025-11-24T09:00:00+07:00",
        "2025-12-01T17:00:00+07:00",
    );
    let (status, _) = app.ingest(&hanoi_later).await.unwrap();
    assert_eq!(status, 200);
    app.settle().await.unwrap();
    let later = read(officer, backlog).await;
    assert_eq!(later["as_of"], "2025-11-24T09:00:00+07:00");
    let states: Vec<&str> = later["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert!(states.contains(&"overdue"), "{later}");
}
