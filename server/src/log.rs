//! The event log: durable, append-only, replayable; the source of truth for
//! everything downstream (DESIGN.md, "Storage and recovery").
//!
//! One line per accepted event:
//!
//! ```text
//! 3f1a9c02 - {"source":"hanoi-dvc","event":{…}}
//! 9b00e1d7 c {"source":"hanoi-dvc","event":{…}}
//! ```
//!
//! The first field is the CRC-32 of the rest of the line; the second is `c`
//! on the last record of an append (the batch commits) and `-` before it.
//! An append is one `write` and one `fsync`, and is acknowledged only after
//! both. Readers follow the log by byte offset up to the committed length,
//! published on a `watch` channel, and only ever hand out whole batches, so
//! nothing downstream sees an event that is not durable.
//!
//! At open, every record is checked. A tail after the last committed batch
//! (a crash inside an append, never acknowledged) is cut off. A bad record
//! followed by a committed batch is corruption of acknowledged data: open
//! fails and names the byte offset, never turning it into a shorter history.
//! The one thing the format cannot tell apart is damage to the very last
//! commit line from a torn write; that batch is then cut.
//!
//! Duplicates (same source and `event_id`) are recognised by an in-memory
//! index of 128-bit hashes rebuilt from the log at open, so they are
//! recognised after a restart too. An exclusive lock on `DATA/LOCK` keeps a
//! second writer (another server on the same directory) out.

use model::Event;
use pipelines::keys::KeySet;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use tokio::sync::watch;

/// The log file inside a data directory.
pub const FILE_NAME: &str = "events.ndjson";
/// The writer's lock file inside a data directory.
pub const LOCK_NAME: &str = "LOCK";

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
    #[error("data directory {0} is in use by another govpulse process")]
    Locked(PathBuf),
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

/// A parsed line: the record and whether it commits its batch.
struct Line {
    record: Record,
    commits: bool,
}

/// Check and parse one line (with its newline).
fn parse_line(line: &[u8]) -> Result<Line, String> {
    let (json, commits) = check_line(line)?;
    let record = match scanned_record(json) {
        Some(record) => record,
        None => serde_json::from_slice(json).map_err(|e| e.to_string())?,
    };
    Ok(Line { record, commits })
}

/// The JSON of one line (with its newline) whose checksum and flag are
/// good, and whether it commits its batch.
fn check_line(line: &[u8]) -> Result<(&[u8], bool), String> {
    let body = line.strip_suffix(b"\n").ok_or("the record has no end")?;
    if body.len() < 12 || body[8] != b' ' || body[10] != b' ' {
        return Err("not a log record (expected 'CRC FLAG JSON')".into());
    }
    let crc = std::str::from_utf8(&body[..8])
        .ok()
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or("the checksum is not 8 hex digits")?;
    let actual = crc32fast::hash(&body[9..]);
    if actual != crc {
        return Err(format!(
            "checksum mismatch (stored {crc:08x}, computed {actual:08x})"
        ));
    }
    let commits = match body[9] {
        b'c' => true,
        b'-' => false,
        other => return Err(format!("unknown flag {:?}", other as char)),
    };
    Ok((&body[11..], commits))
}

/// The embedded unit registry, for [`scanned_record`].
static UNITS: std::sync::LazyLock<Option<pipelines::units::UnitRegistry>> =
    std::sync::LazyLock::new(|| pipelines::units::UnitRegistry::embedded().ok());

/// A record as the log writes it (`{"source":"…","event":{…}}`), its event
/// read by the NDJSON decoder's in-place scanner and the contract's
/// validation, which is about twice as fast as serde's derived reader with
/// chrono's time parsing. `None` for anything else (another layout, an
/// escape, an event the validation would refuse or change, such as an
/// older log's `accepted` without a due date): serde_json then reads it,
/// so the result is the same either way.
fn scanned_record(json: &[u8]) -> Option<Record> {
    let (source, event) = scanned_parts(json)?;
    Some(Record {
        source: source.to_owned(),
        event,
    })
}

/// [`scanned_record`]'s source and event, the source borrowed.
fn scanned_parts(json: &[u8]) -> Option<(&str, Event)> {
    let rest = json.strip_prefix(b"{\"source\":\"")?;
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    let source = std::str::from_utf8(&rest[..end]).ok()?;
    let event = rest[end..]
        .strip_prefix(b"\",\"event\":")?
        .strip_suffix(b"}")?;
    let units = UNITS.as_ref()?;
    Some((
        source,
        pipelines::sources::ndjson::decode_scanned(event, units)?,
    ))
}

/// A [`Record`] by reference: what an append serialises, without copying
/// the source name into every record.
#[derive(Serialize)]
struct RecordRef<'a> {
    source: &'a str,
    event: &'a Event,
}

/// Append one encoded line for `rec` to `buf`.
fn encode_line(buf: &mut Vec<u8>, rec: &RecordRef<'_>, commits: bool) -> serde_json::Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let start = buf.len();
    buf.extend_from_slice(b"00000000 ");
    buf.push(if commits { b'c' } else { b'-' });
    buf.push(b' ');
    serde_json::to_writer(&mut *buf, rec)?;
    let crc = crc32fast::hash(&buf[start + 9..]);
    for (i, b) in buf[start..start + 8].iter_mut().enumerate() {
        *b = HEX[(crc >> (28 - 4 * i) & 0xf) as usize];
    }
    buf.push(b'\n');
    Ok(())
}

/// The dedup key of an event: a 128-bit hash of (source, event_id).
fn dedup_key(source: &str, event_id: &str) -> u128 {
    pipelines::keys::pair_key(source, event_id)
}

/// What a scan of the log found.
struct Scan {
    /// Bytes up to the end of the last committed batch.
    committed: u64,
    seen: KeySet,
}

/// Check every record of `file` from the start.
fn scan(path: &Path, file: &File) -> Result<Scan, LogError> {
    let io = |source| LogError::Io {
        path: path.to_owned(),
        source,
    };
    let mut reader = BufReader::with_capacity(1 << 20, file);
    reader.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut seen = KeySet::default();
    let mut pending = Vec::new();
    let (mut offset, mut committed) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io)?;
        if n == 0 {
            break;
        }
        match parse_line(&line) {
            Ok(l) => {
                pending.push(dedup_key(&l.record.source, &l.record.event.event_id));
                offset += n as u64;
                if l.commits {
                    seen.extend(pending.drain(..));
                    committed = offset;
                }
            }
            Err(message) => {
                // Corruption of acknowledged data if any committed batch follows.
                if committed_batch_follows(&line, &mut reader).map_err(io)? {
                    return Err(LogError::Corrupt {
                        path: path.to_owned(),
                        offset,
                        message,
                    });
                }
                break;
            }
        }
    }
    Ok(Scan { committed, seen })
}

/// Whether a valid commit line follows a bad line: inside it (damage to a
/// newline joins two lines) or in the rest of `reader`.
fn committed_batch_follows(bad: &[u8], reader: &mut impl BufRead) -> std::io::Result<bool> {
    let embedded = (1..bad.len().saturating_sub(11)).any(|p| {
        bad[p + 8] == b' ' && bad[p + 10] == b' ' && parse_line(&bad[p..]).is_ok_and(|l| l.commits)
    });
    if embedded {
        return Ok(true);
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(false);
        }
        if parse_line(&line).is_ok_and(|l| l.commits) {
            return Ok(true);
        }
    }
}

/// The writer side. One per data directory.
pub struct EventLog {
    path: PathBuf,
    file: File,
    _lock: File,
    seen: KeySet,
    committed: watch::Sender<u64>,
    /// The encode buffer, reused between appends.
    buf: Vec<u8>,
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
    /// Open (or create) the log in `dir`: take the directory lock, check
    /// every record, cut an uncommitted tail, and index every event for
    /// deduplication.
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        let path = dir.join(FILE_NAME);
        let io = |source| LogError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_NAME))
            .map_err(io)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(LogError::Locked(dir.to_owned())),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let Scan { committed, seen } = scan(&path, &file)?;
        let len = file.seek(SeekFrom::End(0)).map_err(io)?;
        if len != committed {
            tracing::warn!(
                path = %path.display(),
                cut = len - committed,
                "cutting an uncommitted tail (a crash inside an append)"
            );
            file.set_len(committed).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        let (committed, _) = watch::channel(committed);
        Ok(Self {
            path,
            file,
            _lock: lock,
            seen,
            committed,
            buf: Vec::new(),
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
    pub fn append<'e>(
        &mut self,
        source: &str,
        events: impl IntoIterator<Item = &'e Event>,
    ) -> Result<Appended, LogError> {
        let events = events.into_iter();
        let mut out = Appended::default();
        let mut fresh = KeySet::default();
        fresh.reserve(events.size_hint().0);
        let mut records = Vec::with_capacity(events.size_hint().0);
        for event in events {
            let key = dedup_key(source, &event.event_id);
            if self.seen.contains(&key) || !fresh.insert(key) {
                out.duplicates += 1;
                continue;
            }
            records.push(RecordRef { source, event });
        }
        out.accepted = records.len();
        if records.is_empty() {
            return Ok(out);
        }
        // The buffer is kept between appends: a fresh one of a few MB per
        // batch is a fresh mapping whose pages the kernel zeroes each time.
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let last = records.len() - 1;
        for (i, rec) in records.iter().enumerate() {
            if let Err(e) = encode_line(&mut buf, rec, i == last) {
                self.buf = buf;
                return Err(LogError::Io {
                    path: self.path.clone(),
                    source: e.into(),
                });
            }
        }
        let result = self.write_batch(&buf, fresh);
        // Keep at most 16 MB between appends.
        if buf.capacity() <= 16 << 20 {
            self.buf = buf;
        }
        result.map(|()| out)
    }

    /// Write one encoded batch and make it durable; on success, index its
    /// keys and publish the new committed length.
    fn write_batch(&mut self, buf: &[u8], fresh: KeySet) -> Result<(), LogError> {
        let before = self.committed();
        let written = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Nothing of this batch is acknowledged: cut whatever part of it
            // reached the file so the next append starts on a whole record.
            // (If even that fails, the uncommitted tail is cut at next open.)
            let _ = self.file.set_len(before);
            return Err(LogError::Io {
                path: self.path.clone(),
                source: e,
            });
        }
        self.seen.extend(fresh);
        self.committed.send_replace(before + buf.len() as u64);
        Ok(())
    }
}

/// A follower of the log from a byte offset. Hands out whole batches only.
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

    fn io(&self, source: std::io::Error) -> LogError {
        LogError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// The log from the current offset up to `committed`.
    fn file_from_offset(&self, committed: u64) -> Result<std::io::Take<File>, LogError> {
        let mut file = File::open(&self.path).map_err(|e| self.io(e))?;
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| self.io(e))?;
        Ok(file.take(committed.saturating_sub(self.offset)))
    }

    /// [`Self::file_from_offset`], buffered.
    fn open_from_offset(&self, committed: u64) -> Result<BufReader<std::io::Take<File>>, LogError> {
        Ok(BufReader::with_capacity(
            1 << 20,
            self.file_from_offset(committed)?,
        ))
    }

    /// Read whole committed batches from the current offset up to
    /// `committed` bytes, stopping after the batch that reaches `max`
    /// records. With `committed = u64::MAX` (reading a log no server is
    /// writing), an uncommitted tail is left unread. Blocking.
    pub fn read(&mut self, committed: u64, max: usize) -> Result<Vec<Record>, LogError> {
        let mut out = Vec::new();
        if self.offset >= committed {
            return Ok(out);
        }
        let mut reader = self.open_from_offset(committed)?;
        let mut line = Vec::new();
        let (mut pos, mut batch_start) = (self.offset, 0);
        // Stop at a batch boundary once `max` is reached; a batch is never split.
        while !(batch_start == out.len() && out.len() >= max) {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .map_err(|e| self.io(e))?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            let l = parse_line(&line).map_err(|message| LogError::Corrupt {
                path: self.path.clone(),
                offset: pos,
                message,
            })?;
            pos += n as u64;
            out.push(l.record);
            if l.commits {
                self.offset = pos;
                batch_start = out.len();
            }
        }
        // Records of a batch whose commit line was not reached are read again next time.
        out.truncate(batch_start);
        Ok(out)
    }

    /// Whole committed batches from the current offset as raw bytes into
    /// `out` (emptied first), about `max_bytes` of them (at least one
    /// batch), for a caller that checks and parses the records on other
    /// threads ([`parse_records`]). Only each line's commit flag is read
    /// here. The caller can hand the same buffers round: the file is read
    /// a block at a time straight into `out`, and lines are found with
    /// `memchr`, where a line-by-line read into a growing list faulted in,
    /// zeroed and copied fresh memory for every chunk. Blocking.
    pub fn read_raw_into(
        &mut self,
        committed: u64,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), LogError> {
        const BLOCK: usize = 1 << 20;
        out.clear();
        if self.offset >= committed {
            return Ok(());
        }
        let mut reader = self.file_from_offset(committed)?;
        // `out[..filled]` is read; lines before `scanned` are looked at.
        let (mut filled, mut scanned, mut batch_end) = (0, 0, 0);
        'read: loop {
            while let Some(nl) = memchr::memchr(b'\n', &out[scanned..filled]) {
                let end = scanned + nl + 1;
                let line = &out[scanned..end];
                scanned = end;
                if line.len() > 10 && line[9] == b'c' {
                    batch_end = end;
                    if batch_end >= max_bytes {
                        break 'read;
                    }
                }
            }
            if out.len() < filled + BLOCK {
                out.resize(filled + BLOCK, 0);
            }
            let n = loop {
                match reader.read(&mut out[filled..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.io(e)),
                }
            };
            if n == 0 {
                break;
            }
            filled += n;
        }
        // A batch whose commit line was not reached is read again next time.
        out.truncate(batch_end);
        self.offset += batch_end as u64;
        Ok(())
    }
}

/// Check and parse raw log records (whole lines, from [`LogReader::read_raw_into`]
/// at byte `base`). A record that fails its checksum or does not parse is
/// reported as a rejection naming its byte offset, never skipped silently.
/// The events go to `out` (the batch engine's workers take them straight
/// into their micro-batch).
pub fn parse_records(bytes: &[u8], base: u64, out: &mut dyn pipelines::sources::Sink) {
    let mut pos = base;
    let mut start = 0;
    // Whole lines, the last one without its newline if it has none.
    let ends = memchr::memchr_iter(b'\n', bytes)
        .map(|i| i + 1)
        .chain((!bytes.is_empty() && !bytes.ends_with(b"\n")).then_some(bytes.len()));
    for end in ends {
        let line = &bytes[start..end];
        start = end;
        // Only the event is kept: the source's name is not copied out.
        let event = check_line(line).and_then(|(json, _)| match scanned_parts(json) {
            Some((_, event)) => Ok(event),
            None => serde_json::from_slice::<Record>(json)
                .map(|r| r.event)
                .map_err(|e| e.to_string()),
        });
        match event {
            Ok(event) => out.event(0, event),
            Err(message) => out.reject(pipelines::sources::Rejection {
                line: 0,
                event_id: None,
                errors: vec![pipelines::sources::FieldError {
                    field: "$".into(),
                    rule: "log_record".into(),
                    message: format!("corrupt log record at byte {pos}: {message}"),
                }],
                raw: pipelines::sources::cut_raw(line),
            }),
        }
        pos += line.len() as u64;
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
    fn the_scanned_reader_gives_what_serde_gives() {
        let units = pipelines::units::UnitRegistry::embedded().unwrap();
        let decoded = pipelines::sources::ndjson::decode(
            sample_data::DEMO_SLICE_NDJSON.as_bytes(),
            &units,
            pipelines::sources::validate::Checks::default(),
        );
        let mut events: Vec<Event> = decoded.events.into_iter().map(|(_, e)| e).collect();
        // An escape in an id: the scanner declines it, serde reads it.
        let mut odd = events[0].clone();
        odd.event_id = "quote\"d".into();
        events.push(odd);
        let mut scanned = 0;
        for event in &events {
            let mut buf = Vec::new();
            let rec = RecordRef {
                source: "tỉnh-01",
                event,
            };
            encode_line(&mut buf, &rec, true).unwrap();
            let line = parse_line(&buf).unwrap();
            assert_eq!(&line.record.event, event);
            assert_eq!(line.record.source, "tỉnh-01");
            let json = &buf[11..buf.len() - 1];
            let by_serde: Record = serde_json::from_slice(json).unwrap();
            if let Some(r) = scanned_record(json) {
                assert_eq!((&r.source, &r.event), (&by_serde.source, &by_serde.event));
                scanned += 1;
            }
        }
        assert_eq!(
            scanned,
            events.len() - 1,
            "only the escaped record is declined"
        );

        // Stored events the validation would change are read as stored:
        // an accepted dossier without a due date (logs from before the
        // legal due date was computed at ingest) keeps none, and a field
        // of another kind of event is kept.
        let mut undue = events
            .iter()
            .find(|e| e.status == Some(model::DossierStatus::Accepted))
            .unwrap()
            .clone();
        undue.due_at = None;
        let mut extra = ev("m1");
        extra.meeting_id = Some("M1".into());
        extra.mode = Some(model::MeetingMode::Video);
        // A log line of `event`, and the record's JSON within it.
        let line = |event: &Event| {
            let mut buf = Vec::new();
            encode_line(&mut buf, &RecordRef { source: "s", event }, true).unwrap();
            buf
        };
        let json = |line: &[u8]| line[11..line.len() - 1].to_vec();
        assert!(scanned_record(&json(&line(&extra))).is_some());
        extra.online = Some(true);
        for event in [&undue, &extra] {
            let buf = line(event);
            assert!(scanned_record(&json(&buf)).is_none());
            assert_eq!(&parse_line(&buf).unwrap().record.event, event);
        }
    }

    #[test]
    fn the_batch_parser_reads_what_the_line_parser_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path()).unwrap();
        log.append("s", &[ev("a"), ev("b")]).unwrap();
        log.append("other-source", &[ev("c")]).unwrap();
        let mut bytes = std::fs::read(log.path()).unwrap();
        // A record the scanner declines (an escape in the source's name)
        // goes through serde_json; a damaged one and a line without its
        // newline are rejections.
        let escaped = format!(
            "{{\"source\":\"s\\\"q\",\"event\":{}}}",
            serde_json::to_string(&ev("d")).unwrap()
        );
        let line = |flag: &str, json: &str| {
            format!(
                "{:08x} {flag} {json}\n",
                crc32fast::hash(format!("{flag} {json}").as_bytes())
            )
        };
        bytes.extend_from_slice(line("c", &escaped).as_bytes());
        bytes.extend_from_slice(b"0000zzzz c {}\n");
        bytes.extend_from_slice(line("c", &escaped).trim_end().as_bytes());
        let mut d = pipelines::sources::Decoded::default();
        parse_records(&bytes, 100, &mut d);
        let mut expected = pipelines::sources::Decoded::default();
        let mut pos = 100;
        for l in bytes.split_inclusive(|b| *b == b'\n') {
            match parse_line(l) {
                Ok(l) => expected.events.push((0, l.record.event)),
                Err(_) => expected.rejected.push(pipelines::sources::Rejection {
                    line: 0,
                    event_id: None,
                    errors: vec![],
                    raw: format!("{pos}"),
                }),
            }
            pos += l.len();
        }
        assert_eq!(d.events, expected.events);
        let ids: Vec<String> = d
            .events
            .iter()
            .map(|(_, e)| e.event_id.to_string())
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        let at: Vec<String> = d
            .rejected
            .sample()
            .iter()
            .map(|r| r.errors[0].message.clone())
            .collect();
        assert_eq!(at.len(), 2);
        for (message, r) in at.iter().zip(expected.rejected.sample()) {
            assert!(
                message.contains(&format!("at byte {}:", r.raw)),
                "{message}"
            );
        }
        let mut none = pipelines::sources::Decoded::default();
        parse_records(b"", 0, &mut none);
        assert!(none.events.is_empty() && none.rejected.is_empty());
    }

    #[test]
    fn raw_reads_into_reused_buffers_cut_at_commit_lines_and_leave_the_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path()).unwrap();
        // Batches of 1 to 60 records, over 2 MiB in all: several read
        // blocks, and cuts inside them.
        let mut n = 0;
        while log.committed() < 2_200_000 {
            let batch: Vec<Event> = (0..1 + n * 7 % 60)
                .map(|i| ev(&format!("{n}-{i}")))
                .collect();
            log.append("s", &batch).unwrap();
            n += 1;
        }
        let committed = log.committed();
        let whole = std::fs::read(log.path()).unwrap();
        let is_commit = |line: &[u8]| line.len() > 10 && line[9] == b'c';
        // An uncommitted tail after the last commit: a record line that
        // does not commit its batch.
        let mut file = OpenOptions::new().append(true).open(log.path()).unwrap();
        let tail_line = whole
            .split_inclusive(|b| *b == b'\n')
            .find(|l| !is_commit(l))
            .unwrap();
        file.write_all(tail_line).unwrap();
        for max in [1, 100_000, 1 << 20, usize::MAX] {
            let mut r = LogReader::new(log.path().to_owned(), 0);
            let (mut all, mut buf) = (Vec::new(), Vec::new());
            loop {
                let before = r.offset();
                r.read_raw_into(u64::MAX, max, &mut buf).unwrap();
                if buf.is_empty() {
                    break;
                }
                assert_eq!(r.offset(), before + buf.len() as u64);
                // Ends with a commit line, and only the last of its commit
                // lines ends at or past `max`.
                let lines: Vec<&[u8]> = buf.split_inclusive(|b| *b == b'\n').collect();
                assert!(is_commit(lines.last().unwrap()), "max {max}");
                let mut end = 0;
                for (i, line) in lines.iter().enumerate() {
                    end += line.len();
                    if is_commit(line) && i + 1 < lines.len() {
                        assert!(end < max, "max {max}: read past a batch ending at {end}");
                    }
                }
                all.extend_from_slice(&buf);
            }
            assert_eq!(r.offset(), committed, "max {max}");
            assert!(all == whole, "max {max}: the committed log, once");
        }
    }

    #[test]
    fn raw_reads_cut_whole_batches_and_the_parser_names_a_corrupt_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path()).unwrap();
        log.append("s", &[ev("a"), ev("b")]).unwrap();
        log.append("s", &[ev("c")]).unwrap();
        let committed = log.committed();
        let mut r = LogReader::new(log.path().to_owned(), 0);
        // At least one whole batch, even when asked for one byte.
        let mut read_raw = |max| {
            let mut out = Vec::new();
            r.read_raw_into(committed, max, &mut out).unwrap();
            out
        };
        let first = read_raw(1);
        let second = read_raw(usize::MAX);
        assert!(read_raw(usize::MAX).is_empty());
        assert_eq!(r.offset(), committed);
        let ids = |d: &pipelines::sources::Decoded| -> Vec<String> {
            d.events
                .iter()
                .map(|(_, e)| e.event_id.to_string())
                .collect()
        };
        let parse_records = |bytes: &[u8], base| {
            let mut d = pipelines::sources::Decoded::default();
            parse_records(bytes, base, &mut d);
            d
        };
        assert_eq!(ids(&parse_records(&first, 0)), ["a", "b"]);
        let base = first.len() as u64;
        assert_eq!(ids(&parse_records(&second, base)), ["c"]);
        // A flipped byte inside the JSON fails the checksum.
        let mut bad = first.clone();
        let i = bad.iter().position(|b| *b == b'{').unwrap() + 3;
        bad[i] ^= 0x01;
        let d = parse_records(&bad, 0);
        assert_eq!(ids(&d), ["b"]);
        assert_eq!(d.rejected.total(), 1);
        assert!(
            d.rejected.sample()[0].errors[0]
                .message
                .contains("at byte 0: checksum mismatch")
        );
    }

    #[test]
    fn duplicates_are_recognised_within_a_batch_and_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path()).unwrap();
        assert_eq!(
            log.append("s", &[ev("a"), ev("b"), ev("a")]).unwrap(),
            Appended {
                accepted: 2,
                duplicates: 1
            }
        );
        assert_eq!(
            log.append("other", &[ev("a")]).unwrap().accepted,
            1,
            "dedup is per source"
        );
        drop(log);
        let mut log = EventLog::open(dir.path()).unwrap();
        assert_eq!(
            log.append("s", &[ev("b"), ev("c")]).unwrap(),
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

    /// A log of three appends (one event, two events, one event).
    fn three_batches(dir: &Path) -> (PathBuf, Vec<u8>, [usize; 3]) {
        let mut log = EventLog::open(dir).unwrap();
        log.append("s", &[ev("a")]).unwrap();
        let one = log.committed() as usize;
        log.append("s", &[ev("b"), ev("c")]).unwrap();
        let two = log.committed() as usize;
        log.append("s", &[ev("d")]).unwrap();
        let three = log.committed() as usize;
        let path = log.path().to_owned();
        drop(log);
        let whole = std::fs::read(&path).unwrap();
        assert_eq!(whole.len(), three);
        (path, whole, [one, two, three])
    }

    #[test]
    fn a_torn_tail_is_cut_to_the_last_committed_batch_at_every_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (path, whole, [one, two, three]) = three_batches(dir.path());
        for cut in 0..three {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let log = EventLog::open(dir.path()).unwrap();
            let (len, committed) = match cut {
                c if c < one => (0, 0),
                c if c < two => (1, one),
                _ => (3, two),
            };
            assert_eq!(
                (log.len(), log.committed()),
                (len, committed as u64),
                "cut at {cut}"
            );
            assert_eq!(std::fs::metadata(&path).unwrap().len(), committed as u64);
        }
        // A tail of zeros (blocks allocated, never written) is cut as well.
        let mut zeros = whole.clone();
        zeros.extend(std::iter::repeat_n(0u8, 4096));
        std::fs::write(&path, &zeros).unwrap();
        assert_eq!(EventLog::open(dir.path()).unwrap().len(), 4);
    }

    #[test]
    fn a_flipped_bit_in_an_acknowledged_batch_is_reported_not_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (path, whole, [one, two, _]) = three_batches(dir.path());
        let line_start = |at: usize| {
            whole[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1)
        };
        // Every byte of the first two batches, each bit: a later commit exists,
        // so this is corruption, never a shorter history.
        for at in 0..two {
            for bit in [0u8, 3, 7] {
                let mut bad = whole.clone();
                bad[at] ^= 1 << bit;
                std::fs::write(&path, &bad).unwrap();
                match EventLog::open(dir.path()) {
                    Err(LogError::Corrupt { offset, .. }) => {
                        // The bad record is the one holding the byte (or,
                        // for its newline, the line it ends).
                        let holder = line_start(at);
                        assert!(
                            offset as usize == holder,
                            "byte {at} bit {bit}: offset {offset}, line at {holder}"
                        );
                    }
                    other => panic!("byte {at} bit {bit}: expected corruption, got {other:?}"),
                }
            }
        }
        // A reader reports it too.
        let mut bad = whole.clone();
        bad[one + 20] ^= 4;
        std::fs::write(&path, &bad).unwrap();
        let mut r = LogReader::new(path, 0);
        assert!(matches!(
            r.read(u64::MAX, 100),
            Err(LogError::Corrupt { .. })
        ));
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        assert!(matches!(
            EventLog::open(dir.path()),
            Err(LogError::Locked(_))
        ));
        drop(log);
        EventLog::open(dir.path()).unwrap();
    }

    #[test]
    fn readers_stop_at_the_committed_length() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path()).unwrap();
        log.append("s", &[ev("a")]).unwrap();
        let first = log.committed();
        log.append("s", &[ev("b"), ev("c")]).unwrap();
        let mut r = LogReader::new(log.path().to_owned(), 0);
        assert_eq!(r.read(first, 100).unwrap().len(), 1);
        // A batch is never split, even past `max`.
        assert_eq!(r.read(log.committed(), 1).unwrap().len(), 2);
        assert_eq!(r.offset(), log.committed());
        log.append("s", &[ev("d")]).unwrap();
        assert_eq!(r.read(u64::MAX, 100).unwrap().len(), 1);
    }
}
