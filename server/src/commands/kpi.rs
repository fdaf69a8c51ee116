//! `govpulse kpi`: the engine's KPI definitions over files or a server's
//! event log, one row per period and unit.

use anyhow::{Context, Result, bail};
use pipelines::kpi::batch::{self, Chunk};
use pipelines::kpi::fold::Breakdown;
use pipelines::kpi::report::{self, Level, ReportSpec};
use pipelines::sources::Format;
use pipelines::sources::validate::Checks;
use pipelines::units::UnitRegistry;
use pipelines::windows::periods::Period;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    Json,
    Csv,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "data"])))]
pub struct Args {
    /// Event files (.ndjson, .jsonl, .csv, .parquet).
    #[arg(long, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// A server's data directory (reads its event log).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value = "province")]
    pub level: Level,
    #[arg(long, default_value = "day")]
    pub period: Period,
    #[arg(long, value_enum, default_value_t = OutFormat::Json)]
    pub format: OutFormat,
    /// Also break every row down by procedure code or by the channel each
    /// dossier came in through (`channel` reads the input twice).
    #[arg(long, value_name = "procedure|channel")]
    pub by: Option<Breakdown>,
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The chunks of one input file, by its extension.
fn file_chunks<'u>(
    input: usize,
    path: &Path,
    units: &'u UnitRegistry,
) -> Result<Box<dyn Iterator<Item = pipelines::Result<Chunk>> + Send + 'u>> {
    let Some(format) = Format::from_path(path) else {
        bail!(
            "{}: unknown extension (use .ndjson, .jsonl, .csv or .parquet)",
            path.display()
        );
    };
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(match format {
        Format::Ndjson => Box::new(batch::ndjson_chunks(input, file)),
        Format::Parquet => Box::new(batch::parquet_chunks(input, file, units)),
        Format::Csv => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let decoded = pipelines::sources::csv::decode(&bytes, units, Checks::default());
            Box::new(std::iter::once(Ok(Chunk::Decoded { input, decoded })))
        }
    })
}

/// The length of a data directory's log now: what a report over it reads
/// (every pass the same bytes, however much a running server appends).
fn log_len(dir: &Path) -> Result<u64> {
    let path = dir.join(crate::log::FILE_NAME);
    match std::fs::metadata(&path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no event log in {} (expected {})",
            dir.display(),
            crate::log::FILE_NAME
        ),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The committed events of a data directory's log up to byte `upto`, in
/// chunks.
fn log_chunks(
    input: usize,
    dir: &Path,
    upto: u64,
) -> Result<impl Iterator<Item = pipelines::Result<Chunk>> + Send + use<>> {
    // Read-only: works beside a running server, and leaves an uncommitted
    // tail unread.
    // Workers check and parse the records; here only whole batches are cut.
    let mut reader = crate::log::LogReader::new(dir.join(crate::log::FILE_NAME), 0);
    let pool = batch::ChunkPool::default();
    Ok(std::iter::from_fn(move || {
        let base = reader.offset();
        let mut bytes = pool.take();
        match reader.read_raw_into(upto, batch::NDJSON_CHUNK, &mut bytes) {
            Ok(()) if bytes.is_empty() => None,
            Ok(()) => Some(Ok(Chunk::Raw {
                input,
                bytes: pool.bytes(bytes),
                base,
                parse: crate::log::parse_records,
            })),
            Err(e) => Some(Err(pipelines::Error::Input(std::io::Error::other(
                e.to_string(),
            )))),
        }
    }))
}

/// Run the report; blocking (it starts its own worker threads).
pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let units = Arc::new(UnitRegistry::embedded()?);
    let calendar = sample_data::calendar()?;
    // Inputs are numbered: 0 is the data directory, then the files.
    let names: Vec<String> = (args.data.iter().chain(&args.input))
        .map(|p| p.display().to_string())
        .collect();
    // A server may be appending to the log: fix its end now.
    let log_end = args.data.as_deref().map(log_len).transpose()?;
    // Every input in chunks, from its start (a channel breakdown reads it
    // twice).
    let open = || -> pipelines::Result<_> {
        let mut sources: Vec<Box<dyn Iterator<Item = pipelines::Result<Chunk>> + Send + '_>> =
            Vec::new();
        let failed = |e: anyhow::Error| pipelines::Error::Worker(format!("{e:#}"));
        if let (Some(dir), Some(upto)) = (&args.data, log_end) {
            sources.push(Box::new(log_chunks(0, dir, upto).map_err(failed)?));
        }
        for path in &args.input {
            let input = sources.len();
            sources.push(file_chunks(input, path, &units).map_err(failed)?);
        }
        Ok(sources.into_iter().flatten())
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spec = ReportSpec {
        level: args.level,
        period: args.period,
        chunk: batch::MICRO_BATCH,
    };
    let outcome = batch::fold_inputs(
        open,
        workers,
        units.clone(),
        Checks::default(),
        args.by.unwrap_or_default(),
    )?;
    let (events, rejected) = (outcome.fold.events, outcome.rejected);
    let folded = started.elapsed();
    // Rows are built and written a block at a time, on every core.
    let plan = report::plan_of(outcome.fold, &units, &calendar, spec)?;
    for (input, name) in names.iter().enumerate() {
        let Some(mine) = rejected.get(input).filter(|r| !r.is_empty()) else {
            continue;
        };
        if let Some(first) = mine.sample().first() {
            eprintln!(
                "{name}: {} records rejected; first at line {}: {}",
                mine.total(),
                first.line,
                first
                    .errors
                    .iter()
                    .map(|e| format!("{} ({}): {}", e.field, e.rule, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        // A record that breaks several rules counts under each.
        let per_rule: Vec<String> = mine
            .by_rule()
            .iter()
            .map(|c| format!("{} ({}) {}", c.field, c.rule, c.count))
            .collect();
        eprintln!("{name}: records rejected per rule: {}", per_rule.join(", "));
    }
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let rows = match args.format {
        OutFormat::Json => {
            let n = report::write_json_plan(&plan, &mut out)?;
            out.write_all(b"\n")?;
            n
        }
        OutFormat::Csv => report::write_csv_plan(&plan, &mut out)?,
    };
    out.flush()?;
    // The process ends next and the system takes its memory back at once;
    // freeing the plan's rows one by one first (a few hundred thousand
    // small vectors on a large input) would only add tens of milliseconds.
    std::mem::forget(plan);
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{events} events ({} rejected) -> {} rows in {:.2} s (read, decode and fold {:.2} s on {workers} workers): {:.0} events/s",
        rejected.iter().map(|r| r.total()).sum::<u64>(),
        rows,
        secs,
        folded.as_secs_f64(),
        events as f64 / secs.max(1e-9)
    );
    Ok(())
}
