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

/// What a subscribe is judged to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Unknown, or outside the scope: refused with the same words.
    Refused,
    /// The session behind the connection has ended: the socket closes.
    SignedOut,
}

/// Who is behind a connection, and whether they still are. Every
/// subscribe is judged against the session as it is at that moment, and
/// the connection closes as soon as the session ends.
pub trait Scope: Send + Sync {
    fn judge(&self, topic: &str) -> impl Future<Output = Verdict> + Send;
    /// Resolves once the session behind the connection has ended; never
    /// for a scope without one. Must be cancel-safe.
    fn ended(&self) -> impl Future<Output = ()> + Send;
}

/// Everything visible, for ever (tests and benchmarks of the hub).
#[derive(Debug, Clone, Copy)]
pub struct AllTopics;

impl Scope for AllTopics {
    async fn judge(&self, _topic: &str) -> Verdict {
        Verdict::Allowed
    }
    async fn ended(&self) {
        std::future::pending::<()>().await
    }
}

/// Heartbeats a peer may miss before it is considered dead.
const MISSED_HEARTBEATS: u32 = 3;

/// A signed-in user's connection: the session it was opened with, watched
/// by [`super::sessions::SessionWatch`]. A subscribe reads the session
/// afresh: the overview for national users, `unit/{code}` for units their
/// scope covers.
pub struct UserScope {
    pub session_id: String,
    pub store: Arc<crate::store::Store>,
    pub limits: crate::store::SessionLimits,
    pub units: Arc<pipelines::units::UnitRegistry>,
    pub watch: super::sessions::Registration,
}

impl Scope for UserScope {
    async fn judge(&self, topic: &str) -> Verdict {
        if self.watch.has_ended() {
            return Verdict::SignedOut;
        }
        let (store, id, limits) = (self.store.clone(), self.session_id.clone(), self.limits);
        let user = match tokio::task::spawn_blocking(move || store.session_user(&id, limits)).await
        {
            Ok(Ok(Some(user))) => user,
            Ok(Ok(None)) => return Verdict::SignedOut,
            // The database cannot answer now: refuse this subscribe, keep
            // the socket; the client may try again.
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot check a subscribe's session");
                return Verdict::Refused;
            }
            Err(_) => return Verdict::Refused,
        };
        let allowed = if topic == model::live::topics::OVERVIEW {
            user.is_national()
        } else {
            model::live::topics::unit_code(topic).is_some_and(|code| user.sees(&self.units, code))
        };
        if allowed {
            Verdict::Allowed
        } else {
            Verdict::Refused
        }
    }

    async fn ended(&self) {
        self.watch.ended().await
    }
}

/// What a connection sends: a message, or one already encoded as JSON text
/// (deltas, shared between connections).
#[derive(Debug, Clone)]
pub enum Outgoing {
    Msg(ServerMsg),
    Encoded(bytes::Bytes),
    /// Close the connection with this code and reason; the last message.
    Close(u16, &'static str),
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
pub async fn run<T: Transport, S: Scope>(
    hub: Arc<Hub>,
    scope: &S,
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
    let signed_out = Outgoing::Close(model::live::CLOSE_SIGNED_OUT, "signed out");

    loop {
        let reply = tokio::select! {
            // First: once the session has ended, nothing more is sent.
            biased;
            () = scope.ended() => Some(signed_out.clone()),
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
                        match scope.judge(&topic).await {
                            Verdict::SignedOut => Some(signed_out.clone()),
                            verdict => Some(Outgoing::Msg(subscribe(
                                &hub,
                                verdict == Verdict::Allowed,
                                &topic,
                                &mut subs,
                                &mut sent,
                            ))),
                        }
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
        let closing = matches!(reply, Some(Outgoing::Close(..)));
        if let Some(msg) = reply
            && transport.send(msg).await.is_err()
        {
            break;
        }
        if closing {
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
    allowed: bool,
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
    if !allowed {
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
        connect_as(hub, Arc::new(AllTopics), heartbeat)
    }

    /// A connection judged by `scope`, driven through channels.
    fn connect_as<S: Scope + 'static>(
        hub: Arc<Hub>,
        scope: Arc<S>,
        heartbeat: Duration,
    ) -> (Client, tokio::task::JoinHandle<()>) {
        let (tx, client_rx) = mpsc::channel(8);
        let (server_tx, rx) = mpsc::channel(8);
        let transport = Channels {
            rx: client_rx,
            tx: server_tx,
        };
        let task = tokio::spawn(async move {
            run(hub, &*scope, transport, heartbeat, &AtomicI64::new(0)).await
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
                    Outgoing::Close(code, reason) => panic!("closed: {code} {reason}"),
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

    /// A scope whose session can be ended by the test, and whose
    /// subscribes are judged by what the test set last.
    struct Switch {
        ended: tokio::sync::watch::Receiver<bool>,
        verdict: std::sync::Mutex<Verdict>,
    }

    impl Scope for Switch {
        async fn judge(&self, _topic: &str) -> Verdict {
            *self.verdict.lock().unwrap()
        }
        async fn ended(&self) {
            let _ = self.ended.clone().wait_for(|e| *e).await;
        }
    }

    fn connect_with(hub: Arc<Hub>, scope: Arc<Switch>) -> (Client, tokio::task::JoinHandle<()>) {
        connect_as(hub, scope, Duration::from_secs(60))
    }

    async fn closed_signed_out(c: &mut Client, task: tokio::task::JoinHandle<()>) {
        loop {
            match c.rx.next().await {
                Some(Outgoing::Close(code, reason)) => {
                    assert_eq!(
                        (code, reason),
                        (model::live::CLOSE_SIGNED_OUT, "signed out")
                    );
                    break;
                }
                Some(Outgoing::Msg(ServerMsg::Heartbeat { .. })) => {}
                Some(other) => panic!("expected the close, got {other:?}"),
                None => panic!("the connection ended without a close"),
            }
        }
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("the connection ends with its close")
            .unwrap();
        assert!(c.rx.next().await.is_none(), "nothing follows the close");
    }

    #[tokio::test]
    async fn a_session_that_ends_closes_the_socket_before_any_further_delta() {
        let hub = Arc::new(Hub::new());
        let (end, ended) = tokio::sync::watch::channel(false);
        let scope = Arc::new(Switch {
            ended,
            verdict: std::sync::Mutex::new(Verdict::Allowed),
        });
        let (mut c, task) = connect_with(hub.clone(), scope);
        c.send(ClientMsg::Subscribe {
            topic: "overview".into(),
        })
        .await;
        assert!(matches!(c.recv().await, ServerMsg::Snapshot { .. }));
        end.send_replace(true);
        // Updates published after the end reach nobody.
        hub.publish("overview", vec![row("01", 9)]);
        closed_signed_out(&mut c, task).await;
    }

    #[tokio::test]
    async fn a_subscribe_is_judged_against_the_session_as_it_is_now() {
        let hub = Arc::new(Hub::new());
        let (_end, ended) = tokio::sync::watch::channel(false);
        let scope = Arc::new(Switch {
            ended,
            verdict: std::sync::Mutex::new(Verdict::Allowed),
        });
        let (mut c, task) = connect_with(hub.clone(), scope.clone());
        c.send(ClientMsg::Subscribe {
            topic: "overview".into(),
        })
        .await;
        assert!(matches!(c.recv().await, ServerMsg::Snapshot { .. }));
        *scope.verdict.lock().unwrap() = Verdict::Refused;
        c.send(ClientMsg::Resync {
            topic: "overview".into(),
        })
        .await;
        assert!(matches!(
            c.recv().await,
            ServerMsg::Error { topic: Some(_), .. }
        ));
        *scope.verdict.lock().unwrap() = Verdict::SignedOut;
        c.send(ClientMsg::Subscribe {
            topic: "unit/01".into(),
        })
        .await;
        closed_signed_out(&mut c, task).await;
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
