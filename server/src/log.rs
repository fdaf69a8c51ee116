//! The event log: durable, append-only, replayable; the source of truth for
//! everything downstream (DESIGN.md, "Storage and recovery").
//!
//! One NDJSON line per accepted event, `{"source":…,"event":{…}}`, written
//! and `fsync`ed before the ingest request is answered. Readers follow the
//! log by byte offset and are woken through a `watch` channel that carries
//! the committed length, so the engine never sees an event that is not
//! durable and never depends on the ingest path to hand it data.
//!
//! Duplicates (same source and `event_id`) are recognised by an in-memory
//! index rebuilt from the log at open, so they are recognised after a
//! restart too. A torn last line (a crash mid-write) is cut off at open; a
//! line that does not parse anywhere else is an error, never a silently
//! shorter history.

use model::Event;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tokio::sync::watch;

/// The log file inside a data directory.
pub const FILE_NAME: &str = "events.ndjson";

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("event log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("event log {path} is corrupt at byte {offset}: {message}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        message: String,
    },
}

/// One log record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub source: String,
    pub event: Event,
}

/// What an append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Appended {
    pub accepted: usize,
    pub duplicates: usize,
}

/// The writer side. One per data directory.
pub struct EventLog {
    path: PathBuf,
    file: File,
    seen: HashSet<(String, String)>,
    committed: watch::Sender<u64>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("path", &self.path)
            .field("events", &self.seen.len())
            .finish()
    }
}

impl EventLog {
    /// Open (or create) the log in `dir`, cutting a torn tail and indexing
    /// every record for deduplication.
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        let path = dir.join(FILE_NAME);
        let io = |source| LogError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut seen = HashSet::new();
        let mut offset = 0u64;
        let mut reader = BufReader::new(&file);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(io)?;
            if n == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                // Torn tail: the process died inside this write, before the
                // fsync that would have acknowledged it.
                break;
            }
            let rec: Record = serde_json::from_slice(&line).map_err(|e| LogError::Corrupt {
                path: path.clone(),
                offset,
                message: e.to_string(),
            })?;
            seen.insert((rec.source, rec.event.event_id));
            offset += n as u64;
        }
        drop(reader);
        let len = file.seek(SeekFrom::End(0)).map_err(io)?;
        if len != offset {
            file.set_len(offset).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let (committed, _) = watch::channel(offset);
        Ok(Self {
            path,
            file,
            seen,
            committed,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes durably written so far.
    pub fn committed(&self) -> u64 {
        *self.committed.borrow()
    }

    /// A receiver of the committed length, for followers.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Append the events that are new for `source`, make them durable, and
    /// only then publish the new committed length. Blocking: call it from a
    /// blocking thread.
    pub fn append(&mut self, source: &str, events: Vec<Event>) -> Result<Appended, LogError> {
        let mut out = Appended::default();
        let mut buf = Vec::with_capacity(events.len() * 256);
        let mut fresh = HashSet::new();
        for event in events {
            let key = (source.to_owned(), event.event_id.clone());
            if self.seen.contains(&key) || fresh.contains(&key) {
                out.duplicates += 1;
                continue;
            }
            let rec = Record {
                source: source.to_owned(),
                event,
            };
            serde_json::to_writer(&mut buf, &rec).map_err(|e| LogError::Io {
                path: self.path.clone(),
                source: e.into(),
            })?;
            buf.push(b'\n');
            fresh.insert(key);
            out.accepted += 1;
        }
        if buf.is_empty() {
            return Ok(out);
        }
        let before = self.committed();
        let io = |source| LogError::Io {
            path: self.path.clone(),
            source,
        };
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Nothing of this batch is acknowledged: cut whatever part of it
            // reached the file so the next append starts on a whole record.
            let _ = self.file.set_len(before);
            return Err(io(e));
        }
        self.seen.extend(fresh);
        self.committed.send_replace(before + buf.len() as u64);
        Ok(out)
    }
}

/// A follower of the log from a byte offset.
#[derive(Debug)]
pub struct LogReader {
    path: PathBuf,
    offset: u64,
}

impl LogReader {
    pub fn new(path: PathBuf, offset: u64) -> Self {
        Self { path, offset }
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Read whole records from the current offset up to `committed` bytes,
    /// at most `max` of them. Blocking.
    pub fn read(&mut self, committed: u64, max: usize) -> Result<Vec<Record>, LogError> {
        let mut out = Vec::new();
        if self.offset >= committed {
            return Ok(out);
        }
        let io = |source| LogError::Io {
            path: self.path.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(io)?;
        file.seek(SeekFrom::Start(self.offset)).map_err(io)?;
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        while self.offset < committed && out.len() < max {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(io)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            let rec: Record = serde_json::from_slice(&line).map_err(|e| LogError::Corrupt {
                path: self.path.clone(),
                offset: self.offset,
                message: e.to_string(),
            })?;
            self.offset += n as u64;
            out.push(rec);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{EventKind, UnitCode};

    fn ev(id: &str) -> Event {
        let at = chrono::DateTime::parse_from_rfc3339("2025-11-20T08:00:00+07:00").unwrap();
        Event::new(id, EventKind::Meeting, at, UnitCode::parse("BTC").unwrap())
    }

    #[test]
    fn duplicates_are_recognised_within_a_batch_and_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path()).unwrap();
        assert_eq!(
            log.append("s", vec![ev("a"), ev("b"), ev("a")]).unwrap(),
            Appended {
                accepted: 2,
                duplicates: 1
            }
        );
        assert_eq!(
            log.append("other", vec![ev("a")]).unwrap().accepted,
            1,
            "dedup is per source"
        );
        drop(log);
        let mut log = EventLog::open(dir.path()).unwrap();
        assert_eq!(
            log.append("s", vec![ev("b"), ev("c")]).unwrap(),
            Appended {
                accepted: 1,
                duplicates: 1
            }
        );
        let mut r = LogReader::new(log.path().to_owned(), 0);
        let ids: Vec<_> = r
            .read(log.committed(), 100)
            .unwrap()
            .into_iter()
            .map(|r| r.event.event_id)
            .collect();
        assert_eq!(ids, ["a", "b", "a", "c"]);
    }

    #[test]
    fn a_torn_tail_is_cut_and_a_corrupt_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path()).unwrap();
        log.append("s", vec![ev("a"), ev("b")]).unwrap();
        let path = log.path().to_owned();
        drop(log);
        let whole = std::fs::read(&path).unwrap();
        let first_len = whole.iter().position(|&b| b == b'\n').unwrap() + 1;
        for cut in first_len..whole.len() {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let log = EventLog::open(dir.path()).unwrap();
            assert_eq!(log.len(), 1, "cut at {cut}");
            assert_eq!(log.committed(), first_len as u64);
        }
        let mut bad = whole.clone();
        bad[3] = b'#';
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(
            EventLog::open(dir.path()),
            Err(LogError::Corrupt { offset: 0, .. })
        ));
    }

    #[test]
    fn readers_stop_at_the_committed_length() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path()).unwrap();
        log.append("s", vec![ev("a")]).unwrap();
        let first = log.committed();
        log.append("s", vec![ev("b"), ev("c")]).unwrap();
        let mut r = LogReader::new(log.path().to_owned(), 0);
        assert_eq!(r.read(first, 100).unwrap().len(), 1);
        assert_eq!(r.read(log.committed(), 1).unwrap().len(), 1);
        assert_eq!(r.read(log.committed(), 100).unwrap().len(), 1);
        assert_eq!(r.offset(), log.committed());
    }
}
