//! `govpulse generate`: write a seeded national event stream to a file.

use anyhow::{Context, Result};
use chrono::NaiveDate;
use pipelines::sources::{csv, parquet};
use sample_data::generator::{GenConfig, Generator, RawRecord, Record, Scenario};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
    Parquet,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// First day (local date, YYYY-MM-DD).
    #[arg(long)]
    pub from: NaiveDate,
    /// Number of days.
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// Share of national volume (1.0 = the whole country, about 90 M dossiers a year).
    #[arg(long, default_value_t = 0.01)]
    pub scale: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = Format::Ndjson)]
    pub format: Format,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// baseline, lagging or dirty.
    #[arg(long, default_value = "baseline")]
    pub scenario: Scenario,
    /// Share of records given a malformed twin in the dirty scenario.
    #[arg(long, default_value_t = 0.02)]
    pub dirty_share: f64,
}

impl Args {
    fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if !(self.scale > 0.0 && self.scale <= 100.0) {
            problems.push(format!(
                "--scale {} must be above 0 and at most 100",
                self.scale
            ));
        }
        if self.days == 0 || self.days > 3660 {
            problems.push(format!("--days {} must be between 1 and 3660", self.days));
        }
        if !(0.0..=1.0).contains(&self.dirty_share) {
            problems.push(format!(
                "--dirty-share {} must be between 0 and 1",
                self.dirty_share
            ));
        }
        anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
        Ok(())
    }
}

enum Sink {
    Ndjson(BufWriter<std::fs::File>),
    Csv(csv::Writer<BufWriter<std::fs::File>>),
    Parquet(parquet::Writer<BufWriter<std::fs::File>>),
}

impl Sink {
    fn write(&mut self, r: Record) -> Result<()> {
        match self {
            Sink::Ndjson(w) => r.write_ndjson(w)?,
            Sink::Csv(w) => match r {
                Record::Event(e) => w.write_value(&serde_json::to_value(e)?)?,
                Record::Raw(RawRecord::Json(v)) => w.write_value(&v)?,
                Record::Raw(RawRecord::Text(t)) => w.write_text(&t)?,
            },
            Sink::Parquet(w) => match r {
                Record::Event(e) => w.write_value(serde_json::to_value(e)?)?,
                Record::Raw(RawRecord::Json(v)) => w.write_value(v)?,
                // A line that is not a record has no Parquet form.
                Record::Raw(RawRecord::Text(_)) => {}
            },
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            Sink::Ndjson(mut w) => w.flush()?,
            Sink::Csv(w) => w.finish()?.flush()?,
            Sink::Parquet(w) => w.finish()?,
        }
        Ok(())
    }
}

pub fn run(args: Args) -> Result<()> {
    args.validate()?;
    let cfg = GenConfig {
        scenario: args.scenario,
        dirty_share: args.dirty_share,
        ..GenConfig::new(args.from, args.days, args.scale, args.seed)
    };
    let generator = Generator::new(cfg)?;
    let injected = generator.injected();
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = BufWriter::with_capacity(1 << 20, file);
    let mut sink = match args.format {
        Format::Ndjson => Sink::Ndjson(out),
        Format::Csv => Sink::Csv(csv::Writer::new(out)?),
        Format::Parquet => Sink::Parquet(parquet::Writer::new(out)?),
    };
    let bar = super::progress(u64::from(args.days), "days");
    let started = Instant::now();
    let summary = generator.run(|r| sink.write(r), |d| bar.set_position(u64::from(d)))?;
    sink.finish()?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if args.scenario == Scenario::Lagging {
        let path = scenario_path(&args.out);
        std::fs::write(&path, serde_json::to_vec_pretty(&injected)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("injected problems: {}", path.display());
    }
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {} records ({} events, {} dossiers{}) to {} in {:.1} s: {:.0} events/s, {:.1} MB",
        summary.records,
        summary.events,
        summary.dossiers,
        if summary.dirty.is_empty() {
            String::new()
        } else {
            format!(", malformed {:?}", summary.dirty)
        },
        args.out.display(),
        secs,
        summary.records as f64 / secs.max(1e-9),
        bytes as f64 / 1e6,
    );
    Ok(())
}

/// `scenario.json` beside the output file.
pub fn scenario_path(out: &Path) -> PathBuf {
    out.with_file_name("scenario.json")
}
