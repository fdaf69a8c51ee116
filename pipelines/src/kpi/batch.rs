//! The batch engine behind `govpulse kpi`: the same [`Folder`] as the live
//! engine, run on every core over an input cut into chunks.
//!
//! ```text
//!  file ─► chunks (4 MiB of NDJSON lines, an Arrow batch of Parquet, events)
//!            │  pulled by each worker in turn
//!            ▼
//!  worker 1..N: decode + validate ─► Folder::fold ─► its own Fold
//!            ▼
//!  Fold::merge of the workers' folds ─► report::report_of
//! ```
//!
//! Reading happens under the lock of the chunk source, decoding and
//! folding outside it, so the workers overlap. Memory follows the chunks in
//! flight and the folded state (hourly sums, one compact history per
//! dossier), never the size of the input.

use super::dossiers::SharedDossiers;
use super::fold::{Breakdown, Fold, Folder};
use crate::error::{Error, Result};
use crate::sources::validate::Checks;
use crate::sources::{Decoded, Rejection, Rejections, Sink, ndjson, parquet};
use crate::units::UnitRegistry;
use crate::windows::batch::{
    EventColumns, contract_columns_usable, from_contract_columns, with_event_columns,
};
use arrow::array::RecordBatch;
use model::Event;
use std::io::Read;
use std::sync::{Arc, Mutex, Weak};

/// Rows of a Parquet batch validated, and their events added, at a time
/// ([`worker`]): about 1.8 MB of events, which stay in cache until added.
const VALIDATE_SLICE: usize = 8192;

/// Events per micro-batch given to DataFusion.
pub const MICRO_BATCH: usize = 65_536;

/// Bytes of NDJSON per chunk.
pub const NDJSON_CHUNK: usize = 4 << 20;

/// One piece of input for a worker; `input` numbers the inputs so that
/// rejections can be reported per file.
#[derive(Debug)]
pub enum Chunk {
    /// Whole NDJSON lines; `first_line` is the line number of the first.
    Ndjson {
        input: usize,
        bytes: ChunkBytes,
        first_line: usize,
    },
    /// An Arrow batch of contract columns (a Parquet file), not yet validated.
    Arrow {
        input: usize,
        batch: RecordBatch,
        first_line: usize,
    },
    /// Events decoded already (CSV), or a decoder's result.
    Decoded { input: usize, decoded: Decoded },
    /// Bytes a caller's parser turns into events on the worker, put into
    /// the sink it is given (the server's event log: checksums and JSON);
    /// `base` is passed on to it (the log's byte offset of the first
    /// record).
    Raw {
        input: usize,
        bytes: ChunkBytes,
        base: u64,
        parse: fn(&[u8], u64, &mut dyn Sink),
    },
}

impl Chunk {
    /// The number of the input the chunk is from.
    pub fn input(&self) -> usize {
        match self {
            Chunk::Ndjson { input, .. }
            | Chunk::Arrow { input, .. }
            | Chunk::Decoded { input, .. }
            | Chunk::Raw { input, .. } => *input,
        }
    }
}

/// The bytes of an NDJSON or event-log chunk. Those from a [`ChunkPool`]
/// go back to it when the worker is done with them, so that every chunk
/// after the first few is read into memory that is already mapped: a fresh
/// buffer costs a page fault and a zeroed page per 4 KiB, which took more
/// time than copying the file into it.
pub struct ChunkBytes {
    bytes: Vec<u8>,
    pool: Weak<Mutex<Vec<Vec<u8>>>>,
}

/// Buffers that chunk readers fill and workers hand back
/// ([`ChunkBytes`]). Chunks are read on demand, so at most one per worker
/// plus the one being filled are ever out.
#[derive(Debug, Clone, Default)]
pub struct ChunkPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl ChunkPool {
    /// A buffer handed back, with its old contents, or a new empty one.
    pub fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_default()
    }

    /// `bytes` as a chunk's, to come back here when dropped.
    pub fn bytes(&self, bytes: Vec<u8>) -> ChunkBytes {
        ChunkBytes {
            bytes,
            pool: Arc::downgrade(&self.0),
        }
    }
}

impl From<Vec<u8>> for ChunkBytes {
    /// Bytes that belong to no pool.
    fn from(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            pool: Weak::new(),
        }
    }
}

impl std::ops::Deref for ChunkBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Debug for ChunkBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChunkBytes({} bytes)", self.bytes.len())
    }
}

impl Drop for ChunkBytes {
    fn drop(&mut self) {
        // The source may be gone (the run stopped early): then the buffer
        // is simply freed, as is one grown past a chunk by a long line.
        if self.bytes.capacity() > 2 * NDJSON_CHUNK {
            return;
        }
        if let Some(pool) = self.pool.upgrade()
            && let Ok(mut free) = pool.lock()
        {
            free.push(std::mem::take(&mut self.bytes));
        }
    }
}

/// What a parallel fold produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub fold: Fold,
    /// The rejections of each input, by its number (an input without any
    /// may have no entry): every one counted, and the first
    /// [`Rejections::DEFAULT_KEEP`] by line kept in full, so that memory
    /// stays bounded however many records an input has wrong.
    pub rejected: Vec<Rejections>,
}

/// The rejections of input `input` in `rejected`, made if it has none yet.
fn rejections_of(rejected: &mut Vec<Rejections>, input: usize) -> &mut Rejections {
    if rejected.len() <= input {
        rejected.resize_with(input + 1, Rejections::default);
    }
    &mut rejected[input]
}

/// Each input's rejections from every worker: the counts summed and, of
/// the workers' samples, the first by line. Each worker keeps the first
/// rejections it meets, and meets its chunks in input order, so every
/// rejection among an input's first few by line is in its worker's
/// sample.
fn merge_rejections(per_worker: Vec<Vec<Rejections>>) -> Vec<Rejections> {
    let mut all: Vec<Rejections> = Vec::new();
    for rejected in per_worker {
        for (input, r) in rejected.into_iter().enumerate() {
            if all.len() <= input {
                // Every worker's sample, until the cut below.
                all.resize_with(input + 1, || Rejections::with_keep(usize::MAX));
            }
            all[input].extend(r);
        }
    }
    for r in &mut all {
        r.sort_sample_by_line();
        r.set_keep(Rejections::DEFAULT_KEEP);
    }
    all
}

/// Fold the input `open` yields, on `workers` threads. A channel
/// breakdown reads it twice: the first pass folds the dossier histories
/// (and finds the rejections), the second the partial sums, each event
/// under the channel of its dossier's `accepted`, wherever in the input
/// that was. Other breakdowns read it once ([`fold_parallel`]).
pub fn fold_inputs<F, I>(
    open: F,
    workers: usize,
    units: Arc<UnitRegistry>,
    checks: Checks,
    breakdown: Breakdown,
) -> Result<Outcome>
where
    F: Fn() -> Result<I>,
    I: Iterator<Item = Result<Chunk>> + Send,
{
    if breakdown != Breakdown::Channel {
        return fold_parallel(open()?, workers, units, checks, breakdown);
    }
    let first = fold_parallel(open()?, workers, units.clone(), checks, Breakdown::None)?;
    let dossiers = Arc::new(first.fold.dossiers);
    let second = run_workers(open()?, workers, units, checks, Breakdown::Channel, {
        let dossiers = dossiers.clone();
        move |units| Folder::by_channel(units, dossiers.clone())
    })?;
    let mut fold = second.fold;
    // The second pass folded no dossiers; all of them were in the first.
    fold.dossiers = Arc::try_unwrap(dossiers).unwrap_or_else(|shared| (*shared).clone());
    Ok(Outcome {
        fold,
        rejected: first.rejected,
    })
}

/// Fold every chunk on `workers` threads. The first error of the chunk
/// source or of a worker stops the run and is returned. A channel
/// breakdown needs two passes: [`fold_inputs`].
pub fn fold_parallel<I>(
    chunks: I,
    workers: usize,
    units: Arc<UnitRegistry>,
    checks: Checks,
    breakdown: Breakdown,
) -> Result<Outcome>
where
    I: Iterator<Item = Result<Chunk>> + Send,
{
    if breakdown == Breakdown::Channel {
        return Err(Error::Worker(
            "a channel breakdown reads its input twice (kpi::batch::fold_inputs)".into(),
        ));
    }
    run_workers(chunks, workers, units, checks, breakdown, move |units| {
        Folder::by(units, breakdown)
    })
}

fn run_workers<I, M>(
    chunks: I,
    workers: usize,
    units: Arc<UnitRegistry>,
    checks: Checks,
    breakdown: Breakdown,
    folder: M,
) -> Result<Outcome>
where
    I: Iterator<Item = Result<Chunk>> + Send,
    M: Fn(Arc<UnitRegistry>) -> Folder + Sync,
{
    let source = Mutex::new(chunks.fuse());
    // One dossier table for all workers (see `SharedDossiers`).
    let shared = Arc::new(SharedDossiers::new(units.len()));
    let results: Vec<Result<Outcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                let (source, units, folder) = (&source, units.clone(), &folder);
                let folder = folder(units.clone()).with_shared(shared.clone());
                s.spawn(move || worker(source, folder, units, checks, breakdown))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Worker("a KPI worker panicked".into())))
            })
            .collect()
    });
    let mut out = Outcome::default();
    out.fold.breakdown = breakdown;
    let mut rejected = Vec::new();
    for r in results {
        let r = r?;
        out.fold.merge(r.fold);
        rejected.push(r.rejected);
    }
    out.rejected = merge_rejections(rejected);
    // The workers (and their folders' handles) are gone.
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| Error::Worker("the dossier table is still shared".into()))?;
    out.fold.dossiers.merge(shared.into_dossiers());
    Ok(out)
}

fn worker<I>(
    source: &Mutex<I>,
    folder: Folder,
    units: Arc<UnitRegistry>,
    checks: Checks,
    breakdown: Breakdown,
) -> Result<Outcome>
where
    I: Iterator<Item = Result<Chunk>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Error::Worker(format!("starting a KPI worker: {e}")))?;
    let mut out = Outcome::default();
    out.fold.breakdown = breakdown;
    let mut pending: Vec<Event> = Vec::with_capacity(MICRO_BATCH);
    // The lines of an Arrow batch's rejected rows (at most its rows).
    let mut lines: Vec<usize> = Vec::new();
    loop {
        // A poisoned lock means another worker panicked; stop quietly, its
        // join reports it.
        let next = match source.lock() {
            Ok(mut s) => s.next(),
            Err(_) => None,
        };
        let Some(chunk) = next else { break };
        let chunk = chunk?;
        let input = chunk.input();
        lines.clear();
        // Decoders put events straight into the micro-batch.
        let mut sink = Batch {
            events: &mut pending,
            rejected: rejections_of(&mut out.rejected, input),
            lines: matches!(chunk, Chunk::Arrow { .. }).then_some(&mut lines),
        };
        match chunk {
            Chunk::Ndjson {
                bytes, first_line, ..
            } => ndjson::decode_lines(&bytes, first_line, &units, checks, &mut sink),
            Chunk::Arrow {
                batch, first_line, ..
            } => {
                // A Parquet batch is a micro-batch of its own, so that
                // DataFusion reads the file's columns as they are.
                if !sink.events.is_empty() {
                    rt.block_on(folder.fold(sink.events, &mut out.fold))?;
                    sink.events.clear();
                }
                // Rejections of this batch, by row position.
                let positions = |sink: &Batch<'_>| {
                    sink.lines
                        .as_deref()
                        .map_or(&[][..], Vec::as_slice)
                        .iter()
                        .map(|line| line.checked_sub(first_line))
                        .collect::<Option<Vec<usize>>>()
                        .ok_or_else(|| Error::Worker("a rejection before its batch".into()))
                };
                if folder.streams_events() && contract_columns_usable(&batch) {
                    // The batch is validated a slice at a time, and each
                    // slice's events are added and let go before the next:
                    // a slice's events stay in cache, where the whole
                    // batch's (224 bytes each) would go out to memory and
                    // be read back.
                    let rows = batch.num_rows();
                    let mut made = EventColumns::with_capacity(rows);
                    for at in (0..rows).step_by(VALIDATE_SLICE) {
                        let part = batch.slice(at, VALIDATE_SLICE.min(rows - at));
                        parquet::validate_batch_into(
                            &part,
                            first_line + at,
                            &units,
                            checks,
                            &mut sink,
                        );
                        made.add(sink.events);
                        folder.add_events(sink.events, &mut out.fold);
                        sink.events.clear();
                    }
                    if !made.is_empty() {
                        let cols = with_event_columns(&batch, &positions(&sink)?, made)?;
                        rt.block_on(folder.fold_columns(cols, &mut out.fold))?;
                    }
                    continue;
                }
                parquet::validate_batch_into(&batch, first_line, &units, checks, &mut sink);
                let rejected = positions(&sink)?;
                let events = &*sink.events;
                match from_contract_columns(&batch, &rejected, events)? {
                    Some(cols) => rt.block_on(folder.fold_batch(cols, events, &mut out.fold))?,
                    None => rt.block_on(folder.fold(events, &mut out.fold))?,
                }
                sink.events.clear();
            }
            Chunk::Decoded { decoded, .. } => sink.take(decoded),
            Chunk::Raw {
                bytes, base, parse, ..
            } => parse(&bytes, base, &mut sink),
        }
        // A micro-batch of decoded lines is at least MICRO_BATCH events,
        // and at most that plus one chunk's (a Parquet batch comes in,
        // and is folded, whole: its rows less those rejected).
        if pending.len() >= MICRO_BATCH {
            rt.block_on(folder.fold(&pending, &mut out.fold))?;
            pending.clear();
        }
    }
    rt.block_on(folder.fold(&pending, &mut out.fold))?;
    Ok(out)
}

/// A worker's micro-batch, filled by the decoders, and the rejections
/// of the chunk's input.
struct Batch<'a> {
    events: &'a mut Vec<Event>,
    rejected: &'a mut Rejections,
    /// For an Arrow batch, the line of each rejected row, in order: the
    /// micro-batch made of the batch's columns leaves those rows out.
    lines: Option<&'a mut Vec<usize>>,
}

impl Sink for Batch<'_> {
    fn reserve(&mut self, n: usize) {
        // Exactly: the batch is folded once it holds MICRO_BATCH events,
        // so it never needs more than that plus one chunk, and doubling
        // would hold twice the memory for good.
        self.events.reserve_exact(n);
    }
    fn event(&mut self, _line: usize, event: Event) {
        self.events.push(event);
    }
    fn reject(&mut self, rejection: Rejection) {
        if let Some(lines) = self.lines.as_deref_mut() {
            lines.push(rejection.line);
        }
        self.rejected.push(rejection);
    }
    fn take_rejections(&mut self, rejections: Rejections) {
        // Never for an Arrow batch, whose rows are rejected one by one;
        // were it to be, its kept lines are all there is.
        if let Some(lines) = self.lines.as_deref_mut() {
            lines.extend(rejections.sample().iter().map(|r| r.line));
        }
        self.rejected.extend(rejections);
    }
    fn keeps_next(&self) -> bool {
        self.rejected.keeps_next()
    }
}

/// NDJSON from a reader as chunks of whole lines of about [`NDJSON_CHUNK`]
/// bytes.
pub fn ndjson_chunks<R: Read + Send>(
    input: usize,
    mut reader: R,
) -> impl Iterator<Item = Result<Chunk>> + Send {
    // The partial line after the last whole line of a chunk, to start the
    // next.
    let mut carry: Vec<u8> = Vec::new();
    let mut line = 1usize;
    let mut done = false;
    let pool = ChunkPool::default();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let start = carry.len();
        let size = start.max(NDJSON_CHUNK) + NDJSON_CHUNK / 4;
        // A line longer than a chunk, still being read, grows in place
        // rather than being copied again at every step.
        let grows = start >= NDJSON_CHUNK;
        let mut buf = if grows {
            std::mem::take(&mut carry)
        } else {
            pool.take()
        };
        // A reused buffer is not cleared: the carry and the reads
        // overwrite it.
        buf.resize(size, 0);
        if !grows {
            buf[..start].copy_from_slice(&carry);
            carry.clear();
        }
        let mut filled = start;
        // Fill the buffer, then cut after its last newline.
        while filled < buf.len() {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => {
                    done = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    done = true;
                    return Some(Err(Error::Input(e)));
                }
            }
        }
        buf.truncate(filled);
        if !done {
            match buf.iter().rposition(|b| *b == b'\n') {
                Some(cut) => {
                    carry.extend_from_slice(&buf[cut + 1..]);
                    buf.truncate(cut + 1);
                }
                // One line longer than a chunk: keep reading it (the
                // decoder rejects it as too long).
                None => {
                    carry = buf;
                    return Some(Ok(Chunk::Decoded {
                        input,
                        decoded: Decoded::default(),
                    }));
                }
            }
        }
        if buf.is_empty() {
            return None;
        }
        let first_line = line;
        line += memchr::memchr_iter(b'\n', &buf).count();
        Some(Ok(Chunk::Ndjson {
            input,
            bytes: pool.bytes(buf),
            first_line,
        }))
    })
}

/// The Arrow batches of a Parquet file as chunks (validated by the
/// workers); an unreadable file is one rejection.
pub fn parquet_chunks(
    input: usize,
    file: std::fs::File,
    units: &UnitRegistry,
) -> impl Iterator<Item = Result<Chunk>> + Send + '_ {
    // A batch is a micro-batch ([`worker`]).
    parquet_chunks_of(input, file, units, MICRO_BATCH)
}

/// [`parquet_chunks`] of up to `rows` rows.
fn parquet_chunks_of(
    input: usize,
    file: std::fs::File,
    units: &UnitRegistry,
    rows: usize,
) -> impl Iterator<Item = Result<Chunk>> + Send + '_ {
    let mut batches = parquet::batches_of(file, units, Checks::default(), rows);
    std::iter::from_fn(move || {
        Some(Ok(match batches.next_raw()? {
            parquet::RawBatch::Batch { batch, first_line } => Chunk::Arrow {
                input,
                batch,
                first_line,
            },
            parquet::RawBatch::Failed(decoded) => Chunk::Decoded { input, decoded },
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::report::{Level, ReportSpec, report, report_of};
    use crate::windows::periods::Period;

    /// A day of generated events as NDJSON bytes.
    /// Generated NDJSON: `days` from `from` (YYYY-MM-DD) at `scale`.
    fn generated(from: &str, days: u32, scale: f64, seed: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let from = chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d").unwrap();
        sample_data::generator::Generator::new(sample_data::generator::GenConfig::new(
            from, days, scale, seed,
        ))
        .unwrap()
        .run(|r| r.write_ndjson(&mut out), |_| {})
        .unwrap();
        out
    }

    fn day() -> Vec<u8> {
        generated("2025-11-18", 1, 0.02, 7)
    }

    /// A reader that hands out at most `step` bytes a call, as pipes and
    /// sockets do.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    /// The NDJSON bytes of every chunk, in order, each dropped (and its
    /// buffer handed back) before the next is read; with the first line
    /// number of each.
    fn read_back(reader: impl Read + Send) -> (Vec<u8>, Vec<usize>) {
        let (mut all, mut firsts) = (Vec::new(), Vec::new());
        for c in ndjson_chunks(0, reader) {
            if let Chunk::Ndjson {
                bytes, first_line, ..
            } = c.unwrap()
            {
                let before = all.iter().filter(|b| **b == b'\n').count();
                assert_eq!(first_line, before + 1, "lines numbered across chunks");
                all.extend_from_slice(&bytes);
                firsts.push(first_line);
            }
        }
        (all, firsts)
    }

    #[test]
    fn reused_chunk_buffers_carry_nothing_over() {
        // Lines of very different lengths, so that a reused buffer holds
        // longer stale lines than the ones read into it.
        let text: String = (1..=120_000)
            .map(|i| format!("{i} {}\n", "x".repeat(i % 97 * 3)))
            .collect();
        for step in [usize::MAX, 65_537] {
            let (all, firsts) = read_back(Trickle {
                bytes: text.as_bytes(),
                step,
            });
            assert!(firsts.len() > 3, "several chunks, so buffers come back");
            assert!(all == text.as_bytes(), "the chunks are the input");
        }
    }

    #[test]
    fn a_line_longer_than_a_chunk_is_kept_whole() {
        let long = "y".repeat(NDJSON_CHUNK * 3 + 17);
        let text = format!("first\n{long}\nthird\nfourth");
        let (all, firsts) = read_back(Trickle {
            bytes: text.as_bytes(),
            step: 1 << 20,
        });
        assert!(all == text.as_bytes());
        // The first line alone, then a chunk that starts with the long one.
        assert_eq!(firsts[..2], [1, 2]);
    }

    #[test]
    fn chunks_cut_at_line_ends_and_number_lines_across_chunks() {
        let text: String = (1..=700_000).map(|i| format!("line {i}\n")).collect();
        let chunks: Vec<Chunk> = ndjson_chunks(0, text.as_bytes())
            .collect::<Result<_>>()
            .unwrap();
        assert!(chunks.len() > 1, "the input spans several chunks");
        let mut next_line = 1;
        for c in &chunks {
            let Chunk::Ndjson {
                bytes, first_line, ..
            } = c
            else {
                panic!("only NDJSON chunks")
            };
            assert_eq!(*first_line, next_line);
            assert!(bytes.ends_with(b"\n"));
            let first = bytes.split(|b| *b == b'\n').next().unwrap();
            assert_eq!(first, format!("line {first_line}").as_bytes());
            next_line += bytes.iter().filter(|b| **b == b'\n').count();
        }
        assert_eq!(next_line, 700_001);
    }

    #[test]
    fn two_workers_give_the_report_of_one_pass() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let calendar = sample_data::calendar().unwrap();
        let mut bytes = day();
        // a bad line in the middle is rejected with its line number
        let mid = bytes.len() / 2;
        let cut = mid + bytes[mid..].iter().position(|b| *b == b'\n').unwrap() + 1;
        let bad_line = bytes[..cut].iter().filter(|b| **b == b'\n').count() + 1;
        bytes.splice(cut..cut, b"{\"event_id\":1}\n".iter().copied());
        let spec = ReportSpec {
            level: Level::Province,
            period: Period::Hour,
            chunk: MICRO_BATCH,
        };
        let decoded = ndjson::decode(&bytes, &units, Checks::default());
        let events: Vec<Event> = decoded.events.into_iter().map(|(_, e)| e).collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let one = rt
            .block_on(report(&events, units.clone(), &calendar, spec))
            .unwrap();
        let out = fold_parallel(
            ndjson_chunks(3, bytes.as_slice()),
            2,
            units.clone(),
            Checks::default(),
            Breakdown::None,
        )
        .unwrap();
        assert_eq!(out.fold.events as usize, events.len());
        // Input 3's rejections, and none of the others'.
        assert_eq!(out.rejected.len(), 4);
        assert!(out.rejected[..3].iter().all(Rejections::is_empty));
        assert_eq!(out.rejected[3].total(), 1);
        assert_eq!(out.rejected[3].sample()[0].line, bad_line);
        let two = report_of(out.fold, &units, &calendar, spec).unwrap();
        assert!(!one.is_empty());
        assert_eq!(one, two);
    }

    #[test]
    fn a_parquet_file_folds_to_the_report_of_its_ndjson() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let calendar = sample_data::calendar().unwrap();
        let mut lines: Vec<serde_json::Value> = std::str::from_utf8(&day())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // Rows a micro-batch made of the file's columns must not count as
        // they stand: fields of another kind, which events leave out, and
        // rejected rows between good ones.
        let stray = serde_json::json!({"status": "accepted", "channel": "online",
            "procedure_code": "1.001757", "rating": 5, "online": true, "mode": "video",
            "electronic": true, "signed": true, "reused_data": true, "digitized": true,
            "e_result": true, "minutes": 30});
        for (i, v) in lines.iter_mut().enumerate() {
            let o = v.as_object_mut().unwrap();
            for (k, x) in stray.as_object().unwrap() {
                if i % 3 == 0 && !o.contains_key(k) {
                    o.insert(k.clone(), x.clone());
                }
            }
            if i % 997 == 5 {
                o.insert("occurred_at".into(), "yesterday".into());
            }
        }
        let ndjson_of = |lines: &[serde_json::Value]| -> Vec<u8> {
            lines
                .iter()
                .flat_map(|v| format!("{v}\n").into_bytes())
                .collect()
        };
        let parquet_of = |lines: &[serde_json::Value]| {
            let mut file = tempfile::tempfile().unwrap();
            std::io::Write::write_all(&mut file, &parquet::file_of(lines.to_vec())).unwrap();
            file
        };
        let ndjson = ndjson_of(&lines);
        let file = parquet_of(&lines);
        // The second half alone, after the first half as NDJSON: a worker
        // folds the lines it holds before a Parquet batch.
        let half = lines.len() / 2;
        let second = parquet_of(&lines[half..]);
        let first = ndjson_of(&lines[..half]);
        // The workers take the column-made batch for this file.
        let mut raw =
            parquet::batches_of(file.try_clone().unwrap(), &units, Checks::default(), 1000);
        let Some(parquet::RawBatch::Batch { batch, first_line }) = raw.next_raw() else {
            panic!("a batch");
        };
        let d = parquet::validate_batch(&batch, first_line, &units, Checks::default());
        let rejected: Vec<usize> = d
            .rejected
            .sample()
            .iter()
            .map(|r| r.line - first_line)
            .collect();
        let events: Vec<Event> = d.events.into_iter().map(|(_, e)| e).collect();
        assert!(!rejected.is_empty());
        let made = from_contract_columns(&batch, &rejected, &events).unwrap();
        assert_eq!(made.map(|b| b.num_rows()), Some(events.len()));
        for breakdown in [Breakdown::None, Breakdown::Procedure, Breakdown::Channel] {
            let spec = ReportSpec {
                level: Level::Commune,
                period: Period::Hour,
                chunk: MICRO_BATCH,
            };
            let fold = |open: &dyn Fn() -> Result<Vec<Result<Chunk>>>| {
                fold_inputs(
                    || Ok(open()?.into_iter()),
                    2,
                    units.clone(),
                    Checks::default(),
                    breakdown,
                )
                .unwrap()
            };
            let from_ndjson = fold(&|| Ok(small_chunks(&ndjson, 1000).collect()));
            // Batches of 1,000 rows, so that both workers fold some.
            let from_parquet =
                fold(&|| Ok(parquet_chunks_of(0, file.try_clone()?, &units, 1000).collect()));
            // Batches of several validation slices each.
            assert!(lines.len() > VALIDATE_SLICE + 1000, "{} lines", lines.len());
            let sliced = fold(&|| {
                Ok(parquet_chunks_of(0, file.try_clone()?, &units, 2 * VALIDATE_SLICE).collect())
            });
            let mixed = fold(&|| {
                let mut chunks: Vec<_> = small_chunks(&first, 1000).collect();
                chunks.extend(parquet_chunks_of(1, second.try_clone()?, &units, 1000));
                Ok(chunks)
            });
            let lines = |o: &Outcome| {
                o.rejected
                    .iter()
                    .flat_map(|r| r.sample().iter().map(|r| r.line))
                    .collect::<Vec<_>>()
            };
            let total = |o: &Outcome| o.rejected.iter().map(Rejections::total).sum::<u64>();
            assert!(lines(&from_ndjson).len() > 5);
            assert_eq!(lines(&from_parquet), lines(&from_ndjson));
            assert_eq!(lines(&sliced), lines(&from_ndjson));
            assert_eq!(sliced.fold.events, from_ndjson.fold.events);
            assert_eq!(total(&mixed), total(&from_ndjson));
            assert_eq!(from_parquet.fold.events, from_ndjson.fold.events);
            assert_eq!(mixed.fold.events, from_ndjson.fold.events);
            let a = report_of(from_ndjson.fold, &units, &calendar, spec).unwrap();
            let b = report_of(from_parquet.fold, &units, &calendar, spec).unwrap();
            let c = report_of(mixed.fold, &units, &calendar, spec).unwrap();
            assert!(!a.is_empty());
            assert!(a == b, "{breakdown:?}: Parquet and NDJSON reports differ");
            assert!(a == c, "{breakdown:?}: NDJSON then Parquet differs");
            let d = report_of(sliced.fold, &units, &calendar, spec).unwrap();
            assert!(a == d, "{breakdown:?}: Parquet in slices differs");
        }
    }

    #[test]
    fn a_fold_survives_its_checkpoint_and_a_subset_is_the_units_own_rows() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let calendar = sample_data::calendar().unwrap();
        let fold = fold_by(&day(), &units, Breakdown::None);
        let spec = ReportSpec {
            level: Level::Commune,
            period: Period::Day,
            chunk: MICRO_BATCH,
        };
        let json = serde_json::to_vec(&fold.checkpoint(&units)).unwrap();
        let back = Fold::restore(serde_json::from_slice(&json).unwrap(), &units);
        assert_eq!(back.dossiers.len(), fold.dossiers.len());
        let full = report_of(fold.clone(), &units, &calendar, spec).unwrap();
        assert_eq!(full, report_of(back, &units, &calendar, spec).unwrap());

        let province = "01";
        let sub = fold.subset(|i| units.covers(province, units.at(i).unwrap().code.as_str()));
        let mine = report_of(sub, &units, &calendar, spec).unwrap();
        let expected: Vec<_> = full
            .into_iter()
            .filter(|r| units.covers(province, &r.unit))
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(mine, expected);
    }

    /// `bytes` as NDJSON chunks of `lines` lines each, so that a
    /// dossier's events land in different chunks and workers.
    fn small_chunks(bytes: &[u8], lines: usize) -> impl Iterator<Item = Result<Chunk>> + Send {
        let all: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        let chunks: Vec<Chunk> = all
            .chunks(lines)
            .enumerate()
            .map(|(i, part)| Chunk::Ndjson {
                input: 0,
                bytes: part.concat().into(),
                first_line: 1 + i * lines,
            })
            .collect();
        chunks.into_iter().map(Ok)
    }

    fn fold_by(bytes: &[u8], units: &Arc<UnitRegistry>, b: Breakdown) -> Fold {
        fold_inputs(
            || Ok(small_chunks(bytes, 500)),
            2,
            units.clone(),
            Checks::default(),
            b,
        )
        .unwrap()
        .fold
    }

    #[test]
    fn a_procedure_breakdown_splits_every_row_into_parts_that_add_up() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let bytes = day();
        let split = parts_add_up(&bytes, &units, Breakdown::Procedure);
        assert!(split.iter().filter(|r| r.procedure.is_some()).count() > 50);
        assert!(split.iter().all(|r| r.channel.is_none()));
    }

    #[test]
    fn a_channel_breakdown_splits_every_row_into_parts_that_add_up() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let bytes = day();
        let split = parts_add_up(&bytes, &units, Breakdown::Channel);
        let channels: std::collections::BTreeSet<_> =
            split.iter().filter_map(|r| r.channel.as_deref()).collect();
        assert_eq!(
            channels.into_iter().collect::<Vec<_>>(),
            ["counter", "online", "postal"]
        );
        assert!(split.iter().all(|r| r.procedure.is_none()));
    }

    #[test]
    fn a_channel_breakdown_counts_later_events_under_the_channel_of_accepted() {
        use model::{Channel, DossierStatus};
        use std::collections::{BTreeMap, HashMap};
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let calendar = sample_data::calendar().unwrap();
        let bytes = generated("2025-11-17", 3, 0.01, 11);
        let spec = ReportSpec {
            level: Level::Nation,
            period: Period::All,
            chunk: MICRO_BATCH,
        };
        let rows = report_of(
            fold_by(&bytes, &units, Breakdown::Channel),
            &units,
            &calendar,
            spec,
        )
        .unwrap();
        // By hand: each dossier's channel from its accepted event, then
        // electronic results (on resolved) and online payments (on paid)
        // counted under it.
        let events: Vec<_> = ndjson::decode(&bytes, &units, Checks::default())
            .events
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        let channel_of: HashMap<&str, Channel> = events
            .iter()
            .filter(|e| e.status == Some(DossierStatus::Accepted))
            .filter_map(|e| Some((e.dossier_id.as_deref()?, e.channel?)))
            .collect();
        let mut expected: BTreeMap<(Option<&str>, &str), (i64, i64)> = BTreeMap::new();
        for e in &events {
            let (kpi, num) = match e.status {
                Some(DossierStatus::Resolved) => ("e_result", e.e_result == Some(true)),
                Some(DossierStatus::Paid) => ("online_payment", e.online == Some(true)),
                _ => continue,
            };
            let ch = e
                .dossier_id
                .as_deref()
                .and_then(|id| channel_of.get(id))
                .map(|c| c.as_str());
            let v = expected.entry((ch, kpi)).or_default();
            v.0 += i64::from(num);
            v.1 += 1;
        }
        let mut got: BTreeMap<(Option<&str>, &str), (i64, i64)> = BTreeMap::new();
        for r in &rows {
            for kpi in ["e_result", "online_payment"] {
                let v = &r.kpis[kpi];
                if v.denominator > 0 {
                    got.insert((r.channel.as_deref(), kpi), (v.numerator, v.denominator));
                }
            }
        }
        assert!(expected.len() >= 6, "{expected:?}");
        assert_eq!(got, expected);
    }

    #[test]
    fn rows_written_block_by_block_on_every_core_equal_the_rows() {
        use crate::kpi::report::{plan_of, write_csv, write_csv_plan, write_json_plan};
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let calendar = sample_data::calendar().unwrap();
        let bytes = generated("2025-11-18", 1, 0.05, 3);
        let fold = fold_by(&bytes, &units, Breakdown::None);
        let spec = ReportSpec {
            level: Level::Commune,
            period: Period::Hour,
            chunk: MICRO_BATCH,
        };
        let rows = report_of(fold.clone(), &units, &calendar, spec).unwrap();
        assert!(rows.len() > 20_000, "more than one block: {}", rows.len());
        let plan = plan_of(fold, &units, &calendar, spec).unwrap();
        assert_eq!(plan.rows(), rows);

        let mut json = Vec::new();
        assert_eq!(write_json_plan(&plan, &mut json).unwrap(), rows.len());
        assert_eq!(
            String::from_utf8(json).unwrap(),
            serde_json::to_string_pretty(&rows).unwrap()
        );
        let mut csv = Vec::new();
        write_csv_plan(&plan, &mut csv).unwrap();
        let mut one = Vec::new();
        write_csv(&rows, &mut one).unwrap();
        assert!(csv == one, "CSV differs");

        let empty = plan_of(Fold::default(), &units, &calendar, spec).unwrap();
        let mut json = Vec::new();
        write_json_plan(&empty, &mut json).unwrap();
        assert_eq!(json, serde_json::to_vec_pretty(&empty.rows()).unwrap());
    }

    #[test]
    fn compacting_finished_dossiers_leaves_every_report_unchanged() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let calendar = sample_data::calendar().unwrap();
        let bytes = generated("2025-11-13", 6, 0.01, 5);
        let whole = fold_by(&bytes, &units, Breakdown::None);
        let (oldest, newest) = whole.span.unwrap();
        let specs: Vec<ReportSpec> = [
            (Level::Commune, Period::Hour),
            (Level::Province, Period::Day),
            (Level::Nation, Period::Week),
            (Level::Localities, Period::All),
        ]
        .into_iter()
        .map(|(level, period)| ReportSpec {
            level,
            period,
            chunk: MICRO_BATCH,
        })
        .collect();
        let expected: Vec<_> = specs
            .iter()
            .map(|s| report_of(whole.clone(), &units, &calendar, *s).unwrap())
            .collect();
        let mut compacted = whole.clone();
        let mut gone = 0;
        // Cut after cut, as the live engine does as its watermark moves;
        // the last one is clamped to an hour before the newest event.
        for cut in [oldest + 86_400, oldest + 3 * 86_400 + 1234, newest] {
            gone += compacted.compact(cut, &calendar);
            for (s, rows) in specs.iter().zip(&expected) {
                let got = report_of(compacted.clone(), &units, &calendar, *s).unwrap();
                assert!(got == *rows, "{:?}/{:?} after cut {cut}", s.level, s.period);
            }
        }
        assert!(
            gone > whole.dossiers.len() / 5,
            "{gone} of {} dossiers compacted",
            whole.dossiers.len()
        );
        assert!(!compacted.frozen.is_empty());
        // Through a checkpoint, and merged with a fold of nothing.
        let json = serde_json::to_vec(&compacted.checkpoint(&units)).unwrap();
        let mut back = Fold::restore(serde_json::from_slice(&json).unwrap(), &units);
        back.merge(Fold::default());
        assert!(report_of(back, &units, &calendar, specs[1]).unwrap() == expected[1]);
    }

    /// Report at province and day level without and with `breakdown`:
    /// every whole row's numerators, denominators and counts are the sums
    /// of its parts. Returns the parts.
    fn parts_add_up(
        bytes: &[u8],
        units: &Arc<UnitRegistry>,
        breakdown: Breakdown,
    ) -> Vec<super::super::report::KpiRow> {
        use crate::kpi::defs::KPIS;
        let calendar = sample_data::calendar().unwrap();
        let spec = ReportSpec {
            level: Level::Province,
            period: Period::Day,
            chunk: MICRO_BATCH,
        };
        let whole = report_of(
            fold_by(bytes, units, Breakdown::None),
            units,
            &calendar,
            spec,
        )
        .unwrap();
        let split = report_of(fold_by(bytes, units, breakdown), units, &calendar, spec).unwrap();
        assert!(
            whole
                .iter()
                .all(|r| r.procedure.is_none() && r.channel.is_none())
        );
        for row in &whole {
            let parts: Vec<_> = split
                .iter()
                .filter(|r| r.period == row.period && r.unit == row.unit)
                .collect();
            for k in KPIS {
                let sum = |f: fn(&super::super::report::KpiValue) -> i64| -> i64 {
                    parts.iter().map(|r| f(&r.kpis[k.name])).sum()
                };
                assert_eq!(
                    sum(|v| v.numerator),
                    row.kpis[k.name].numerator,
                    "{} {}",
                    row.unit,
                    k.name
                );
                assert_eq!(
                    sum(|v| v.denominator),
                    row.kpis[k.name].denominator,
                    "{} {}",
                    row.unit,
                    k.name
                );
            }
            let total = |f: fn(&super::super::report::KpiRow) -> i64| -> i64 {
                parts.iter().map(|r| f(r)).sum()
            };
            assert_eq!(total(|r| r.overdue_open), row.overdue_open);
            assert_eq!(total(|r| r.due_soon_open), row.due_soon_open);
            assert_eq!(
                total(|r| r.processing_hours.resolved),
                row.processing_hours.resolved
            );
        }
        split
    }
}
