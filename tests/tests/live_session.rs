//! A live socket lives no longer than its session: logout, a password
//! change and `govpulse users disable` (from another process) each close
//! every socket of the session within about a second, with the close code
//! the page shows as "signed out", and nothing is sent after it.

use e2e::{AppOptions, E2E_PASSWORD, TestApp, accepted_event, add_user, govpulse, spawn_app};
use futures::{SinkExt, StreamExt};
use model::live::{CLOSE_SIGNED_OUT, ClientMsg, ServerMsg};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A Hà Nội officer's socket subscribed to `unit/01`, and its cookie.
async fn hanoi_socket(app: &TestApp, name: &str) -> (Socket, String) {
    add_user(&app.data_dir, name, "locality", Some("01")).unwrap();
    let cookie = app.login(name, E2E_PASSWORD).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_request(Some(&cookie)))
        .await
        .unwrap();
    let sub = serde_json::to_string(&ClientMsg::Subscribe {
        topic: "unit/01".into(),
    })
    .unwrap();
    ws.send(Message::Text(sub.into())).await.unwrap();
    match e2e::next_msg(&mut ws).await {
        ServerMsg::Snapshot { topic, .. } => assert_eq!(topic, "unit/01"),
        m => panic!("expected the snapshot, got {m:?}"),
    }
    (ws, cookie)
}

/// Wait for the close frame; the socket must be closed with "signed out"
/// and send no delta, snapshot or pong before it. Returns how long it took.
async fn closes_signed_out(ws: &mut Socket, since: Instant) -> Duration {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the socket closes within 5 s of its session ending");
        match frame {
            Some(Ok(Message::Close(Some(close)))) => {
                assert_eq!(close.code, CloseCode::from(CLOSE_SIGNED_OUT));
                assert_eq!(close.reason.as_str(), "signed out");
                return since.elapsed();
            }
            Some(Ok(Message::Text(t))) => {
                let msg: ServerMsg = serde_json::from_str(&t).unwrap();
                assert!(
                    matches!(msg, ServerMsg::Heartbeat { .. }),
                    "sent after the session ended: {msg:?}"
                );
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a close frame with code 4401, got {other:?}"),
        }
    }
}

/// `DELETE /api/v1/session` as the page would send it.
async fn logout(app: &TestApp, cookie: &str) -> e2e::Answer {
    app.request(
        Method::DELETE,
        "/api/v1/session",
        Some(cookie),
        Some(&app.origin()),
        None,
    )
    .await
    .unwrap()
}

/// Push an event for Hà Nội so that `unit/01` moves.
async fn hanoi_event(app: &TestApp, id: &str) {
    let e = accepted_event(id, "2025-11-20T09:00:00+07:00", "00070", "online");
    let (status, report) = app.ingest(&e).await.unwrap();
    assert_eq!(status, 200, "{report}");
}

#[tokio::test]
async fn logout_closes_the_sessions_sockets() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let (mut ws, cookie) = hanoi_socket(&app, "hanoi-logout").await;
    let a = logout(&app, &cookie).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let t = Instant::now();
    hanoi_event(&app, "after-logout").await;
    let took = closes_signed_out(&mut ws, t).await;
    assert_eq!(app.session_status(&cookie).await.unwrap(), 401);
    eprintln!("closed {took:?} after logout");
}

#[tokio::test]
async fn disabling_the_user_from_the_cli_closes_its_sockets() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let (mut ws, _) = hanoi_socket(&app, "hanoi-disable").await;
    let (mut second, _) = hanoi_socket(&app, "hanoi-disable").await;
    let data = app.data_dir.to_str().unwrap().to_owned();
    govpulse(&["users", "disable", "hanoi-disable", "--data", &data]).unwrap();
    let t = Instant::now();
    closes_signed_out(&mut ws, t).await;
    closes_signed_out(&mut second, t).await;
}

#[tokio::test]
async fn a_password_change_closes_the_other_sessions_sockets() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let (mut ws, _) = hanoi_socket(&app, "hanoi-password").await;
    let other = app.login("hanoi-password", E2E_PASSWORD).await.unwrap();
    let a = app
        .request(
            Method::POST,
            "/api/v1/session/password",
            Some(&other),
            Some(&app.origin()),
            Some(json!({ "current": E2E_PASSWORD, "new": "another long passphrase" })),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    closes_signed_out(&mut ws, Instant::now()).await;
}

#[tokio::test]
async fn a_subscribe_after_the_session_ended_gets_no_snapshot() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let (mut ws, cookie) = hanoi_socket(&app, "hanoi-late-subscribe").await;
    let a = logout(&app, &cookie).await;
    assert_eq!(a.status, 200);
    // At once, before the watcher's next round: the subscribe itself reads
    // the session and finds it gone.
    let sub = serde_json::to_string(&ClientMsg::Subscribe {
        topic: "unit/01".into(),
    })
    .unwrap();
    let _ = ws.send(Message::Text(sub.into())).await;
    closes_signed_out(&mut ws, Instant::now()).await;
}
