//! `govpulse log check|export`: read a data directory's event log without
//! touching it (beside a running server too). `check` verifies every
//! record's checksum and reports counts; `export` writes the events back as
//! contract NDJSON, for a backup or another system.

use crate::log::{FILE_NAME, LogReader};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify every record and print counts per source as JSON; exits with
    /// an error naming the byte offset of the first corrupt record.
    Check {
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Write every committed event as contract NDJSON to standard output.
    Export {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Only events from this source.
        #[arg(long)]
        source: Option<String>,
    },
}

const CHUNK: usize = 100_000;

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Check { data } => {
            let path = data.join(FILE_NAME);
            let len = std::fs::metadata(&path)
                .with_context(|| format!("no event log at {}", path.display()))?
                .len();
            let mut reader = LogReader::new(path, 0);
            let mut by_source = BTreeMap::<String, u64>::new();
            let mut records = 0u64;
            loop {
                let chunk = reader.read(u64::MAX, CHUNK)?;
                if chunk.is_empty() {
                    break;
                }
                records += chunk.len() as u64;
                for r in chunk {
                    *by_source.entry(r.source).or_default() += 1;
                }
            }
            let report = serde_json::json!({
                "records": records,
                "committed_bytes": reader.offset(),
                "uncommitted_tail_bytes": len - reader.offset(),
                "by_source": by_source,
            });
            println!("{report}");
        }
        Command::Export { data, source } => {
            let mut reader = LogReader::new(data.join(FILE_NAME), 0);
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            loop {
                let chunk = reader.read(u64::MAX, CHUNK)?;
                if chunk.is_empty() {
                    break;
                }
                for r in chunk {
                    if source.as_ref().is_none_or(|s| *s == r.source) {
                        serde_json::to_writer(&mut out, &r.event)?;
                        out.write_all(b"\n")?;
                    }
                }
            }
            out.flush()?;
        }
    }
    Ok(())
}
