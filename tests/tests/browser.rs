//! Headless Chromium against the real server and the real WASM bundle:
//! the dashboard shows the sample numbers, then a live number changes after
//! an ingest, without a reload. Saves a screenshot for people to look at.

use e2e::cdp::Browser;
use e2e::{
    AppOptions, E2E_PASSWORD, E2E_USER, accepted_event, add_user, sample_ndjson, spawn_app,
    web_dir, workspace_root,
};
use std::time::Duration;

fn as_number(text: &str) -> u64 {
    text.chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_live_number_changes_after_an_ingest() {
    assert!(
        web_dir().join("frontend.js").exists(),
        "the WASM bundle is not built in {}: run ./scripts/build-web",
        web_dir().display()
    );
    // The sample numbers, sent by a source as real events are, so that
    // the same source can then send more.
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let (status, report) = app.ingest(&sample_ndjson().unwrap()).await.unwrap();
    assert_eq!(status, 200, "{report}");
    app.settle().await.unwrap();
    let mut browser = Browser::launch(&app.url("/"), 1440, 1500).await.unwrap();
    sign_in(&mut browser, "wrong-user", "wrong password").await;
    browser
        .wait_text("#login-error", Duration::from_secs(30), |t| {
            t.contains("wrong user name or password")
        })
        .await
        .unwrap();
    sign_in(&mut browser, E2E_USER, E2E_PASSWORD).await;

    browser
        .wait_text("#status", Duration::from_secs(30), |t| t == "live")
        .await
        .unwrap();
    let first = browser
        .wait_text("#total-accepted", Duration::from_secs(30), |t| {
            as_number(t) == 120
        })
        .await
        .unwrap();
    assert_eq!(as_number(&first), 120);
    let rows = browser
        .eval("document.querySelectorAll('#provinces tbody tr').length")
        .await
        .unwrap();
    assert_eq!(rows, 10);

    let body: Vec<String> = (0..5)
        .map(|i| {
            accepted_event(
                &format!("b{i}"),
                "2025-11-20T08:31:00+07:00",
                "00070",
                "online",
            )
        })
        .collect();
    let (status, report) = app.ingest(&body.join("\n")).await.unwrap();
    assert_eq!((status, report["accepted"].as_u64()), (200, Some(5)));

    let after = browser
        .wait_text("#total-accepted", Duration::from_secs(30), |t| {
            as_number(t) == 125
        })
        .await
        .unwrap();
    assert_eq!(as_number(&after), 125);
    let hanoi = browser
        .eval("document.querySelector('#provinces tr[data-code=\"01\"] td.num').firstChild.textContent")
        .await
        .unwrap();
    assert!(
        as_number(hanoi.as_str().unwrap()) >= 5,
        "Hà Nội row: {hanoi}"
    );
    // 08:31 is behind the watermark of the sample stream: the five events
    // changed a final minute, and the row shows the correction.
    let marks = browser
        .eval(
            "(() => { const r = document.querySelector('#provinces tr[data-code=\"01\"]'); \
             return [r.querySelector('.revised')?.textContent, \
                     r.querySelectorAll('rect.corrected').length]; })()",
        )
        .await
        .unwrap();
    assert_eq!(marks, serde_json::json!(["±1", 1]), "Hà Nội row marks");

    // Every KPI of the newest day against its target, from the REST API.
    browser
        .wait_text(
            "#kpis tr[data-kpi=\"online_dossiers\"] td.value",
            Duration::from_secs(30),
            |t| t.ends_with('%'),
        )
        .await
        .unwrap();
    let kpi_rows = browser
        .eval("document.querySelectorAll('#kpis tbody tr').length")
        .await
        .unwrap();
    assert_eq!(kpi_rows, 11);
    // The last hour and the last 24 hours, from the minute buckets; on-time
    // needs dossier state, so it has none.
    for cell in ["td.last-hour", "td.last-day"] {
        browser
            .wait_text(
                &format!("#kpis tr[data-kpi=\"online_dossiers\"] {cell}"),
                Duration::from_secs(30),
                |t| t.ends_with('%'),
            )
            .await
            .unwrap();
    }
    let on_time = browser
        .text("#kpis tr[data-kpi=\"on_time\"] td.last-hour")
        .await
        .unwrap();
    assert_eq!(on_time.as_deref(), Some("–"));
    // The composite score and processing time under the table: the sample
    // day has accepted dossiers, so the score has indicators with data.
    browser
        .wait_text("#kpi-summary", Duration::from_secs(10), |t| {
            t.contains("766-style score: ") && !t.contains("score: –")
        })
        .await
        .unwrap();
    save_screenshot(&mut browser, "dashboard.png").await;

    // Signing out ends the session and returns to the form.
    browser
        .eval("document.querySelector('#logout').click()")
        .await
        .unwrap();
    browser
        .wait_text("#login-button", Duration::from_secs(30), |t| t == "Sign in")
        .await
        .unwrap();
    // The whole visit, boot included, ran under the server's
    // Content-Security-Policy without breaking any of its rules.
    assert_eq!(
        browser.csp_violations().await.unwrap(),
        Vec::<String>::new(),
        "CSP violations"
    );
}

/// Fill in and submit the login form.
async fn sign_in(browser: &mut Browser, user: &str, password: &str) {
    browser
        .wait_text("#login-button", Duration::from_secs(30), |t| t == "Sign in")
        .await
        .unwrap();
    let js = format!(
        "document.querySelector('#username').value = {user:?};\
         document.querySelector('#password').value = {password:?};\
         document.querySelector('#login').requestSubmit(); true"
    );
    browser.eval(&js).await.unwrap();
}

async fn save_screenshot(browser: &mut Browser, name: &str) {
    let png = browser.screenshot().await.unwrap();
    let out = std::env::var_os("GOVPULSE_SCREENSHOT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/screenshots"));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(name), &png).unwrap();
    assert!(png.len() > 10_000, "screenshot too small to show a page");
}

#[tokio::test]
async fn a_province_officer_sees_its_province_and_its_backlog_only() {
    let app = spawn_app(AppOptions {
        sample: true,
        ..Default::default()
    })
    .await
    .unwrap();
    add_user(&app.data_dir, "hanoi", "locality", Some("01")).unwrap();
    app.settle().await.unwrap();
    let mut browser = Browser::launch(&app.url("/"), 1440, 1500).await.unwrap();
    sign_in(&mut browser, "hanoi", E2E_PASSWORD).await;
    browser
        .wait_text("#status", Duration::from_secs(30), |t| t == "live")
        .await
        .unwrap();
    browser
        .wait_text("#backlog-open", Duration::from_secs(30), |t| t != "–")
        .await
        .unwrap();
    // "live" means the socket is open; wait for the snapshot's row.
    browser
        .wait_text("#provinces tbody", Duration::from_secs(30), |t| {
            t.contains("Hà Nội")
        })
        .await
        .unwrap();
    let codes = browser
        .eval("[...document.querySelectorAll('#provinces tbody tr')].map(r => r.dataset.code).join(',')")
        .await
        .unwrap();
    assert_eq!(
        codes, "01",
        "only Hà Nội's row is pushed to a Hà Nội officer"
    );
    let open = as_number(&browser.text("#backlog-open").await.unwrap().unwrap());
    let rows = browser
        .eval("document.querySelectorAll('#backlog tbody tr').length")
        .await
        .unwrap();
    assert_eq!(
        rows.as_u64(),
        Some(open.min(50)),
        "one row per open dossier, up to a page"
    );
    // The KPI panel is Hà Nội's.
    browser
        .wait_text("main.tight h2", Duration::from_secs(30), |t| {
            t.contains("Thành phố Hà Nội")
        })
        .await
        .unwrap();
    save_screenshot(&mut browser, "locality.png").await;
    assert_eq!(
        browser.csp_violations().await.unwrap(),
        Vec::<String>::new(),
        "CSP violations"
    );
}
