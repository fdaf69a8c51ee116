//! The live protocol with a real websocket client against the real server:
//! a gap detected by the client's replica and repaired by a resync, a
//! reconnect that starts from a fresh snapshot, and a client that never
//! reads, which must cost the server bounded memory.

use e2e::{AppOptions, TestApp, accepted_event, next_msg, spawn_app};
use futures::SinkExt;
use model::live::{Applied, ClientMsg, Replica, ServerMsg};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn socket(app: &TestApp) -> Socket {
    tokio_tungstenite::connect_async(app.ws_request(app.cookie.as_deref()))
        .await
        .unwrap()
        .0
}

async fn send(ws: &mut Socket, msg: ClientMsg) {
    ws.send(Message::Text(serde_json::to_string(&msg).unwrap().into()))
        .await
        .unwrap();
}

fn subscribe(topic: &str) -> ClientMsg {
    ClientMsg::Subscribe {
        topic: topic.into(),
    }
}

async fn ingest_one(app: &TestApp, id: &str, unit: &str) {
    let (status, report) = app
        .ingest(&accepted_event(
            id,
            "2025-11-20T09:00:00+07:00",
            unit,
            "online",
        ))
        .await
        .unwrap();
    assert_eq!(
        (status, report["accepted"].as_u64()),
        (200, Some(1)),
        "{report}"
    );
}

#[tokio::test]
async fn a_gap_is_repaired_by_a_resync_and_a_reconnect_starts_from_a_snapshot() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    ingest_one(&app, "g1", "01").await;
    app.settle().await.unwrap();

    let mut ws = socket(&app).await;
    send(&mut ws, subscribe("overview")).await;
    let mut replica = Replica::new("overview");
    assert_eq!(replica.apply(next_msg(&mut ws).await), Applied::Updated);
    let first = replica.seq.unwrap();

    // The replica loses track (as after a dropped frame): the next delta
    // does not start where it is, so it asks for a resync.
    replica.seq = Some(first - 1);
    ingest_one(&app, "g2", "79").await;
    let delta = next_msg(&mut ws).await;
    assert!(matches!(delta, ServerMsg::Delta { base, .. } if base == first));
    assert_eq!(replica.apply(delta), Applied::Gap);
    send(
        &mut ws,
        ClientMsg::Resync {
            topic: "overview".into(),
        },
    )
    .await;
    let snap = next_msg(&mut ws).await;
    assert!(matches!(snap, ServerMsg::Snapshot { seq, .. } if seq > first));
    assert_eq!(replica.apply(snap), Applied::Updated);
    let codes: Vec<&str> = replica.rows.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes.len(), 2, "the snapshot has both provinces: {codes:?}");
    let resynced = replica.seq.unwrap();

    // Disconnect; changes made meanwhile arrive in the next snapshot.
    drop(ws);
    ingest_one(&app, "g3", "48").await;
    app.settle().await.unwrap();
    let mut ws = socket(&app).await;
    send(&mut ws, subscribe("overview")).await;
    replica.reset();
    assert_eq!(replica.apply(next_msg(&mut ws).await), Applied::Updated);
    assert!(replica.seq.unwrap() > resynced);
    assert_eq!(replica.rows.len(), 3);
    // And deltas follow it.
    ingest_one(&app, "g4", "48").await;
    assert_eq!(replica.apply(next_msg(&mut ws).await), Applied::Updated);
    let dn = replica.rows.iter().find(|r| r.code == "48").unwrap();
    assert_eq!(dn.accepted, 2);
}

/// Every province, `per_province` events each, one in each of the first
/// `per_province` minutes of 09:00, so every minute bucket of every row
/// changes with every batch (deltas then carry whole rows). New events of
/// the same dossiers every batch, so that the engine's dossier state does
/// not grow with the batches and the memory measured is the hub's.
fn national_batch(batch: usize, per_province: usize, provinces: &[String]) -> String {
    let mut lines = Vec::new();
    for p in provinces {
        for i in 0..per_province {
            let minute = i % 60;
            let line = accepted_event(
                &format!("s{batch}-{p}-{i}"),
                &format!("2025-11-20T09:{minute:02}:00+07:00"),
                p,
                "online",
            );
            let mut event: serde_json::Value = serde_json::from_str(&line).unwrap();
            event["dossier_id"] = format!("D-{p}-{i}").into();
            lines.push(event.to_string());
        }
    }
    lines.join("\n")
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_client_that_never_reads_costs_bounded_memory() {
    let app = spawn_app(AppOptions::default()).await.unwrap();
    let units = pipelines::units::UnitRegistry::embedded().unwrap();
    let provinces: Vec<String> = units
        .level(model::UnitLevel::Province)
        .iter()
        .map(|u| u.code.to_string())
        .collect();
    // Warm up: every province has a full row before the stalled client
    // arrives, so each delta afterwards carries all 34 rows.
    app.ingest(&national_batch(0, 30, &provinces))
        .await
        .unwrap();
    app.settle().await.unwrap();

    let mut reader = socket(&app).await;
    send(&mut reader, subscribe("overview")).await;
    let ServerMsg::Snapshot { seq, .. } = next_msg(&mut reader).await else {
        panic!("expected a snapshot");
    };
    let snapshot_bytes = serde_json::to_string(&app.get_json("/api/v1/overview").await.unwrap())
        .unwrap()
        .len();

    // Each batch changes every bucket of every province, so every delta
    // carries whole rows. Phase one has only a reading client: what the
    // server's memory grows by from the ingest itself. Phase two adds a
    // client that never reads; a server that queued its deltas would grow
    // by their sum on top.
    let batches = 250;
    let mut next_batch = 1;
    let mut phase = async |reader: &mut Socket, from_seq: u64| -> (u64, u64) {
        let before = app.rss_bytes().unwrap();
        for _ in 0..batches {
            app.ingest(&national_batch(next_batch, 30, &provinces))
                .await
                .unwrap();
            next_batch += 1;
        }
        app.settle().await.unwrap();
        let target = app.get_json("/api/v1/overview").await.unwrap()["seq"]
            .as_u64()
            .unwrap();
        assert!(target > from_seq);
        let mut last = from_seq;
        while last < target {
            match next_msg(reader).await {
                ServerMsg::Delta { seq, .. } => last = seq,
                m => panic!("unexpected {m:?}"),
            }
        }
        (target, app.rss_bytes().unwrap().saturating_sub(before))
    };
    let (seq, grown_reading) = phase(&mut reader, seq).await;
    let mut stalled = socket(&app).await;
    send(&mut stalled, subscribe("overview")).await;
    let (target, grown_stalled) = phase(&mut reader, seq).await;

    let metrics = app.metrics().await.unwrap();
    let coalesced = metric(&metrics, "govpulse_ws_coalesced_updates_total");
    let updates = target - seq;
    let unbounded = updates * snapshot_bytes as u64;
    eprintln!(
        "stalled client: {updates} topic updates of ~{snapshot_bytes} B (unbounded queue: {} MB); \
         server RSS grew {} MB with only a reader, {} MB with the stalled client too; \
         {coalesced} updates coalesced",
        unbounded / 1_000_000,
        grown_reading / 1_000_000,
        grown_stalled / 1_000_000,
    );
    assert!(
        coalesced > 0.0,
        "the stalled client's updates were folded, not queued"
    );
    assert!(
        grown_stalled < grown_reading + unbounded / 2,
        "RSS grew {grown_stalled} B with a stalled client, {grown_reading} B without; \
         half of an unbounded queue is {} B",
        unbounded / 2
    );
    drop(stalled);
}
