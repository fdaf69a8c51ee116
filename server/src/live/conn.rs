//! One live connection, written against a [`Transport`] of protocol
//! messages so tests drive it with channels and the websocket layer only
//! translates frames.

use super::Hub;
use futures::StreamExt;
use model::live::{ClientMsg, ServerMsg};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio_stream::StreamMap;
use tokio_stream::wrappers::WatchStream;

/// Which topics a connection may subscribe to. Every subscribe is checked.
pub trait Scope: Send + Sync {
    fn may_subscribe(&self, topic: &str) -> bool;
}

/// Everything visible (committee, administrator, or a server without
/// accounts).
#[derive(Debug, Clone, Copy)]
pub struct AllTopics;

impl Scope for AllTopics {
    fn may_subscribe(&self, _topic: &str) -> bool {
        true
    }
}

/// Heartbeats a peer may miss before it is considered dead.
const MISSED_HEARTBEATS: u32 = 3;

/// A user's scope: the overview for national users, `unit/{code}` for
/// units their scope covers.
pub struct UserScope {
    pub user: crate::store::User,
    pub units: Arc<pipelines::units::UnitRegistry>,
}

impl Scope for UserScope {
    fn may_subscribe(&self, topic: &str) -> bool {
        if topic == model::live::topics::OVERVIEW {
            return self.user.is_national();
        }
        model::live::topics::unit_code(topic).is_some_and(|code| self.user.sees(&self.units, code))
    }
}

/// What a connection sends: a message, or one already encoded as JSON text
/// (deltas, shared between connections).
#[derive(Debug, Clone)]
pub enum Outgoing {
    Msg(ServerMsg),
    Encoded(bytes::Bytes),
}

/// Both directions of one connection, as protocol messages. Used whole
/// (no split halves and lock between them): the loop below only ever
/// receives or sends, one at a time.
pub trait Transport: Send {
    /// The next client message, or why it could not be read; `None` once
    /// the peer has gone. Must be cancel-safe.
    fn recv(&mut self) -> impl Future<Output = Option<Result<ClientMsg, String>>> + Send;
    /// Send one message; `Err` once the peer has gone.
    fn send(&mut self, msg: Outgoing) -> impl Future<Output = Result<(), ()>> + Send;
}

/// Serve one connection until the peer leaves, stops answering
/// heartbeats, or the socket fails. `coalesced` counts topic updates that
/// were folded into a later delta because the client was slow.
pub async fn run<T: Transport>(
    hub: Arc<Hub>,
    scope: &dyn Scope,
    mut transport: T,
    heartbeat: Duration,
    coalesced: &AtomicI64,
) {
    let mut subs: StreamMap<String, WatchStream<u64>> = StreamMap::new();
    let mut sent: HashMap<String, u64> = HashMap::new();
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + phase(heartbeat), heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut silent_ticks = 0u32;

    loop {
        let reply = tokio::select! {
            msg = transport.recv() => {
                silent_ticks = 0;
                match msg {
                    None => break,
                    Some(Err(message)) => Some(Outgoing::Msg(ServerMsg::Error { topic: None, message })),
                    Some(Ok(ClientMsg::Ping)) => Some(Outgoing::Msg(ServerMsg::Pong)),
                    Some(Ok(ClientMsg::Unsubscribe { topic })) => {
                        subs.remove(&topic);
                        sent.remove(&topic);
                        None
                    }
                    Some(Ok(ClientMsg::Subscribe { topic } | ClientMsg::Resync { topic })) => {
                        Some(Outgoing::Msg(subscribe(&hub, scope, &topic, &mut subs, &mut sent)))
                    }
                }
            }
            Some((topic, _)) = subs.next(), if !subs.is_empty() => {
                let base = sent.get(&topic).copied().unwrap_or(0);
                hub.encoded_delta(&topic, base).map(|(seq, text)| {
                    sent.insert(topic.clone(), seq);
                    let folded = seq.saturating_sub(base).saturating_sub(1);
                    coalesced.fetch_add(i64::try_from(folded).unwrap_or(i64::MAX), Ordering::Relaxed);
                    Outgoing::Encoded(text)
                })
            }
            _ = tick.tick() => {
                silent_ticks += 1;
                if silent_ticks > MISSED_HEARTBEATS {
                    break;
                }
                Some(Outgoing::Msg(ServerMsg::Heartbeat { server_time: chrono::Utc::now().to_rfc3339() }))
            }
        };
        if let Some(msg) = reply
            && transport.send(msg).await.is_err()
        {
            break;
        }
    }
}

/// When a connection's first heartbeat falls: a random point of the first
/// interval. Clients that connect together (every browser reconnecting
/// after a restart) would otherwise exchange heartbeat, ping and pong in
/// lockstep forever, a burst of three messages a connection that lands on
/// top of live deltas every interval.
fn phase(heartbeat: Duration) -> Duration {
    let r = getrandom::u64().unwrap_or(0);
    heartbeat.mul_f64((r >> 11) as f64 / (1u64 << 53) as f64)
}

fn subscribe(
    hub: &Hub,
    scope: &dyn Scope,
    topic: &str,
    subs: &mut StreamMap<String, WatchStream<u64>>,
    sent: &mut HashMap<String, u64>,
) -> ServerMsg {
    // Refuse unknown and out-of-scope topics with the same words, so a
    // refusal does not reveal whether a unit exists.
    let refused = || ServerMsg::Error {
        topic: Some(topic.to_owned()),
        message: format!("topic {topic:?} is not available to you"),
    };
    if !scope.may_subscribe(topic) {
        return refused();
    }
    let Some(snap) = hub.snapshot(topic) else {
        return refused();
    };
    subs.insert(topic.to_owned(), WatchStream::from_changes(snap.changes));
    sent.insert(topic.to_owned(), snap.seq);
    ServerMsg::Snapshot {
        topic: topic.to_owned(),
        seq: snap.seq,
        data: snap.data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::SinkExt;
    use futures::channel::mpsc;
    use model::kpi::ProvinceRow;
    use model::live::TopicData;

    fn row(code: &str, accepted: u64) -> ProvinceRow {
        ProvinceRow {
            code: code.into(),
            name: code.into(),
            accepted,
            online: 0,
            minutes_from: String::new(),
            minutes: vec![],
            final_before: String::new(),
            corrections: 0,
        }
    }

    struct Client {
        tx: mpsc::Sender<Result<ClientMsg, String>>,
        rx: mpsc::Receiver<Outgoing>,
    }

    /// The server's end: bounded channels, so a client that stops reading
    /// blocks the connection's sends like a full socket would.
    struct Channels {
        rx: mpsc::Receiver<Result<ClientMsg, String>>,
        tx: mpsc::Sender<Outgoing>,
    }

    impl Transport for Channels {
        async fn recv(&mut self) -> Option<Result<ClientMsg, String>> {
            self.rx.next().await
        }

        async fn send(&mut self, msg: Outgoing) -> Result<(), ()> {
            self.tx.send(msg).await.map_err(|_| ())
        }
    }

    fn connect(hub: Arc<Hub>, heartbeat: Duration) -> (Client, tokio::task::JoinHandle<()>) {
        let (tx, client_rx) = mpsc::channel(8);
        let (server_tx, rx) = mpsc::channel(8);
        let transport = Channels {
            rx: client_rx,
            tx: server_tx,
        };
        let task = tokio::spawn(async move {
            run(hub, &AllTopics, transport, heartbeat, &AtomicI64::new(0)).await
        });
        (Client { tx, rx }, task)
    }

    impl Client {
        async fn send(&mut self, m: ClientMsg) {
            self.tx.send(Ok(m)).await.unwrap();
        }
        async fn recv(&mut self) -> ServerMsg {
            loop {
                let msg = match self.rx.next().await.unwrap() {
                    Outgoing::Msg(m) => m,
                    Outgoing::Encoded(text) => serde_json::from_slice(&text).unwrap(),
                };
                match msg {
                    ServerMsg::Heartbeat { .. } => continue,
                    m => return m,
                }
            }
        }
    }

    #[tokio::test]
    async fn snapshot_then_deltas_with_sequence_numbers() {
        let hub = Arc::new(Hub::new());
        hub.publish("overview", vec![row("01", 1)]);
        let (mut c, _task) = connect(hub.clone(), Duration::from_secs(60));
        c.send(ClientMsg::Subscribe {
            topic: "overview".into(),
        })
        .await;
        let ServerMsg::Snapshot {
            seq: 1,
            data: TopicData::Overview { rows },
            ..
        } = c.recv().await
        else {
            panic!("expected a snapshot at seq 1")
        };
        assert_eq!(rows.len(), 1);
        hub.publish("overview", vec![row("79", 4)]);
        match c.recv().await {
            ServerMsg::Delta {
                base: 1,
                seq: 2,
                data: TopicData::Overview { rows },
                ..
            } => {
                assert_eq!(rows, vec![row("79", 4)])
            }
            m => panic!("unexpected {m:?}"),
        }
    }

    #[tokio::test]
    async fn updates_piling_up_for_a_slow_client_collapse_into_one_delta() {
        let hub = Arc::new(Hub::new());
        let (mut c, _task) = connect(hub.clone(), Duration::from_secs(60));
        c.send(ClientMsg::Subscribe {
            topic: "overview".into(),
        })
        .await;
        let ServerMsg::Snapshot { seq: 0, .. } = c.recv().await else {
            panic!()
        };
        // The client reads nothing while 1,000 updates happen; the sink
        // holds at most its buffer and the hub keeps only the latest rows.
        for i in 0..1000 {
            hub.publish(
                "overview",
                vec![
                    row("01", i + 1),
                    row(if i % 2 == 0 { "79" } else { "48" }, i),
                ],
            );
        }
        let mut last = 0;
        loop {
            let ServerMsg::Delta {
                seq,
                data: TopicData::Overview { rows },
                base,
                ..
            } = c.recv().await
            else {
                panic!()
            };
            assert_eq!(base, last);
            last = seq;
            if seq == 1000 {
                assert!(rows.iter().any(|r| r.code == "01" && r.accepted == 1000));
                break;
            }
        }
    }

    #[tokio::test]
    async fn unknown_topics_are_refused_and_resync_resends_a_snapshot() {
        let hub = Arc::new(Hub::new());
        let (mut c, _task) = connect(hub.clone(), Duration::from_secs(60));
        c.send(ClientMsg::Subscribe {
            topic: "unit/99".into(),
        })
        .await;
        assert!(matches!(
            c.recv().await,
            ServerMsg::Error { topic: Some(_), .. }
        ));
        hub.publish("overview", vec![row("01", 1)]);
        c.send(ClientMsg::Resync {
            topic: "overview".into(),
        })
        .await;
        assert!(matches!(c.recv().await, ServerMsg::Snapshot { seq: 1, .. }));
        c.tx.send(Err("bad frame".into())).await.unwrap();
        assert!(matches!(
            c.recv().await,
            ServerMsg::Error { topic: None, .. }
        ));
        c.send(ClientMsg::Ping).await;
        assert_eq!(c.recv().await, ServerMsg::Pong);
    }

    #[test]
    fn heartbeat_phases_spread_over_the_interval() {
        let beat = Duration::from_secs(15);
        let phases: Vec<_> = (0..200).map(|_| phase(beat)).collect();
        assert!(phases.iter().all(|p| *p < beat));
        // 200 draws: each third of the interval gets some (the chance that
        // one gets none is 3 * (2/3)^200, about 1e-35).
        for third in 0..3 {
            let (lo, hi) = (beat * third / 3, beat * (third + 1) / 3);
            assert!(
                phases.iter().any(|p| (lo..hi).contains(p)),
                "none in third {third}"
            );
        }
    }

    #[tokio::test]
    async fn a_silent_peer_is_dropped_after_missed_heartbeats() {
        let hub = Arc::new(Hub::new());
        let (mut c, task) = connect(hub, Duration::from_millis(20));
        let mut beats = 0;
        while let Some(m) = c.rx.next().await {
            assert!(matches!(m, Outgoing::Msg(ServerMsg::Heartbeat { .. })));
            beats += 1;
        }
        assert_eq!(beats, MISSED_HEARTBEATS);
        task.await.unwrap();
    }
}
