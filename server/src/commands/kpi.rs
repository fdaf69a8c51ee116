//! `govpulse kpi`: the engine's KPI definitions over files or a server's
//! event log, one row per period and unit.

use anyhow::{Context, Result, bail};
use pipelines::kpi::report::{self, Level, ReportSpec};
use pipelines::sources::validate::Checks;
use pipelines::sources::{Decoded, Format};
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
    /// Write here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

fn decode_file(path: &Path, units: &UnitRegistry) -> Result<Decoded> {
    let Some(format) = Format::from_path(path) else {
        bail!(
            "{}: unknown extension (use .ndjson, .jsonl, .csv or .parquet)",
            path.display()
        );
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(pipelines::sources::decode(
        format,
        bytes.into(),
        units,
        Checks::default(),
    ))
}

pub async fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let units = Arc::new(UnitRegistry::embedded()?);
    let calendar = sample_data::calendar()?;
    let mut events = Vec::new();
    let mut rejected = 0usize;
    if let Some(dir) = &args.data {
        if !dir.join(crate::log::FILE_NAME).exists() {
            bail!(
                "no event log in {} (expected {})",
                dir.display(),
                crate::log::FILE_NAME
            );
        }
        // Read-only: works beside a running server, and leaves an
        // uncommitted tail unread.
        let mut reader = crate::log::LogReader::new(dir.join(crate::log::FILE_NAME), 0);
        events.extend(
            reader
                .read(u64::MAX, usize::MAX)?
                .into_iter()
                .map(|r| r.event),
        );
    }
    for path in &args.input {
        let d = decode_file(path, &units)?;
        if let Some(first) = d.rejected.first() {
            eprintln!(
                "{}: {} records rejected; first at line {}: {}",
                path.display(),
                d.rejected.len(),
                first.line,
                first
                    .errors
                    .iter()
                    .map(|e| format!("{} ({}): {}", e.field, e.rule, e.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        rejected += d.rejected.len();
        events.extend(d.events.into_iter().map(|(_, e)| e));
    }
    let decoded = started.elapsed();
    let spec = ReportSpec {
        level: args.level,
        period: args.period,
        chunk: 262_144,
    };
    let rows = report::report(&events, units, &calendar, spec).await?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    match args.format {
        OutFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)?;
            out.write_all(b"\n")?;
        }
        OutFormat::Csv => report::write_csv(&rows, &mut out)?,
    }
    out.flush()?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} events ({} rejected) -> {} rows in {:.2} s (decode {:.2} s): {:.0} events/s",
        events.len(),
        rejected,
        rows.len(),
        secs,
        decoded.as_secs_f64(),
        events.len() as f64 / secs.max(1e-9)
    );
    Ok(())
}
