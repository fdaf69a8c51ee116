//! Ingest benchmarks (issue #4): events a second into the durable log, with
//! an fsync per batch, through each path. Prints one line per measurement.
//!
//! `cargo bench -p govpulse --bench ingest`; GOVPULSE_BENCH_SCALE (default
//! 0.6, about 500,000 events for one day) sizes the input.
//!
//! 1. the log alone (`EventLog::append`, 5,000-event batches), and the same
//!    records into redb (one write transaction per batch, durable commit,
//!    with a dedup table), the measurement behind the storage choice in
//!    ARCHITECTURE.md;
//! 2. NDJSON and Parquet decode + validate + append (file replay's work);
//! 3. HTTP NDJSON: the in-process server on 127.0.0.1:0, two clients
//!    posting 5,000-event batches;
//! 4. NATS JetStream: 500-event messages published to a real nats-server
//!    (skipped when it is not installed), until all are in the log.

use chrono::NaiveDate;
use govpulse::config::Config;
use govpulse::log::{EventLog, Record};
use model::UnitCode;
use pipelines::sources::validate::Checks;
use pipelines::sources::{ndjson, parquet};
use pipelines::units::UnitRegistry;
use sample_data::generator::{GenConfig, Generator, Record as GenRecord};
use std::time::{Duration, Instant};

const BATCH: usize = 5_000;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn line(what: &str, events: usize, secs: f64) {
    println!(
        "{what:<44} {events:>9} events {secs:>7.2} s {:>10.0} events/s",
        events as f64 / secs
    );
}

fn main() {
    let scale: f64 = env("GOVPULSE_BENCH_SCALE", 0.6);
    let from = NaiveDate::from_ymd_opt(2025, 11, 17).expect("date");
    let events: Vec<model::Event> = Generator::new(GenConfig::new(from, 1, scale, 3))
        .expect("reference data")
        .collect()
        .into_iter()
        .filter_map(|r| match r {
            GenRecord::Event(e) => Some(e),
            GenRecord::Raw(_) => None,
        })
        .collect();
    let n = events.len();
    println!("ingest benchmark: {n} generated events, batches of {BATCH}");
    let units = UnitRegistry::embedded().expect("units");

    // 1. The log alone.
    let dir = tempfile::tempdir().expect("tmp");
    let mut log = EventLog::open(dir.path()).expect("log");
    let t = Instant::now();
    for chunk in events.chunks(BATCH) {
        log.append("bench", chunk).expect("append");
    }
    line("log append (fsync per batch)", n, t.elapsed().as_secs_f64());
    let bytes = log.committed();
    drop(log);
    let t = Instant::now();
    let reopened = EventLog::open(dir.path()).expect("reopen");
    println!(
        "{:<44} {:>9} events {:>7.2} s ({:.0} MB checked)",
        "log open: verify + dedup index",
        reopened.len(),
        t.elapsed().as_secs_f64(),
        bytes as f64 / 1e6
    );
    drop(reopened);

    // 1b. redb with the same records and a dedup table.
    {
        use redb::{Database, TableDefinition};
        const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
        const SEEN: TableDefinition<u128, u8> = TableDefinition::new("seen");
        let rdir = tempfile::tempdir().expect("tmp");
        let db = Database::create(rdir.path().join("events.redb")).expect("redb");
        let t = Instant::now();
        let mut seq = 0u64;
        for chunk in events.chunks(BATCH) {
            let tx = db.begin_write().expect("tx");
            {
                let mut ev = tx.open_table(EVENTS).expect("table");
                let mut seen = tx.open_table(SEEN).expect("table");
                for e in chunk {
                    let key = pipelines::keys::pair_key("bench", &e.event_id);
                    if seen.insert(key, 0).expect("insert").is_some() {
                        continue;
                    }
                    let rec = Record {
                        source: "bench".into(),
                        event: e.clone(),
                    };
                    let body = serde_json::to_vec(&rec).expect("json");
                    ev.insert(seq, body.as_slice()).expect("insert");
                    seq += 1;
                }
            }
            tx.commit().expect("commit");
        }
        line(
            "redb (durable commit per batch)",
            n,
            t.elapsed().as_secs_f64(),
        );
    }

    // 2. Decode + validate + append, from NDJSON and from Parquet.
    let mut nd = Vec::new();
    let mut pq = Vec::new();
    {
        let mut w = parquet::Writer::new(&mut pq).expect("parquet");
        for e in &events {
            serde_json::to_writer(&mut nd, e).expect("json");
            nd.push(b'\n');
            w.write_value(serde_json::to_value(e).expect("json"))
                .expect("row");
        }
        w.finish().expect("parquet");
    }
    let dir = tempfile::tempdir().expect("tmp");
    let mut log = EventLog::open(dir.path()).expect("log");
    let t = Instant::now();
    let d = ndjson::decode(&nd, &units, Checks::default());
    let decoded = t.elapsed().as_secs_f64();
    for chunk in d.events.chunks(BATCH) {
        log.append("nd", chunk.iter().map(|(_, e)| e))
            .expect("append");
    }
    line("NDJSON decode+validate", n, decoded);
    line(
        "NDJSON replay: decode+validate+append",
        n,
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    let d = parquet::decode(pq.clone().into(), &units, Checks::default());
    let decoded = t.elapsed().as_secs_f64();
    for chunk in d.events.chunks(BATCH) {
        log.append("pq", chunk.iter().map(|(_, e)| e))
            .expect("append");
    }
    line("Parquet decode+validate", n, decoded);
    line("Parquet decode, then append", n, t.elapsed().as_secs_f64());
    drop(log);

    // 3. `govpulse replay FILE --data DIR --source NAME`: the command's own
    // code, from the file on disk to a durable log in a fresh directory,
    // with decoding and appending on two threads.
    {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("day.parquet");
        std::fs::write(&file, &pq).expect("write");
        let data = dir.path().join("data");
        govpulse::store::Store::open(&data)
            .expect("store")
            .add_source("archive", &[UnitCode::nation()], &units)
            .expect("source");
        let loaded =
            govpulse::commands::replay::load(&data, "archive", &[file], false).expect("replay");
        assert_eq!(loaded.accepted, n, "{loaded}");
        line(
            "Parquet replay (govpulse replay --data)",
            n,
            loaded.elapsed.as_secs_f64(),
        );
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bodies: Vec<Vec<u8>> = events
        .chunks(BATCH)
        .map(|c| {
            let mut b = Vec::new();
            for e in c {
                serde_json::to_writer(&mut b, e).expect("json");
                b.push(b'\n');
            }
            b
        })
        .collect();
    rt.block_on(http(&bodies, n));
    rt.block_on(nats(&bodies, n));
}

fn server_config(data: &std::path::Path) -> Config {
    let mut cfg = Config::default();
    cfg.server.addr = "127.0.0.1:0".into();
    cfg.server.data_dir = data.to_owned();
    cfg.server.web_dir = data.join("no-web");
    cfg.sample.load = false;
    cfg
}

async fn http(bodies: &[Vec<u8>], n: usize) {
    let dir = tempfile::tempdir().expect("tmp");
    let running = govpulse::serve::start(server_config(dir.path()))
        .await
        .expect("server");
    let (_, token) = running
        .state
        .store
        .add_source("bench", &[UnitCode::nation()], &running.state.units)
        .expect("source");
    let url = format!("http://{}/api/v1/events", running.addr);
    let client = reqwest::Client::new();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for lane in 0..2 {
        let mine: Vec<Vec<u8>> = bodies.iter().skip(lane).step_by(2).cloned().collect();
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            for body in mine {
                let r = client
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .bearer_auth(&token)
                    .body(body)
                    .send()
                    .await
                    .expect("post");
                assert!(r.status().is_success(), "{}", r.status());
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    line(
        "HTTP NDJSON -> durable log (2 clients)",
        n,
        t.elapsed().as_secs_f64(),
    );
}

async fn nats(bodies: &[Vec<u8>], n: usize) {
    let Some(bin) = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        println!("NATS: skipped, nats-server is not installed (apt install nats-server)");
        return;
    };
    let store = tempfile::tempdir().expect("tmp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let mut child = std::process::Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server");
    let url = format!("nats://127.0.0.1:{port}");
    let client = loop {
        if let Ok(c) = async_nats::connect(&url).await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = server_config(dir.path());
    cfg.nats.url = Some(url.clone());
    let running = govpulse::serve::start(cfg).await.expect("server");
    running
        .state
        .store
        .add_source("bench", &[UnitCode::nation()], &running.state.units)
        .expect("source");
    let js = async_nats::jetstream::new(client);
    // Wait for the server to create the stream.
    while js.get_stream("EVENTS").await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // 500-event messages.
    let messages: Vec<bytes::Bytes> = bodies
        .iter()
        .flat_map(|b| {
            let lines: Vec<&[u8]> = b.split_inclusive(|&c| c == b'\n').collect();
            lines
                .chunks(500)
                .map(|c| bytes::Bytes::from(c.concat()))
                .collect::<Vec<_>>()
        })
        .collect();
    let t = Instant::now();
    let mut acks = Vec::new();
    for (i, m) in messages.into_iter().enumerate() {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", format!("bench-{i}").as_str());
        acks.push(
            js.publish_with_headers("events.bench", h, m)
                .await
                .expect("publish"),
        );
    }
    for a in acks {
        a.await.expect("publish ack");
    }
    let published = t.elapsed().as_secs_f64();
    loop {
        let len = running
            .state
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        if len >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    line("NATS publish (JetStream acks)", n, published);
    line(
        "NATS -> durable log, end to end",
        n,
        t.elapsed().as_secs_f64(),
    );
    let _ = child.kill();
    let _ = child.wait();
}
