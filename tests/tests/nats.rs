//! The NATS JetStream source against a real `nats-server`: publisher
//! retries (same `Nats-Msg-Id`), republishing with new ids, redelivery of
//! fetched-but-unacknowledged messages, and a `kill -9` mid-consumption
//! all end with every event in the log exactly once.

use async_nats::jetstream::{self, consumer::pull, stream};
use e2e::{AppOptions, NatsServer, accepted_event, add_source, spawn_app};
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

const MESSAGES: usize = 300;
const PER_MESSAGE: usize = 10;

fn message(m: usize, unit: &str) -> bytes::Bytes {
    (0..PER_MESSAGE)
        .map(|i| {
            accepted_event(
                &format!("nats-{m}-{i}"),
                "2025-11-20T08:00:00+07:00",
                unit,
                "online",
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
        .into()
}

async fn publish(js: &jetstream::Context, subject: &str, id: &str, body: bytes::Bytes) -> bool {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", id);
    let ack = js
        .publish_with_headers(subject.to_owned(), headers, body)
        .await
        .unwrap()
        .await
        .unwrap();
    ack.duplicate
}

fn govpulse(args: &[&str]) -> String {
    e2e::govpulse(args).unwrap()
}

#[tokio::test]
async fn jetstream_events_land_once_through_retries_redelivery_and_a_crash() {
    let nats = NatsServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_source(&data, "nats-hn", "01").unwrap();

    // The stream and the durable consumer, as the server creates them.
    let client = async_nats::connect(&nats.url).await.unwrap();
    let js = jetstream::new(client);
    let stream = js
        .get_or_create_stream(stream::Config {
            name: "EVENTS".into(),
            subjects: vec!["events.>".into()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .unwrap();
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            "govpulse",
            pull::Config {
                durable_name: Some("govpulse".into()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(2),
                filter_subject: "events.>".into(),
                max_ack_pending: 4000,
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // Publish; every message a second time with the same id (a publisher
    // retry), which JetStream drops.
    for m in 0..MESSAGES {
        let id = format!("msg-{m}");
        assert!(!publish(&js, "events.nats-hn", &id, message(m, "00070")).await);
        assert!(publish(&js, "events.nats-hn", &id, message(m, "00070")).await);
    }
    // A retry after the duplicate window looks like a new message: the log
    // recognises its events.
    for m in 0..20 {
        publish(
            &js,
            "events.nats-hn.retry",
            &format!("late-{m}"),
            message(m, "00070"),
        )
        .await;
    }
    // Outside the source's units, and a source that does not exist.
    publish(&js, "events.nats-hn", "scope", message(9000, "79")).await;
    publish(&js, "events.ghost", "ghost", message(9001, "01")).await;

    // A consumer that died after fetching: these are delivered, never acked,
    // so JetStream redelivers them to the server after ack_wait.
    let mut taken = consumer.fetch().max_messages(5).messages().await.unwrap();
    let mut n = 0;
    while let Some(m) = taken.next().await {
        m.unwrap();
        n += 1;
    }
    assert_eq!(n, 5);

    let env = vec![
        ("GOVPULSE__NATS__URL".to_owned(), nats.url.clone()),
        ("GOVPULSE__NATS__ACK_WAIT_SECS".to_owned(), "2".to_owned()),
        ("GOVPULSE__NATS__BATCH".to_owned(), "50".to_owned()),
    ];
    let mut app = spawn_app(AppOptions {
        data_dir: Some(data.clone()),
        env: env.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    // kill -9 in the middle of consumption, then restart.
    for _ in 0..200 {
        let h = app.health().await.unwrap();
        if h["nats"]["acked"].as_i64().unwrap() > 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.kill();
    let token = app.token.clone();
    let app = spawn_app(AppOptions {
        data_dir: Some(data.clone()),
        env,
        token: Some(token),
        ..Default::default()
    })
    .await
    .unwrap();

    // Wait until the consumer has nothing pending and nothing unacked.
    let mut consumer = consumer;
    let mut drained = false;
    for _ in 0..300 {
        let info = consumer.info().await.unwrap();
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(drained, "the server consumed and acknowledged everything");
    app.settle().await.unwrap();

    let data_s = data.to_str().unwrap();
    let exported = govpulse(&["log", "export", "--data", data_s, "--source", "nats-hn"]);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in exported.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        *counts
            .entry(v["event_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), MESSAGES * PER_MESSAGE);
    assert!(
        counts.values().all(|&n| n == 1),
        "an event was counted twice"
    );

    let rejected = govpulse(&["rejected", "export", "--data", data_s]);
    let rules: Vec<(String, String)> = rejected
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["source"].as_str().unwrap().to_owned(),
                v["errors"][0]["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rules
            .iter()
            .filter(|(s, r)| s == "nats-hn" && r == "scope")
            .count(),
        PER_MESSAGE
    );
    assert_eq!(
        rules
            .iter()
            .filter(|(s, r)| s == "ghost" && r == "unknown_source")
            .count(),
        1
    );
}
