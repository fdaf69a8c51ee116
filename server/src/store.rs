//! The embedded SQL database (`DATA/govpulse.db`, SQLite through rusqlite):
//! everything the server keeps that is not an event. Sources and their
//! tokens, and the rejected-records store, live here; accounts, sessions and
//! the audit log join them (DESIGN.md, "Storage and recovery").
//!
//! Two connections, each behind a mutex: one for sources, accounts,
//! sessions and the audit log, one for the rejected-records store
//! (`store/rejected.rs`), so that a flood of bad records never makes a
//! login wait for the connection. WAL journal (readers go on beside a
//! writer), `synchronous=FULL`: a source created by `govpulse sources add`
//! in another process is seen by a running server on its next request, and
//! a rejection is durable before the ingest request that produced it is
//! answered. Schema changes are numbered migrations tracked in
//! `PRAGMA user_version`.

use chrono::{DateTime, Utc};
use model::UnitCode;
use pipelines::units::UnitRegistry;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicI64;

mod accounts;
mod rejected;
pub use accounts::{
    AuditEntry, LoginError, MIN_PASSWORD_CHARS, Role, SessionLimits, User, validate_password,
};
pub use rejected::{Kept, RejectedLimits, RejectionQuery, RejectionTotals, StoredRejection};

/// The database file inside a data directory.
pub const FILE_NAME: &str = "govpulse.db";

/// Source names used by the server itself; `sources add` refuses them.
pub const RESERVED_SOURCES: [&str; 3] = ["sample", "demo", "file"];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("a source named {0:?} already exists")]
    SourceExists(String),
    #[error("random token: {0}")]
    Random(String),
    #[error("a user named {0:?} already exists")]
    UserExists(String),
    #[error("password hash: {0}")]
    Hash(String),
}

/// Migrations, applied in order; `user_version` is the number applied.
const MIGRATIONS: &[&str] = &[
    // 1: sources and rejected records.
    "CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        units TEXT NOT NULL,
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE rejected (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        source TEXT NOT NULL,
        line INTEGER NOT NULL,
        event_id TEXT,
        unit TEXT,
        errors TEXT NOT NULL,
        raw TEXT NOT NULL
    );
    CREATE INDEX rejected_source ON rejected (source, id);",
    // 2: accounts, sessions and the audit log.
    "CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'committee', 'locality')),
        unit TEXT,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        disabled_at TEXT
    );
    CREATE TABLE sessions (
        id_sha256 TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    );
    CREATE INDEX sessions_user ON sessions (user_id);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT,
        action TEXT NOT NULL,
        target TEXT,
        client TEXT,
        detail TEXT NOT NULL
    );",
    // 3: the rejected store bounded: counts per source, hour and rule, and
    // the records in full only up to a sample per source and hour.
    "ALTER TABLE rejected ADD COLUMN hour INTEGER;
    CREATE INDEX rejected_hour ON rejected (source, hour);
    CREATE TABLE rejected_hours (
        source TEXT NOT NULL,
        hour INTEGER NOT NULL,
        records INTEGER NOT NULL,
        kept INTEGER NOT NULL,
        kept_bytes INTEGER NOT NULL,
        PRIMARY KEY (source, hour)
    ) WITHOUT ROWID;
    CREATE TABLE rejected_rules (
        source TEXT NOT NULL,
        hour INTEGER NOT NULL,
        field TEXT NOT NULL,
        rule TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (source, hour, field, rule)
    ) WITHOUT ROWID;",
];

/// A source as listed; the token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    pub name: String,
    /// The units the source may report for; each covers its subtree.
    pub units: Vec<UnitCode>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl SourceInfo {
    /// Whether `unit` is inside this source's units.
    pub fn covers(&self, registry: &UnitRegistry, unit: &str) -> bool {
        self.units.iter().any(|s| registry.covers(s.as_str(), unit))
    }
}

/// The database handle; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// The rejected-records store's own connection.
    rejects: Mutex<Connection>,
    /// Unix seconds of the rejected store's last prune.
    last_prune: AtomicI64,
}

impl Store {
    /// Open (or create) the database in `dir` and bring its schema up to date.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Sql {
            path: dir.to_owned(),
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        })?;
        let path = dir.join(FILE_NAME);
        let sql = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let connect = || -> rusqlite::Result<Connection> {
            let conn = Connection::open(&path)?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            // The WAL is truncated back to this after a checkpoint instead
            // of keeping the size of the largest transaction ever written.
            conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
            Ok(conn)
        };
        let mut conn = connect().map_err(sql)?;
        let version: usize = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql)?;
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(sql)?;
            tx.execute_batch(migration).map_err(sql)?;
            tx.pragma_update(None, "user_version", i + 1).map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        let rejects = connect().map_err(sql)?;
        Ok(Self {
            path,
            conn: Mutex::new(conn),
            rejects: Mutex::new(rejects),
            last_prune: AtomicI64::new(0),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn rejects(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.rejects.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    /// Create a source allowed to report for `units` (each covering its
    /// subtree). Returns it with its token, which is shown once and stored
    /// only as a SHA-256 hash.
    pub fn add_source(
        &self,
        name: &str,
        units: &[UnitCode],
        registry: &UnitRegistry,
    ) -> Result<(SourceInfo, String), StoreError> {
        validate_source_name(name)?;
        if units.is_empty() {
            return Err(StoreError::Invalid {
                field: "units",
                message: "give at least one unit code".into(),
            });
        }
        for u in units {
            if u.as_str() != UnitCode::NATION && !registry.contains(u.as_str()) {
                return Err(StoreError::Invalid {
                    field: "units",
                    message: format!("{u} is not a known unit code"),
                });
            }
        }
        let token = new_token()?;
        let now = Utc::now();
        let joined = units
            .iter()
            .map(UnitCode::as_str)
            .collect::<Vec<_>>()
            .join(",");
        let inserted = self.conn().execute(
            "INSERT INTO sources (name, units, token_sha256, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, joined, token_hash(&token), now.to_rfc3339()],
        );
        match inserted {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(StoreError::SourceExists(name.to_owned()));
            }
            Err(e) => return Err(self.sql(e)),
        }
        Ok((
            SourceInfo {
                name: name.to_owned(),
                units: units.to_vec(),
                created_at: now,
                revoked_at: None,
            },
            token,
        ))
    }

    /// Every source, revoked ones included, by name.
    pub fn sources(&self) -> Result<Vec<SourceInfo>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name, units, created_at, revoked_at FROM sources ORDER BY name")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], source_row)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))?;
        Ok(rows)
    }

    /// Revoke a source's token; `false` when no live source has that name.
    pub fn revoke_source(&self, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .execute(
                "UPDATE sources SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, Utc::now().to_rfc3339()],
            )
            .map_err(|e| self.sql(e))?;
        Ok(n > 0)
    }

    /// The live (not revoked) source a bearer token belongs to.
    pub fn source_by_token(&self, token: &str) -> Result<Option<SourceInfo>, StoreError> {
        self.live_source("token_sha256", &token_hash(token))
    }

    /// The live (not revoked) source of this name.
    pub fn source_by_name(&self, name: &str) -> Result<Option<SourceInfo>, StoreError> {
        self.live_source("name", name)
    }

    /// The live source whose unique `column` (a fixed name, never input)
    /// equals `value`.
    fn live_source(&self, column: &str, value: &str) -> Result<Option<SourceInfo>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT name, units, created_at, revoked_at FROM sources
                 WHERE {column} = ?1 AND revoked_at IS NULL"
            ))
            .map_err(|e| self.sql(e))?;
        stmt.query_row([value], source_row)
            .optional()
            .map_err(|e| self.sql(e))
    }
}

fn source_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SourceInfo> {
    let units: String = r.get(1)?;
    Ok(SourceInfo {
        name: r.get(0)?,
        units: units
            .split(',')
            .filter_map(|u| UnitCode::parse(u).ok())
            .collect(),
        created_at: parse_time(r.get::<_, String>(2)?),
        revoked_at: r.get::<_, Option<String>>(3)?.map(parse_time),
    })
}

fn parse_time(s: String) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// The `unit` of a raw JSON record, when it has one (for scoped listing).
fn raw_unit(raw: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    v.get("unit")?.as_str().map(str::to_owned)
}

/// Source names: 1–64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn validate_source_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !ok {
        return Err(StoreError::Invalid {
            field: "name",
            message: format!(
                "{name:?} is not a source name: use 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
            ),
        });
    }
    if RESERVED_SOURCES.contains(&name) {
        return Err(StoreError::Invalid {
            field: "name",
            message: format!("{name:?} is reserved for the server's own sources"),
        });
    }
    Ok(())
}

/// A fresh source token: `gps_` and 256 random bits in hex.
fn new_token() -> Result<String, StoreError> {
    random_hex("gps_")
}

/// `prefix` and 256 random bits in hex (source tokens, session ids).
fn random_hex(prefix: &str) -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// Tokens and session ids carry 256 random bits, so a plain SHA-256 is enough to make the
/// stored value useless to a reader of the database (no password hashing).
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(codes: &[&str]) -> Vec<UnitCode> {
        codes.iter().map(|c| UnitCode::parse(c).unwrap()).collect()
    }

    #[test]
    fn a_source_token_resolves_until_revoked_and_is_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let reg = UnitRegistry::embedded().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (info, token) = store
            .add_source("hanoi-dvc", &units(&["01"]), &reg)
            .unwrap();
        assert!(token.starts_with("gps_") && token.len() == 68);
        assert_eq!(store.source_by_token(&token).unwrap(), Some(info.clone()));
        assert_eq!(store.source_by_token("gps_nope").unwrap(), None);
        let db = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        let wal = std::fs::read(dir.path().join("govpulse.db-wal")).unwrap_or_default();
        let needle = token.as_bytes();
        for bytes in [&db, &wal] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
        assert!(matches!(
            store.add_source("hanoi-dvc", &units(&["79"]), &reg),
            Err(StoreError::SourceExists(_))
        ));
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert!(store.revoke_source("hanoi-dvc").unwrap());
        assert!(!store.revoke_source("hanoi-dvc").unwrap());
        assert_eq!(store.source_by_token(&token).unwrap(), None);
        assert!(store.sources().unwrap()[0].revoked_at.is_some());
    }

    #[test]
    fn bad_names_and_units_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let reg = UnitRegistry::embedded().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for bad in ["", "Upper", "-x", "sample", "a b"] {
            let e = store.add_source(bad, &units(&["01"]), &reg).unwrap_err();
            assert!(
                matches!(e, StoreError::Invalid { field: "name", .. }),
                "{bad}"
            );
        }
        let e = store.add_source("x", &units(&["99"]), &reg).unwrap_err();
        assert!(e.to_string().starts_with("units: 99"), "{e}");
        let e = store.add_source("x", &[], &reg).unwrap_err();
        assert!(matches!(e, StoreError::Invalid { field: "units", .. }));
    }

    #[test]
    fn a_unit_code_covers_its_subtree() {
        let reg = UnitRegistry::embedded().unwrap();
        let hanoi_commune = reg
            .level(model::UnitLevel::Commune)
            .into_iter()
            .find(|u| u.parent.as_ref().is_some_and(|p| p.as_str() == "01"))
            .unwrap()
            .code
            .clone();
        let src = SourceInfo {
            name: "s".into(),
            units: units(&["01"]),
            created_at: Utc::now(),
            revoked_at: None,
        };
        assert!(src.covers(&reg, "01"));
        assert!(src.covers(&reg, hanoi_commune.as_str()));
        assert!(!src.covers(&reg, "79"));
        assert!(!src.covers(&reg, "BTC"));
        let nation = SourceInfo {
            units: units(&["VN"]),
            ..src
        };
        assert!(nation.covers(&reg, "BTC") && nation.covers(&reg, hanoi_commune.as_str()));
    }
}
