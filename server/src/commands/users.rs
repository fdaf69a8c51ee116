//! `govpulse users add|list|disable`: the accounts people log in with.
//! Works beside a running server (the database is shared); disabling a
//! user ends its sessions at once.

use crate::store::{Role, Store};
use anyhow::{Context, Result};
use model::UnitCode;
use pipelines::units::UnitRegistry;
use std::io::Read;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a user; the password is read from standard input.
    Add {
        /// User name (a-z, 0-9, '.', '_', '-', '@').
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// The unit a locality user sees (with its subtree).
        #[arg(long)]
        unit: Option<String>,
        /// Read the password from standard input (its first line); never
        /// pass passwords as arguments, they end up in process lists.
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// List users (never their password hashes).
    List {
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user and end its sessions.
    Disable {
        name: String,
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Add {
            name,
            role,
            unit,
            password_stdin: _,
            data,
        } => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .context("reading the password from standard input")?;
            let password = input.lines().next().unwrap_or_default();
            let unit = unit
                .map(|u| UnitCode::parse(u.trim()).with_context(|| format!("--unit: {u:?}")))
                .transpose()?;
            let registry = UnitRegistry::embedded()?;
            let store = Store::open(&data)?;
            let user = store.add_user(&name, role, unit.as_ref(), password, &registry)?;
            store.audit(
                Some("cli"),
                "user_add",
                Some(&user.name),
                None,
                serde_json::json!({ "role": role, "unit": user.unit }),
            )?;
            eprintln!(
                "user {:?} created: {} seeing {}",
                user.name,
                role.as_str(),
                user.scope()
            );
        }
        Command::List { data, json } => {
            let store = Store::open(&data)?;
            let users = store.users()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                println!(
                    "{:<24} {:<10} {:<8} {:<9} {:<26}",
                    "NAME", "ROLE", "SCOPE", "STATE", "CREATED"
                );
                for u in users {
                    println!(
                        "{:<24} {:<10} {:<8} {:<9} {:<26}",
                        u.name,
                        u.role.as_str(),
                        u.scope(),
                        if u.disabled_at.is_some() {
                            "disabled"
                        } else {
                            "active"
                        },
                        u.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    );
                }
            }
        }
        Command::Disable { name, data } => {
            let store = Store::open(&data)?;
            anyhow::ensure!(store.disable_user(&name)?, "no active user named {name:?}");
            store.audit(
                Some("cli"),
                "user_disable",
                Some(&name),
                None,
                serde_json::json!({}),
            )?;
            eprintln!("user {name:?} disabled; its sessions are ended");
        }
    }
    Ok(())
}
