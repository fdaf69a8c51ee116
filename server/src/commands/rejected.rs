//! `govpulse rejected list|export`: the rejected-records store, for an
//! administrator with access to the data directory. Every record a source
//! sent that failed the contract or its scope is here with its reasons.

use crate::store::{RejectionQuery, Store};
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show stored rejections, oldest first, with their reasons.
    List {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Most rows to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Start after this id (keyset paging).
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
    /// Write every stored rejection as NDJSON (one object per record, with
    /// the raw record and its errors) or CSV to standard output.
    Export {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        #[arg(long)]
        source: Option<String>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Ndjson)]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Ndjson,
    Csv,
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::List {
            data,
            source,
            limit,
            after,
        } => {
            let store = Store::open(&data)?;
            let totals = store.rejection_totals(source.as_deref())?;
            let rows = store.rejections(&RejectionQuery {
                source,
                after_id: after,
                limit,
            })?;
            println!(
                "{} rejected records stored ({} counted in all; the rest are counted per rule only)",
                totals.kept, totals.counted
            );
            for r in &totals.rules {
                println!("  {} {}: {}", r.field, r.rule, r.count);
            }
            for r in rows {
                let why: Vec<String> = r
                    .record
                    .errors
                    .iter()
                    .map(|e| format!("{} ({}): {}", e.field, e.rule, e.message))
                    .collect();
                println!(
                    "#{} {} source={} line={} event_id={} {}",
                    r.id,
                    r.at.format("%Y-%m-%dT%H:%M:%SZ"),
                    r.source,
                    r.record.line,
                    r.record.event_id.as_deref().unwrap_or("-"),
                    why.join("; ")
                );
            }
        }
        Command::Export {
            data,
            source,
            format,
        } => {
            let store = Store::open(&data)?;
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut sink = match format {
                ExportFormat::Ndjson => Sink::Ndjson(out),
                ExportFormat::Csv => {
                    let mut w = csv::Writer::from_writer(out);
                    w.write_record([
                        "id", "at", "source", "line", "event_id", "field", "rule", "message", "raw",
                    ])?;
                    Sink::Csv(Box::new(w))
                }
            };
            let mut after_id = 0;
            loop {
                let page = store.rejections(&RejectionQuery {
                    source: source.clone(),
                    after_id,
                    limit: 10_000,
                })?;
                let Some(last) = page.last() else { break };
                after_id = last.id;
                for r in &page {
                    match &mut sink {
                        Sink::Ndjson(out) => {
                            serde_json::to_writer(&mut *out, r)?;
                            out.write_all(b"\n")?;
                        }
                        // One row per broken rule, so a spreadsheet can filter by rule.
                        // Text cells hold what a source sent (ids, raw
                        // records): no spreadsheet formulas.
                        Sink::Csv(w) => {
                            use pipelines::csv_cell::text;
                            for e in &r.record.errors {
                                w.write_record([
                                    r.id.to_string().as_str(),
                                    &text(&r.at.to_rfc3339()),
                                    &text(&r.source),
                                    &r.record.line.to_string(),
                                    &text(r.record.event_id.as_deref().unwrap_or_default()),
                                    &text(&e.field),
                                    &text(&e.rule),
                                    &text(&e.message),
                                    &text(&r.record.raw),
                                ])?;
                            }
                        }
                    }
                }
            }
            match sink {
                Sink::Ndjson(mut out) => out.flush()?,
                Sink::Csv(mut w) => w.flush()?,
            }
        }
    }
    Ok(())
}

enum Sink<W: Write> {
    Ndjson(W),
    Csv(Box<csv::Writer<W>>),
}
