//! The live protocol (DESIGN.md, "Live protocol"): one websocket per tab;
//! the client subscribes to topics, the server answers each with a snapshot
//! carrying a sequence number, then deltas. A delta names the sequence number
//! it applies on top of (`base`); a client whose state is not at `base` asks
//! for a resync. Deltas that queue up for a slow client are merged, so `seq`
//! may jump by more than one — what matters is `base`.

use crate::kpi::ProvinceRow;
use serde::{Deserialize, Serialize};

/// Topic names, as on the wire.
pub mod topics {
    /// Every province's row: national viewers only.
    pub const OVERVIEW: &str = "overview";

    /// One unit's rows, for anyone whose scope covers the unit.
    pub fn unit(code: &str) -> String {
        format!("unit/{code}")
    }

    /// The unit code of a `unit/{code}` topic.
    pub fn unit_code(topic: &str) -> Option<&str> {
        topic.strip_prefix("unit/")
    }
}

/// The websocket close code the server sends when the session behind a
/// connection has ended (logout, password change, a disabled user, the idle
/// or absolute limit): the page shows "signed out" and returns to the login
/// form instead of reconnecting. In the 4000–4999 range that RFC 6455
/// leaves to applications; 4401 echoes HTTP's 401.
pub const CLOSE_SIGNED_OUT: u16 = 4401;

/// Messages from the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientMsg {
    Subscribe {
        topic: String,
    },
    Unsubscribe {
        topic: String,
    },
    /// Ask for a fresh snapshot after a gap.
    Resync {
        topic: String,
    },
    Ping,
}

/// Messages from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Snapshot {
        topic: String,
        seq: u64,
        data: TopicData,
    },
    Delta {
        topic: String,
        base: u64,
        seq: u64,
        data: TopicData,
    },
    Error {
        topic: Option<String>,
        message: String,
    },
    Heartbeat {
        server_time: String,
    },
    Pong,
}

/// The payload of a topic. A snapshot carries every row; a delta carries the
/// rows that changed (upserts by key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicData {
    Overview { rows: Vec<ProvinceRow> },
}

impl TopicData {
    /// Merge a later delta into this one: rows with the same key are
    /// replaced, new keys are added.
    pub fn merge(&mut self, later: TopicData) {
        match (self, later) {
            (TopicData::Overview { rows }, TopicData::Overview { rows: newer }) => {
                for row in newer {
                    match rows.iter_mut().find(|r| r.code == row.code) {
                        Some(slot) => slot.merge(row),
                        None => rows.push(row),
                    }
                }
            }
        }
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

    #[test]
    fn wire_format_is_tagged() {
        let m: ClientMsg =
            serde_json::from_str(r#"{"op":"subscribe","topic":"overview"}"#).unwrap();
        assert_eq!(
            m,
            ClientMsg::Subscribe {
                topic: "overview".into()
            }
        );
        let s = serde_json::to_string(&ServerMsg::Pong).unwrap();
        assert_eq!(s, r#"{"type":"pong"}"#);
    }

    fn bucket(minute: &str, accepted: u64) -> crate::kpi::MinuteCount {
        crate::kpi::MinuteCount {
            minute: minute.into(),
            accepted,
            online: 0,
            corrections: 0,
        }
    }

    #[test]
    fn a_delta_row_upserts_its_buckets_and_slides_the_window() {
        let mut a = TopicData::Overview {
            rows: vec![ProvinceRow {
                minutes_from: "10:00".into(),
                minutes: vec![bucket("10:00", 1), bucket("10:01", 2), bucket("10:02", 0)],
                ..row("01", 3)
            }],
        };
        // Minute 10:02 changed and 10:03 opened; the window now starts at 10:01.
        a.merge(TopicData::Overview {
            rows: vec![ProvinceRow {
                minutes_from: "10:01".into(),
                minutes: vec![bucket("10:02", 4), bucket("10:03", 1)],
                ..row("01", 8)
            }],
        });
        let TopicData::Overview { rows } = a;
        assert_eq!(rows[0].accepted, 8);
        assert_eq!(
            rows[0].minutes,
            vec![bucket("10:01", 2), bucket("10:02", 4), bucket("10:03", 1)]
        );
    }

    #[test]
    fn merged_deltas_keep_the_latest_row_per_key() {
        let mut a = TopicData::Overview {
            rows: vec![row("01", 1), row("79", 1)],
        };
        a.merge(TopicData::Overview {
            rows: vec![row("01", 5), row("48", 2)],
        });
        let TopicData::Overview { rows } = a;
        let got: Vec<_> = rows.iter().map(|r| (r.code.as_str(), r.accepted)).collect();
        assert_eq!(got, vec![("01", 5), ("79", 1), ("48", 2)]);
    }
}

/// What a client did with one server message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The replica changed.
    Updated,
    /// Nothing for this replica (another topic, a heartbeat, ...).
    Ignored,
    /// A delta did not start where the replica is: ask for a resync.
    Gap,
}

/// The client side of one topic: the state the server's snapshot and
/// deltas build up, and the gap check that keeps it honest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replica {
    pub topic: String,
    pub seq: Option<u64>,
    pub rows: Vec<ProvinceRow>,
}

impl Replica {
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
            seq: None,
            rows: Vec::new(),
        }
    }

    pub fn apply(&mut self, msg: ServerMsg) -> Applied {
        match msg {
            ServerMsg::Snapshot {
                topic,
                seq,
                data: TopicData::Overview { rows },
            } if topic == self.topic => {
                self.seq = Some(seq);
                self.rows = rows;
                Applied::Updated
            }
            ServerMsg::Delta {
                topic,
                base,
                seq,
                data,
            } if topic == self.topic => {
                if self.seq != Some(base) {
                    return Applied::Gap;
                }
                let mut current = TopicData::Overview {
                    rows: std::mem::take(&mut self.rows),
                };
                current.merge(data);
                let TopicData::Overview { rows } = current;
                self.rows = rows;
                self.seq = Some(seq);
                Applied::Updated
            }
            _ => Applied::Ignored,
        }
    }

    /// Forget the state, as after a disconnect: the next snapshot rebuilds it.
    pub fn reset(&mut self) {
        self.seq = None;
    }
}

#[cfg(test)]
mod replica_tests {
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

    fn delta(base: u64, seq: u64, rows: Vec<ProvinceRow>) -> ServerMsg {
        ServerMsg::Delta {
            topic: "overview".into(),
            base,
            seq,
            data: TopicData::Overview { rows },
        }
    }

    #[test]
    fn snapshot_then_deltas_then_a_gap() {
        let mut r = Replica::new("overview");
        assert_eq!(
            r.apply(delta(0, 1, vec![row("01", 1)])),
            Applied::Gap,
            "no delta before a snapshot"
        );
        let snap = ServerMsg::Snapshot {
            topic: "overview".into(),
            seq: 3,
            data: TopicData::Overview {
                rows: vec![row("01", 1)],
            },
        };
        assert_eq!(r.apply(snap), Applied::Updated);
        assert_eq!(
            r.apply(delta(3, 5, vec![row("01", 2), row("79", 1)])),
            Applied::Updated
        );
        assert_eq!(r.seq, Some(5));
        assert_eq!(r.rows, vec![row("01", 2), row("79", 1)]);
        assert_eq!(r.apply(delta(6, 7, vec![row("01", 9)])), Applied::Gap);
        assert_eq!(r.rows[0].accepted, 2, "a delta across a gap is not applied");
        assert_eq!(r.apply(ServerMsg::Pong), Applied::Ignored);
    }
}
