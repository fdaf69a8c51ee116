//! `govpulse`: the command line of the server crate.

use anyhow::Context;
use clap::{Parser, Subcommand};
use govpulse::config::Config;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "govpulse",
    version,
    about = "Real-time monitoring of digital public administration"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: ingest, engine, websocket hub and dashboard.
    Serve {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long)]
        addr: Option<String>,
        /// Data directory (event log, rejected records).
        #[arg(long)]
        data: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Directory of the built dashboard bundle.
        #[arg(long)]
        web: Option<PathBuf>,
        /// Load the embedded sample stream (120 invented dossiers) into an
        /// empty event log, for trying govpulse out. Refused on a data
        /// directory that has sources: invented events must never mix with
        /// real ones (`govpulse demo` needs no data directory at all).
        #[arg(long)]
        sample: bool,
    },
    /// Write a seeded, calibrated national event stream to a file.
    Generate(govpulse::commands::generate::Args),
    /// Send event files to a running server, paced by event time.
    Replay(govpulse::commands::replay::Args),
    /// Compute every KPI per period and unit from files or a data directory.
    Kpi(govpulse::commands::kpi::Args),
    /// Manage the sources allowed to push events, and their tokens.
    Sources(govpulse::commands::sources::Args),
    /// Manage the accounts people log in with.
    Users(govpulse::commands::users::Args),
    /// Check or export the event log of a data directory.
    Log(govpulse::commands::log::Args),
    /// List or export the rejected-records store.
    Rejected(govpulse::commands::rejected::Args),
    /// Run the dashboard on a temporary data directory, fed with generated
    /// events in accelerated time.
    Demo {
        #[command(flatten)]
        args: govpulse::commands::demo::Args,
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GOVPULSE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            addr,
            data,
            config,
            web,
            sample,
        } => {
            let mut cfg = Config::load(config.as_deref(), std::env::vars())?;
            if let Some(a) = addr {
                cfg.server.addr = a;
            }
            if let Some(d) = data {
                cfg.server.data_dir = d;
            }
            if let Some(w) = web {
                cfg.server.web_dir = w;
            }
            if sample {
                cfg.sample.load = true;
            }
            let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
            rt.block_on(govpulse::serve::run(cfg))
        }
        Command::Generate(args) => govpulse::commands::generate::run(args),
        Command::Sources(args) => govpulse::commands::sources::run(args),
        Command::Users(args) => govpulse::commands::users::run(args),
        Command::Rejected(args) => govpulse::commands::rejected::run(args),
        Command::Log(args) => govpulse::commands::log::run(args),
        Command::Replay(args) => {
            let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
            rt.block_on(govpulse::commands::replay::run(args))
        }
        Command::Kpi(args) => govpulse::commands::kpi::run(args),
        Command::Demo { args, config } => {
            let cfg = Config::load(config.as_deref(), std::env::vars())?;
            let rt = tokio::runtime::Runtime::new().context("tokio runtime")?;
            rt.block_on(govpulse::commands::demo::run(args, cfg))
        }
    }
}
