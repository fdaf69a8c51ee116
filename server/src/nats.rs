//! The NATS JetStream source: a durable pull consumer on `events.>` that
//! feeds the same ingest path as HTTP (decode, validate, scope, append).
//!
//! A message is acknowledged only after its events are durable in our log
//! (or, for a message that can never be taken, after its rejection is
//! stored). If the log cannot write, the fetched messages are not
//! acknowledged and JetStream redelivers them after a delay. Redelivery
//! and publisher retries never double-count: JetStream drops a repeated
//! `Nats-Msg-Id` inside its duplicate window, and the log drops a repeated
//! (source, `event_id`) forever.
//!
//! The subject names the source: `events.<source-name>[.…]`, a source made
//! with `govpulse sources add`, whose units bound what it may report.
//! Restricting who may publish on which subject is NATS's own
//! authorization's job.

use crate::app::AppState;
use crate::config::NatsConfig;
use crate::ingest;
use crate::store::SourceInfo;
use anyhow::{Context, Result};
use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use futures::StreamExt;
use pipelines::sources::validate::Checks;
use pipelines::sources::{Decoded, FieldError, Format, Rejection};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Run the consumer until the task is aborted, reconnecting with backoff.
pub async fn run(state: AppState) -> Result<()> {
    let cfg = state.config.nats.clone();
    let Some(url) = cfg.url.clone().filter(|u| !u.is_empty()) else {
        return std::future::pending().await;
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        match consume(&state, &cfg, &url).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                state.metrics.nats_connected.store(0, Ordering::Relaxed);
                tracing::warn!("NATS source {url}: {e:#}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn consume(state: &AppState, cfg: &NatsConfig, url: &str) -> Result<()> {
    let client = async_nats::connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let js = jetstream::new(client);
    let stream = js
        .get_or_create_stream(stream::Config {
            name: cfg.stream.clone(),
            subjects: vec![cfg.subjects.clone()],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(cfg.duplicate_window_secs),
            ..Default::default()
        })
        .await
        .with_context(|| format!("stream {}", cfg.stream))?;
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            &cfg.consumer,
            pull::Config {
                durable_name: Some(cfg.consumer.clone()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ack_wait: Duration::from_secs(cfg.ack_wait_secs),
                filter_subject: cfg.subjects.clone(),
                max_ack_pending: (cfg.batch * 4) as i64,
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("consumer {}", cfg.consumer))?;
    state.metrics.nats_connected.store(1, Ordering::Relaxed);
    tracing::info!(url, stream = %cfg.stream, consumer = %cfg.consumer, "consuming from NATS JetStream");
    loop {
        let mut fetched = consumer
            .fetch()
            .max_messages(cfg.batch)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .context("fetch")?;
        let mut batch = Vec::new();
        while let Some(msg) = fetched.next().await {
            batch.push(msg.map_err(|e| anyhow::anyhow!("message: {e}"))?);
        }
        if !batch.is_empty() {
            take(state, batch).await?;
        }
    }
}

/// Append one fetched batch, grouped by source, and acknowledge what is
/// durable.
async fn take(state: &AppState, batch: Vec<jetstream::Message>) -> Result<()> {
    let m = &state.metrics;
    m.nats_delivered
        .fetch_add(batch.len() as i64, Ordering::Relaxed);
    let redelivered = batch
        .iter()
        .filter(|msg| msg.info().is_ok_and(|i| i.delivered > 1))
        .count();
    m.nats_redelivered
        .fetch_add(redelivered as i64, Ordering::Relaxed);
    let mut by_source: BTreeMap<String, Vec<jetstream::Message>> = BTreeMap::new();
    for msg in batch {
        let name = msg.subject.split('.').nth(1).unwrap_or_default().to_owned();
        by_source.entry(name).or_default().push(msg);
    }
    for (name, msgs) in by_source {
        // A source over its rejection budget is not read now: JetStream
        // redelivers its messages once the wait is over, losing nothing.
        if let Some(wait) = state.rejection_budget.over(&name) {
            tracing::warn!(source = %name, ?wait, "over its rejection budget; NATS messages delayed");
            for msg in &msgs {
                let _ = msg.ack_with(AckKind::Nak(Some(wait))).await;
            }
            continue;
        }
        let st = state.clone();
        let payloads: Vec<(Option<String>, bytes::Bytes)> = msgs
            .iter()
            .map(|msg| {
                let ctype = msg
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Content-Type"))
                    .map(|v| v.as_str().to_owned());
                (ctype, msg.payload.clone())
            })
            .collect();
        let subject = msgs[0].subject.to_string();
        let outcome = tokio::task::spawn_blocking(move || {
            let source = st.store.source_by_name(&name)?;
            let decoded = match &source {
                Some(_) => decode_all(&st, payloads),
                None => unknown_source(&name, &subject, payloads),
            };
            let source = source.unwrap_or_else(|| SourceInfo {
                units: vec![],
                ..ingest::internal_source(&name)
            });
            ingest::append(&st, &source, decoded).map_err(anyhow::Error::from)
        })
        .await?;
        match outcome {
            Ok(report) => {
                tracing::debug!(
                    accepted = report.accepted,
                    duplicates = report.duplicates,
                    rejected = report.rejected_count,
                    "NATS batch appended"
                );
                for msg in &msgs {
                    msg.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
                }
                m.nats_acked.fetch_add(msgs.len() as i64, Ordering::Relaxed);
            }
            Err(e) => {
                // Not durable: ask for redelivery later, acknowledge nothing.
                tracing::error!("NATS batch not appended, will be redelivered: {e:#}");
                for msg in &msgs {
                    let _ = msg
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                        .await;
                }
            }
        }
    }
    Ok(())
}

/// Decode every message of one source, each in its own format; line numbers
/// of rejections are those inside the message.
fn decode_all(state: &AppState, payloads: Vec<(Option<String>, bytes::Bytes)>) -> Decoded {
    let checks = Checks {
        not_after: Some(
            (chrono::Utc::now() + chrono::Duration::minutes(ingest::MAX_SKEW_MINUTES))
                .fixed_offset(),
        ),
    };
    let mut out = Decoded::default();
    for (ctype, payload) in payloads {
        let format = match ctype.as_deref() {
            None => Some(Format::Ndjson),
            Some(t) => Format::from_media_type(t),
        };
        let Some(format) = format else {
            out.rejected.push(Rejection {
                line: 0,
                event_id: None,
                errors: vec![FieldError {
                    field: "$".into(),
                    rule: "content_type".into(),
                    message: format!(
                        "Content-Type {:?} is not supported; send application/x-ndjson, text/csv or application/vnd.apache.parquet",
                        ctype.unwrap_or_default()
                    ),
                }],
                raw: String::from_utf8_lossy(&payload[..payload.len().min(4096)]).into_owned(),
            });
            continue;
        };
        let d = pipelines::sources::decode(format, payload, &state.units, checks);
        out.events.extend(d.events);
        out.rejected.extend(d.rejected);
    }
    out
}

/// Every message on a subject with no live source is rejected whole.
fn unknown_source(
    name: &str,
    subject: &str,
    payloads: Vec<(Option<String>, bytes::Bytes)>,
) -> Decoded {
    let mut rejected = pipelines::sources::Rejections::default();
    for (_, payload) in payloads {
        rejected.push(Rejection {
            line: 0,
            event_id: None,
            errors: vec![FieldError {
                field: "$subject".into(),
                rule: "unknown_source".into(),
                message: format!(
                    "subject {subject:?} names source {name:?}, which does not exist or is revoked"
                ),
            }],
            raw: String::from_utf8_lossy(&payload[..payload.len().min(4096)]).into_owned(),
        });
    }
    Decoded {
        events: vec![],
        rejected,
    }
}
