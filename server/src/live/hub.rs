//! Topic state shared by the engine (writer) and connections (readers).

use bytes::Bytes;
use model::kpi::ProvinceRow;
use model::live::{ServerMsg, TopicData, topics};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use tokio::sync::watch;

struct Topic {
    seq: u64,
    /// Row key → (sequence number of its last change, row, sequence number
    /// of each minute bucket's last change).
    rows: BTreeMap<String, (u64, ProvinceRow, Vec<u64>)>,
    notify: watch::Sender<u64>,
    /// Deltas to the current `seq` already encoded, by base: connections at
    /// the same base (nearly all of them) share one serialisation.
    encoded: Vec<(u64, Bytes)>,
}

/// Encoded deltas kept per topic (distinct bases of slow clients).
const ENCODED_KEEP: usize = 8;

impl Topic {
    fn new() -> Self {
        Self {
            seq: 0,
            rows: BTreeMap::new(),
            notify: watch::channel(0).0,
            encoded: Vec::new(),
        }
    }

    /// Rows changed after `base`, each with only the minute buckets that
    /// changed after it (a client applies them with `ProvinceRow::merge`).
    fn data_since(&self, base: u64) -> TopicData {
        TopicData::Overview {
            rows: self
                .rows
                .values()
                .filter(|(s, _, _)| *s > base)
                .map(|(_, r, bucket_seqs)| ProvinceRow {
                    minutes: r
                        .minutes
                        .iter()
                        .zip(bucket_seqs)
                        .filter(|(_, s)| **s > base)
                        .map(|(m, _)| m.clone())
                        .collect(),
                    ..r.clone()
                })
                .collect(),
        }
    }
}

/// All live topics. Cheap to share behind an `Arc`.
pub struct Hub {
    topics: Mutex<HashMap<String, Topic>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

/// A topic's full state at one sequence number.
#[derive(Debug)]
pub struct Snapshot {
    pub seq: u64,
    pub data: TopicData,
    pub changes: watch::Receiver<u64>,
}

impl Hub {
    /// A hub with the overview topic only.
    pub fn new() -> Self {
        Self::with_topics([topics::OVERVIEW.to_owned()])
    }

    /// A hub with these topics; subscribing to any other is refused.
    pub fn with_topics(names: impl IntoIterator<Item = String>) -> Self {
        Self {
            topics: Mutex::new(names.into_iter().map(|n| (n, Topic::new())).collect()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Topic>> {
        // A panic while holding the lock cannot leave a topic half-updated
        // (every update is a plain insert), so the state is still usable.
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_topic(&self, topic: &str) -> bool {
        self.lock().contains_key(topic)
    }

    /// Replace rows of `topic` (upsert by key) and wake its subscribers.
    pub fn publish(&self, topic: &str, rows: Vec<ProvinceRow>) {
        if rows.is_empty() {
            return;
        }
        let mut topics = self.lock();
        let Some(t) = topics.get_mut(topic) else {
            return;
        };
        t.seq += 1;
        t.encoded.clear();
        for row in rows {
            let old = t.rows.get(&row.code);
            if old.is_some_and(|(_, r, _)| *r == row) {
                continue;
            }
            // A bucket keeps the sequence number of its last change, so a
            // delta carries only the minutes that moved.
            let bucket_seqs = row
                .minutes
                .iter()
                .map(|m| {
                    old.and_then(|(_, r, seqs)| {
                        r.minutes
                            .iter()
                            .position(|o| o.minute == m.minute)
                            .filter(|&i| r.minutes[i] == *m)
                            .map(|i| seqs[i])
                    })
                    .unwrap_or(t.seq)
                })
                .collect();
            t.rows.insert(row.code.clone(), (t.seq, row, bucket_seqs));
        }
        t.notify.send_replace(t.seq);
    }

    /// The whole topic, with a receiver that wakes on later changes.
    pub fn snapshot(&self, topic: &str) -> Option<Snapshot> {
        let topics = self.lock();
        let t = topics.get(topic)?;
        Some(Snapshot {
            seq: t.seq,
            data: t.data_since(0),
            changes: t.notify.subscribe(),
        })
    }

    /// The delta from `base` to the topic's current state as the JSON text
    /// of a [`ServerMsg::Delta`], and the sequence number it brings the
    /// client to; `None` if nothing changed. Encoded once per (base, seq)
    /// and shared by every connection asking for it.
    pub fn encoded_delta(&self, topic: &str, base: u64) -> Option<(u64, Bytes)> {
        let mut topics = self.lock();
        let t = topics.get_mut(topic)?;
        if t.seq <= base {
            return None;
        }
        if let Some((_, text)) = t.encoded.iter().find(|(b, _)| *b == base) {
            return Some((t.seq, text.clone()));
        }
        let msg = ServerMsg::Delta {
            topic: topic.to_owned(),
            base,
            seq: t.seq,
            data: t.data_since(base),
        };
        let text = Bytes::from(serde_json::to_vec(&msg).ok()?);
        if t.encoded.len() >= ENCODED_KEEP {
            t.encoded.remove(0);
        }
        t.encoded.push((base, text.clone()));
        Some((t.seq, text))
    }

    /// The rows changed after `base`, and the sequence number they bring
    /// the client to; `None` if nothing changed. Connections use
    /// [`Hub::encoded_delta`]; tests read deltas as values through this.
    #[cfg(test)]
    pub fn delta_since(&self, topic: &str, base: u64) -> Option<(u64, TopicData)> {
        let topics = self.lock();
        let t = topics.get(topic)?;
        (t.seq > base).then(|| (t.seq, t.data_since(base)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn codes(d: &TopicData) -> Vec<(String, u64)> {
        let TopicData::Overview { rows } = d;
        rows.iter().map(|r| (r.code.clone(), r.accepted)).collect()
    }

    #[test]
    fn deltas_carry_only_rows_changed_since_base() {
        let hub = Hub::new();
        hub.publish("overview", vec![row("01", 1), row("79", 1)]);
        let snap = hub.snapshot("overview").unwrap();
        assert_eq!(snap.seq, 1);
        hub.publish("overview", vec![row("01", 2)]);
        hub.publish("overview", vec![row("48", 1), row("79", 1)]);
        let (seq, d) = hub.delta_since("overview", 1).unwrap();
        assert_eq!(seq, 3);
        assert_eq!(
            codes(&d),
            vec![("01".into(), 2), ("48".into(), 1)],
            "unchanged 79 is not resent"
        );
        assert!(hub.delta_since("overview", 3).is_none());
        assert!(hub.snapshot("nope").is_none());
    }

    #[test]
    fn connections_at_the_same_base_share_one_encoded_delta() {
        let hub = Hub::new();
        hub.publish("overview", vec![row("01", 1), row("79", 1)]);
        hub.publish("overview", vec![row("01", 2)]);
        let (seq, a) = hub.encoded_delta("overview", 1).unwrap();
        let (_, b) = hub.encoded_delta("overview", 1).unwrap();
        assert_eq!(seq, 2);
        assert_eq!(a.as_ptr(), b.as_ptr(), "one serialisation, shared");
        let (_, data) = hub.delta_since("overview", 1).unwrap();
        let parsed: ServerMsg = serde_json::from_slice(&a).unwrap();
        assert_eq!(
            parsed,
            ServerMsg::Delta {
                topic: "overview".into(),
                base: 1,
                seq: 2,
                data
            }
        );
        let (_, from_zero) = hub.encoded_delta("overview", 0).unwrap();
        assert_ne!(a, from_zero, "another base, another delta");
        hub.publish("overview", vec![row("48", 1)]);
        let (seq, c) = hub.encoded_delta("overview", 1).unwrap();
        assert_eq!(seq, 3);
        assert_ne!(a, c, "a publish invalidates the encoded deltas");
        assert!(hub.encoded_delta("overview", 3).is_none());
    }

    #[test]
    fn a_delta_carries_only_the_minute_buckets_that_changed() {
        let bucket = |minute: &str, accepted| model::kpi::MinuteCount {
            minute: minute.into(),
            accepted,
            online: 0,
            corrections: 0,
        };
        let with = |accepted, minutes: Vec<model::kpi::MinuteCount>| ProvinceRow {
            minutes_from: minutes[0].minute.clone(),
            minutes,
            ..row("01", accepted)
        };
        let hub = Hub::new();
        hub.publish(
            "overview",
            vec![with(3, vec![bucket("a", 1), bucket("b", 2)])],
        );
        hub.publish(
            "overview",
            vec![with(4, vec![bucket("a", 1), bucket("b", 3)])],
        );
        hub.publish(
            "overview",
            vec![with(5, vec![bucket("b", 3), bucket("c", 1)])],
        );
        let minutes = |d: TopicData| {
            let TopicData::Overview { rows } = d;
            rows[0]
                .minutes
                .iter()
                .map(|m| m.minute.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(minutes(hub.delta_since("overview", 2).unwrap().1), ["c"]);
        assert_eq!(
            minutes(hub.delta_since("overview", 1).unwrap().1),
            ["b", "c"]
        );
        let snap = hub.snapshot("overview").unwrap();
        assert_eq!(minutes(snap.data), ["b", "c"], "a snapshot is whole");
        // A client that applies the deltas ends up with the whole row.
        let mut replica = model::live::Replica::new("overview");
        let first = TopicData::Overview {
            rows: vec![with(3, vec![bucket("a", 1), bucket("b", 2)])],
        };
        replica.apply(ServerMsg::Snapshot {
            topic: "overview".into(),
            seq: 1,
            data: first,
        });
        let (seq, data) = hub.delta_since("overview", 1).unwrap();
        replica.apply(ServerMsg::Delta {
            topic: "overview".into(),
            base: 1,
            seq,
            data,
        });
        assert_eq!(
            replica.rows,
            vec![with(5, vec![bucket("b", 3), bucket("c", 1)])]
        );
    }
}
