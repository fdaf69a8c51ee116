//! `govpulse sources add|list|revoke`: the sources allowed to push events,
//! each bound to the units it may report for. Works beside a running server
//! (the database is shared; a change counts from the server's next request).

use crate::store::Store;
use anyhow::{Context, Result};
use model::UnitCode;
use pipelines::units::UnitRegistry;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a source; its token is printed alone on the last line.
    Add {
        /// Source name (a-z, 0-9, '.', '_', '-'); events are deduplicated per source.
        #[arg(long)]
        name: String,
        /// Unit codes the source may report for; each covers its subtree
        /// (a province covers its communes, VN covers everything).
        #[arg(long, value_delimiter = ',', required = true)]
        units: Vec<String>,
        /// Data directory of the server.
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// List sources (never their tokens).
    List {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a source's token; its events already in the log stay.
    Revoke {
        name: String,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Add { name, units, data } => {
            anyhow::ensure!(
                name != crate::serve::SAMPLE_SOURCE,
                "--name: {name:?} is reserved for the sample stream; choose another name"
            );
            anyhow::ensure!(
                !crate::serve::holds_sample(&data)?,
                "the event log in {} holds sample events (`govpulse serve --sample`), which are invented; \
                 a real source must not write beside them. Start a clean data directory for real use \
                 (e.g. `govpulse sources add --data NEW_EMPTY_DIR …`, then `govpulse serve --data NEW_EMPTY_DIR`)",
                data.display()
            );
            let codes = units
                .iter()
                .map(|u| UnitCode::parse(u.trim()).with_context(|| format!("--units: {u:?}")))
                .collect::<Result<Vec<_>>>()?;
            let registry = UnitRegistry::embedded()?;
            let store = Store::open(&data)?;
            let (info, token) = store.add_source(&name, &codes, &registry)?;
            eprintln!(
                "source {:?} created for units {}; the token is shown once, keep it secret:",
                info.name,
                units.join(",")
            );
            println!("{token}");
        }
        Command::List { data, json } => {
            let store = Store::open(&data)?;
            let sources = store.sources()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&sources)?);
            } else {
                println!("{:<24} {:<8} {:<26} UNITS", "NAME", "STATE", "CREATED");
                for s in sources {
                    let units: Vec<&str> = s.units.iter().map(UnitCode::as_str).collect();
                    println!(
                        "{:<24} {:<8} {:<26} {}",
                        s.name,
                        if s.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        },
                        s.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                        units.join(",")
                    );
                }
            }
        }
        Command::Revoke { name, data } => {
            let store = Store::open(&data)?;
            anyhow::ensure!(
                store.revoke_source(&name)?,
                "no active source named {name:?}"
            );
            eprintln!("source {name:?} revoked");
        }
    }
    Ok(())
}
