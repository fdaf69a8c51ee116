//! Accounts, sessions and scope against the real server binary: the access
//! matrix (every role × units inside and outside its scope × every
//! endpoint and websocket topic), cookies, Origin checks, rate limits, the
//! audit log and `/metrics`.

use e2e::{
    AppOptions, E2E_PASSWORD, TestApp, accepted_event, add_user, govpulse, next_msg, spawn_app,
};
use futures::SinkExt;
use model::live::{ClientMsg, ServerMsg};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Hoàn Kiếm and Cửa Nam are communes of Hà Nội (01); Vũng Tàu is a
/// commune of Hồ Chí Minh City (79).
const HOAN_KIEM: &str = "00070";
const CUA_NAM: &str = "00073";
const VUNG_TAU: &str = "26506";

/// An event of dossier `dossier`; its event id is unique per status.
fn event(dossier: &str, unit: &str, status: &str, at: &str) -> String {
    let id = format!("{dossier}/{status}");
    let mut v: Value = serde_json::from_str(&accepted_event(&id, at, unit, "online")).unwrap();
    v["dossier_id"] = json!(dossier);
    v["status"] = json!(status);
    if status != "accepted" {
        for k in ["channel", "due_at"] {
            v.as_object_mut().unwrap().remove(k);
        }
    }
    v.to_string()
}

/// Dossiers in three communes; ids name their commune so a leak shows.
async fn seeded() -> TestApp {
    let app = spawn_app(AppOptions {
        env: vec![("GOVPULSE__ARCHIVE__INTERVAL_SECS".into(), "1".into())],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut lines = Vec::new();
    for (prefix, unit) in [("HK", HOAN_KIEM), ("CN", CUA_NAM), ("SECRET79", VUNG_TAU)] {
        for i in 0..3 {
            lines.push(event(
                &format!("{prefix}-{i}"),
                unit,
                "accepted",
                "2025-11-20T09:00:00+07:00",
            ));
        }
        lines.push(event(
            &format!("{prefix}-0"),
            unit,
            "resolved",
            "2025-11-21T09:00:00+07:00",
        ));
    }
    // Push the clock past the due date (25th, 17:00) so some are overdue;
    // this one is due later.
    let mut late: Value = serde_json::from_str(&event(
        "HK-late",
        HOAN_KIEM,
        "accepted",
        "2025-11-26T09:00:00+07:00",
    ))
    .unwrap();
    late["due_at"] = json!("2025-12-05T17:00:00+07:00");
    lines.push(late.to_string());
    let (status, report) = app.ingest(&lines.join("\n")).await.unwrap();
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 13, "{report}");
    let log_bytes = app.settle().await.unwrap()["log_bytes"].as_f64().unwrap();
    // History reads the Parquet archive: wait for it to catch up.
    for _ in 0..200 {
        let m = app.metrics().await.unwrap();
        let archived = m
            .lines()
            .find_map(|l| l.strip_prefix("govpulse_archive_offset_bytes "))
            .and_then(|v| v.parse::<f64>().ok());
        if archived == Some(log_bytes) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for (name, role, unit) in [
        ("root", "admin", None),
        ("hanoi", "locality", Some("01")),
        ("hoankiem", "locality", Some(HOAN_KIEM)),
    ] {
        add_user(&app.data_dir, name, role, unit).unwrap();
    }
    app
}

struct Who {
    name: &'static str,
    cookie: String,
    /// Units this account must see.
    sees: &'static [&'static str],
    admin: bool,
    /// Strings that must never appear in anything it is shown.
    forbidden: &'static [&'static str],
}

async fn accounts(app: &TestApp) -> Vec<Who> {
    let all: &[&str] = &["VN", "01", "79", HOAN_KIEM, CUA_NAM, VUNG_TAU];
    vec![
        Who {
            name: "root",
            cookie: app.login("root", E2E_PASSWORD).await.unwrap(),
            sees: all,
            admin: true,
            forbidden: &[],
        },
        Who {
            name: "e2e-committee",
            cookie: app.cookie.clone().unwrap(),
            sees: all,
            admin: false,
            forbidden: &[],
        },
        Who {
            name: "hanoi",
            cookie: app.login("hanoi", E2E_PASSWORD).await.unwrap(),
            sees: &["01", HOAN_KIEM, CUA_NAM],
            admin: false,
            forbidden: &["SECRET79", VUNG_TAU, "Vũng Tàu"],
        },
        Who {
            name: "hoankiem",
            cookie: app.login("hoankiem", E2E_PASSWORD).await.unwrap(),
            sees: &[HOAN_KIEM],
            admin: false,
            forbidden: &["SECRET79", VUNG_TAU, "Vũng Tàu", "CN-", CUA_NAM, "Cửa Nam"],
        },
    ]
}

const UNIT_ENDPOINTS: &[&str] = &[
    "/api/v1/units/{}",
    "/api/v1/units/{}/kpis",
    "/api/v1/units/{}/kpis?period=all&format=csv",
    "/api/v1/units/{}/backlog",
    "/api/v1/units/{}/backlog?state=overdue&format=csv",
    "/api/v1/units/{}/history?period=all",
    "/api/v1/units/{}/history?period=day&from=2025-11-20&format=csv",
];

#[tokio::test]
async fn every_role_sees_its_subtree_and_nothing_else() {
    let app = seeded().await;
    let who = accounts(&app).await;
    let units = ["VN", "01", "79", HOAN_KIEM, CUA_NAM, VUNG_TAU];
    for w in &who {
        let check_leaks = |path: &str, body: &str| {
            for f in w.forbidden {
                assert!(
                    !body.contains(f),
                    "{} got {f:?} from {path}: {body}",
                    w.name
                );
            }
        };
        for unit in units {
            for tpl in UNIT_ENDPOINTS {
                let path = tpl.replace("{}", unit);
                let a = app.get_as(Some(&w.cookie), &path).await.unwrap();
                if w.sees.contains(&unit) {
                    assert_eq!(a.status, 200, "{} {path}: {}", w.name, a.body);
                    check_leaks(&path, &a.body);
                } else {
                    // Exactly what a unit that does not exist gets.
                    let ghost = app
                        .get_as(Some(&w.cookie), &tpl.replace("{}", "99999"))
                        .await
                        .unwrap();
                    assert_eq!(a.status, 404, "{} {path}: {}", w.name, a.body);
                    assert_eq!(
                        a.body.replace(unit, "?"),
                        ghost.body.replace("99999", "?"),
                        "{} {path}: the refusal must not differ from an unknown unit",
                        w.name
                    );
                }
            }
        }
        let national = w.sees.contains(&"VN");
        for (path, allowed) in [
            ("/api/v1/overview", national),
            ("/api/v1/sources", national),
            ("/api/v1/rejected", w.admin),
            ("/api/v1/users", w.admin),
            ("/api/v1/audit", w.admin),
            ("/api/v1/units", true),
            ("/api/v1/session", true),
        ] {
            let a = app.get_as(Some(&w.cookie), path).await.unwrap();
            let want = if allowed { 200 } else { 403 };
            assert_eq!(a.status, want, "{} {path}: {}", w.name, a.body);
            check_leaks(path, &a.body);
        }
        let tree = app.get_as(Some(&w.cookie), "/api/v1/units").await.unwrap();
        assert_eq!(tree.json()["code"], w.sees[0], "{}: {}", w.name, tree.body);
    }

    // What is visible is right, not just allowed.
    let hk = &who[3];
    let backlog = app
        .get_as(
            Some(&hk.cookie),
            &format!("/api/v1/units/{HOAN_KIEM}/backlog"),
        )
        .await
        .unwrap()
        .json();
    let ids: Vec<&str> = backlog["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dossier_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["HK-1", "HK-2", "HK-late"], "{backlog}");
    assert_eq!(backlog["summary"]["overdue"], 2, "{backlog}");
    let hanoi = app
        .get_as(
            Some(&who[2].cookie),
            "/api/v1/units/01/backlog?state=overdue",
        )
        .await
        .unwrap()
        .json();
    assert_eq!(hanoi["total"], 4, "HK-1, HK-2, CN-1, CN-2: {hanoi}");
    let kpis = app
        .get_as(
            Some(&hk.cookie),
            &format!("/api/v1/units/{HOAN_KIEM}/kpis?period=all"),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(
        kpis["rows"][0]["kpis"]["online_dossiers"]["denominator"], 4,
        "{kpis}"
    );
    let history = app
        .get_as(
            Some(&hk.cookie),
            &format!("/api/v1/units/{HOAN_KIEM}/history?period=all"),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(
        history["rows"][0]["kpis"]["online_dossiers"], kpis["rows"][0]["kpis"]["online_dossiers"],
        "history from the archive agrees with the log: {history}"
    );
    let nation = app
        .get_as(Some(&who[1].cookie), "/api/v1/units/VN/kpis?period=all")
        .await
        .unwrap()
        .json();
    assert_eq!(
        nation["rows"][0]["kpis"]["online_dossiers"]["denominator"], 10,
        "{nation}"
    );

    // Nothing without a session.
    for path in [
        "/api/v1/units",
        "/api/v1/units/01",
        "/api/v1/units/01/kpis",
        "/api/v1/units/01/backlog",
        "/api/v1/overview",
        "/api/v1/sources",
        "/api/v1/rejected",
        "/api/v1/users",
        "/api/v1/audit",
        "/api/v1/session",
    ] {
        let a = app.get_as(None, path).await.unwrap();
        assert_eq!(a.status, 401, "{path}: {}", a.body);
    }
}

#[tokio::test]
async fn websocket_topics_follow_the_same_scope() {
    let app = seeded().await;
    let who = accounts(&app).await;
    for w in &who {
        let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_request(Some(&w.cookie)))
            .await
            .unwrap();
        let national = w.sees.contains(&"VN");
        for (topic, allowed) in [
            ("overview", national),
            ("unit/01", w.sees.contains(&"01")),
            ("unit/79", w.sees.contains(&"79")),
            ("unit/99", false),
        ] {
            let sub = serde_json::to_string(&ClientMsg::Subscribe {
                topic: topic.into(),
            })
            .unwrap();
            ws.send(Message::Text(sub.into())).await.unwrap();
            let msg = next_msg(&mut ws).await;
            let text = serde_json::to_string(&msg).unwrap();
            for f in w.forbidden {
                assert!(!text.contains(f), "{} {topic}: {text}", w.name);
            }
            match msg {
                ServerMsg::Snapshot { topic: t, .. } if allowed => assert_eq!(t, topic),
                ServerMsg::Error { message, .. } if !allowed => assert_eq!(
                    message,
                    format!("topic {topic:?} is not available to you"),
                    "refusals do not reveal whether the topic exists"
                ),
                m => panic!("{} subscribing to {topic}: {m:?}", w.name),
            }
        }
    }
}

#[tokio::test]
async fn login_sets_a_host_cookie_with_a_new_id_every_time() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let body = json!({ "username": e2e::E2E_USER, "password": E2E_PASSWORD });
    let first = app
        .request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(&app.origin()),
            Some(body.clone()),
        )
        .await
        .unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    let set = first.headers["set-cookie"].to_str().unwrap().to_owned();
    for attr in [
        "__Host-govpulse=",
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
    ] {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    assert!(!set.contains("Domain"), "{set}");
    let first_cookie = e2e::session_cookie(&first.headers).unwrap();
    // Logging in again from the same browser gives a new id and ends the
    // one it came with (no session fixation).
    let second = app
        .request(
            Method::POST,
            "/api/v1/session",
            Some(&first_cookie),
            Some(&app.origin()),
            Some(body),
        )
        .await
        .unwrap();
    let second_cookie = e2e::session_cookie(&second.headers).unwrap();
    assert_ne!(first_cookie, second_cookie);
    let me = |c: String| {
        let app = &app;
        async move { app.get_as(Some(&c), "/api/v1/session").await.unwrap() }
    };
    assert_eq!(me(first_cookie).await.status, 401);
    let now = me(second_cookie).await;
    assert_eq!(now.status, 200);
    assert_eq!(now.json()["user"]["role"], "committee");

    let wrong = app
        .request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(&app.origin()),
            Some(json!({ "username": "nobody", "password": "whatever-long" })),
        )
        .await
        .unwrap();
    assert_eq!(wrong.status, 401);
    assert!(wrong.headers.get("set-cookie").is_none());
    let bad = app
        .request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(&app.origin()),
            Some(json!({ "username": "x" })),
        )
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["field"], "password", "{}", bad.body);
}

#[tokio::test]
async fn state_changes_need_this_servers_origin() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let cookie = app.cookie.clone().unwrap();
    let creds = json!({ "username": e2e::E2E_USER, "password": E2E_PASSWORD });
    for origin in [None, Some("http://evil.example"), Some("null")] {
        let a = app
            .request(
                Method::POST,
                "/api/v1/session",
                None,
                origin,
                Some(creds.clone()),
            )
            .await
            .unwrap();
        assert_eq!(a.status, 403, "login with Origin {origin:?}: {}", a.body);
        assert_eq!(a.json()["field"], "Origin");
        let a = app
            .request(
                Method::DELETE,
                "/api/v1/session",
                Some(&cookie),
                origin,
                None,
            )
            .await
            .unwrap();
        assert_eq!(a.status, 403, "logout with Origin {origin:?}");
    }
    // DNS rebinding: a page on another name that resolves to this server
    // sends an Origin matching the Host it used; neither is this server's.
    let port = app.addr.rsplit(':').next().unwrap();
    let rebound = app
        .http
        .post(app.url("/api/v1/session"))
        .header("host", format!("evil.example:{port}"))
        .header("origin", format!("http://evil.example:{port}"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), 403, "Origin equal to a foreign Host");
    // localhost is this server too.
    let local = app
        .request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(&format!("http://localhost:{port}")),
            Some(creds.clone()),
        )
        .await
        .unwrap();
    assert_eq!(local.status, 200, "{}", local.body);
    assert_eq!(
        app.session_status(&cookie).await.unwrap(),
        200,
        "refused logouts changed nothing"
    );
    let a = app
        .request(
            Method::DELETE,
            "/api/v1/session",
            Some(&cookie),
            Some(&app.origin()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(app.session_status(&cookie).await.unwrap(), 401);
}

#[tokio::test]
async fn logout_and_password_change_end_every_session() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let user = e2e::E2E_USER;
    let a = app.login(user, E2E_PASSWORD).await.unwrap();
    let b = app.login(user, E2E_PASSWORD).await.unwrap();
    let status = |c: String| {
        let app = &app;
        async move { app.session_status(&c).await.unwrap() }
    };
    assert_eq!(
        (status(a.clone()).await, status(b.clone()).await),
        (200, 200)
    );
    app.request(
        Method::DELETE,
        "/api/v1/session",
        Some(&a),
        Some(&app.origin()),
        None,
    )
    .await
    .unwrap();
    assert_eq!((status(a).await, status(b).await), (401, 401));

    let c = app.login(user, E2E_PASSWORD).await.unwrap();
    let d = app.login(user, E2E_PASSWORD).await.unwrap();
    let change = |current: &str, new: &str| json!({ "current": current, "new": new });
    let wrong = app
        .request(
            Method::POST,
            "/api/v1/session/password",
            Some(&c),
            Some(&app.origin()),
            Some(change("not it at all", "a brand new password")),
        )
        .await
        .unwrap();
    assert_eq!(wrong.status, 403);
    let short = app
        .request(
            Method::POST,
            "/api/v1/session/password",
            Some(&c),
            Some(&app.origin()),
            Some(change(E2E_PASSWORD, "short")),
        )
        .await
        .unwrap();
    assert_eq!(
        (short.status, short.json()["field"].as_str()),
        (400, Some("new"))
    );
    let ok = app
        .request(
            Method::POST,
            "/api/v1/session/password",
            Some(&c),
            Some(&app.origin()),
            Some(change(E2E_PASSWORD, "a brand new password")),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.body);
    let fresh = e2e::session_cookie(&ok.headers).unwrap();
    assert_eq!(
        (status(c).await, status(d).await, status(fresh).await),
        (401, 401, 200)
    );
    assert!(app.login(user, E2E_PASSWORD).await.is_err());
    assert!(app.login(user, "a brand new password").await.is_ok());
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_account() {
    let app = spawn_app(AppOptions {
        env: vec![(
            "GOVPULSE__AUTH__LOGIN_FAILURES_PER_ACCOUNT".into(),
            "3".into(),
        )],
        ..Default::default()
    })
    .await
    .unwrap();
    add_user(&app.data_dir, "other", "committee", None).unwrap();
    for _ in 0..3 {
        assert!(
            app.login(e2e::E2E_USER, "wrong password!")
                .await
                .unwrap_err()
                .to_string()
                .contains("401")
        );
    }
    let blocked = app
        .request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(&app.origin()),
            Some(json!({ "username": e2e::E2E_USER, "password": E2E_PASSWORD })),
        )
        .await
        .unwrap();
    assert_eq!(blocked.status, 429, "even the right password waits");
    let wait: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    assert!(
        app.login("other", E2E_PASSWORD).await.is_ok(),
        "another account from the same client is not locked"
    );
    // A long name is kept as the limiter keys it: 64 characters.
    let long = format!("{}{}", "z".repeat(64), "1".repeat(40));
    for _ in 0..3 {
        assert!(app.login(&long, "wrong password!").await.is_err());
    }
    let refused = app
        .request(
            Method::POST,
            "/api/v1/session",
            None,
            Some(&app.origin()),
            Some(json!({ "username": long, "password": "wrong password!" })),
        )
        .await
        .unwrap();
    assert_eq!(refused.status, 429);
    add_user(&app.data_dir, "root", "admin", None).unwrap();
    let root = app.login("root", E2E_PASSWORD).await.unwrap();
    let log = app
        .get_as(Some(&root), "/api/v1/audit?limit=1000")
        .await
        .unwrap()
        .json();
    let refusals: Vec<(&str, &str)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "login_refused")
        .map(|e| (e["target"].as_str().unwrap(), e["client"].as_str().unwrap()))
        .collect();
    let z64 = "z".repeat(64);
    assert_eq!(
        refusals,
        [(e2e::E2E_USER, "127.0.0.1"), (z64.as_str(), "127.0.0.1")],
        "{log}"
    );
}

#[tokio::test]
async fn first_start_creates_an_admin_with_a_one_time_password() {
    let app = spawn_app(AppOptions {
        no_users: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let line = app
        .startup
        .iter()
        .find(|l| l.contains("one-time password"))
        .unwrap_or_else(|| panic!("no password printed: {:?}", app.startup));
    let password = line.split_whitespace().last().unwrap();
    let cookie = app.login("admin", password).await.unwrap();
    let me = app.get_as(Some(&cookie), "/api/v1/session").await.unwrap();
    assert_eq!(me.json()["user"]["role"], "admin");
    let users: Value = serde_json::from_str(
        &govpulse(&[
            "users",
            "list",
            "--json",
            "--data",
            app.data_dir.to_str().unwrap(),
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);

    // Disabling a user ends its sessions at once, from another process.
    govpulse(&[
        "users",
        "disable",
        "admin",
        "--data",
        app.data_dir.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(app.session_status(&cookie).await.unwrap(), 401);
}

#[tokio::test]
async fn logins_and_exports_are_audited() {
    let app = seeded().await;
    let root = app.login("root", E2E_PASSWORD).await.unwrap();
    let _ = app.login("hanoi", "not the password").await;
    let hanoi = app.login("hanoi", E2E_PASSWORD).await.unwrap();
    let csv = app
        .get_as(Some(&hanoi), "/api/v1/units/01/backlog?format=csv")
        .await
        .unwrap();
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        csv.body.lines().count(),
        1 + 5,
        "header + HK-1,2,late + CN-1,2"
    );
    let log = app
        .get_as(Some(&root), "/api/v1/audit")
        .await
        .unwrap()
        .json();
    let entries: Vec<(String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"]
                    .as_str()
                    .or(e["target"].as_str())
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    for want in [
        ("login", "root"),
        ("login_failed", "hanoi"),
        ("login", "hanoi"),
        ("export", "hanoi"),
        ("user_add", "cli"),
    ] {
        assert!(
            entries.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} not in {entries:?}"
        );
    }
}

#[tokio::test]
async fn metrics_are_valid_prometheus_text() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let lines: Vec<String> = (0..3)
        .map(|i| {
            accepted_event(
                &format!("m{i}"),
                "2025-11-20T09:00:00+07:00",
                "01",
                "online",
            )
        })
        .collect();
    app.ingest(&lines.join("\n")).await.unwrap();
    app.settle().await.unwrap();
    let a = app.get_operator("/metrics").await.unwrap();
    assert_eq!(a.status, 200);
    assert!(
        a.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    // Every sample belongs to a declared family.
    let mut declared = std::collections::HashSet::new();
    for line in a.body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            declared.insert(rest.split(' ').next().unwrap().to_owned());
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| declared.contains(*f)))
                .unwrap_or(name);
            assert!(declared.contains(family), "undeclared sample: {line}");
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "bad value: {line}");
        }
    }
    let scrape = prometheus_parse::Scrape::parse(a.body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let get = |name: &str, source: Option<&str>| {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == name && source.is_none_or(|src| s.labels.get("source") == Some(src))
            })
            .map(|s| s.value.clone())
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    use prometheus_parse::Value as V;
    assert_eq!(get("govpulse_events_accepted_total", None), V::Counter(3.0));
    assert_eq!(
        get("govpulse_source_events_total", Some("e2e")),
        V::Counter(3.0)
    );
    assert_eq!(get("govpulse_engine_lag_bytes", None), V::Gauge(0.0));
    match get("govpulse_pipeline_latency_seconds", None) {
        V::Histogram(buckets) => {
            let total = buckets.last().unwrap().count;
            assert!(total >= 1.0, "{buckets:?}");
            assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
        }
        v => panic!("latency is not a histogram: {v:?}"),
    }
}

#[tokio::test]
async fn metrics_need_the_scrape_token_or_a_national_session() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    add_user(&app.data_dir, "hanoi", "locality", Some("01")).unwrap();
    let hanoi = app.login("hanoi", E2E_PASSWORD).await.unwrap();
    let with_auth = |value: String| {
        let r = app.http.get(app.url("/metrics"));
        async move {
            let r = r.header("authorization", value).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let token = &app.metrics_token;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let (status, body) = with_auth(format!("{scheme} {token}")).await;
        assert_eq!(status, 200, "{scheme}: {body}");
        assert!(body.contains("govpulse_events_accepted_total"));
    }
    for refused in [
        format!("Bearer {token}x"),
        format!("Basic {token}"),
        "Bearer ".to_owned(),
    ] {
        assert_eq!(with_auth(refused.clone()).await.0, 401, "{refused}");
    }
    let committee = app.get_as(app.cookie.as_deref(), "/metrics").await.unwrap();
    assert_eq!(committee.status, 200, "a committee session reads it");
    for (who, cookie) in [("anonymous", None), ("locality", Some(hanoi.as_str()))] {
        let a = app.get_as(cookie, "/metrics").await.unwrap();
        assert_eq!(a.status, 401, "{who}: {}", a.body);
        assert!(
            a.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{who}"
        );
        assert!(!a.body.contains("govpulse_source"), "{who}: {}", a.body);
        // Liveness only: no counters.
        let h = app.get_as(cookie, "/healthz").await.unwrap();
        assert_eq!(
            (h.status, h.json()),
            (200, json!({ "status": "ok" })),
            "{who}"
        );
    }
    let full = app.health().await.unwrap();
    assert_eq!(full["status"], "ok");
    assert!(full["engine_offset"].is_number(), "{full}");
    let by_session = app.get_as(app.cookie.as_deref(), "/healthz").await.unwrap();
    assert!(
        by_session.json()["log_bytes"].is_number(),
        "{}",
        by_session.body
    );
}

#[tokio::test]
async fn without_a_scrape_token_only_national_sessions_read_metrics() {
    let app = spawn_app(AppOptions {
        no_metrics_token: true,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(app.get_operator("/metrics").await.unwrap().status, 401);
    let committee = app.get_as(app.cookie.as_deref(), "/metrics").await.unwrap();
    assert_eq!(committee.status, 200);
    let empty = spawn_app(AppOptions {
        env: vec![(e2e::METRICS_TOKEN_ENV.into(), String::new())],
        ..Default::default()
    })
    .await;
    assert!(
        empty.is_err(),
        "an empty metrics.token is a configuration error"
    );
}
