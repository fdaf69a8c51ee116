//! Accounts, server-side sessions and the audit log, in the same database
//! as sources (DESIGN.md, "Access and security").
//!
//! * Passwords are hashed with Argon2id (the `argon2` crate's defaults:
//!   19 MiB, two passes, one lane) in PHC strings. Every login runs exactly
//!   one verification of that cost (an unknown name, a disabled account or
//!   a too-long password against a dummy hash), so timing does not tell
//!   names apart.
//! * A session id is 256 random bits, sent only in the cookie; the database
//!   keeps its SHA-256. A session ends after `idle` without a request or
//!   `absolute` after login, whichever comes first; logout, a password
//!   change and disabling the user end every session of that user.
//! * Audit entries are append-only rows: who, what, on what, from where.

use super::{Store, StoreError, parse_time, random_hex, token_hash};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use model::UnitCode;
use pipelines::units::UnitRegistry;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// What a user may see and do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages users, sources, rules and targets; sees everything.
    Admin,
    /// Reads everything.
    Committee,
    /// Reads and acts within its unit's subtree only.
    Locality,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Committee => "committee",
            Self::Locality => "locality",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "admin" => Self::Admin,
            "committee" => Self::Committee,
            "locality" => Self::Locality,
            _ => return None,
        })
    }
}

/// A user as the server sees it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The unit a locality user is bound to; `None` for the other roles.
    pub unit: Option<UnitCode>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl User {
    /// The root of what this user may see: its unit, or the nation.
    pub fn scope(&self) -> &str {
        match (&self.role, &self.unit) {
            (Role::Locality, Some(u)) => u.as_str(),
            // A locality user without a unit cannot be created; should one
            // ever be read, it sees nothing rather than everything.
            (Role::Locality, None) => "",
            _ => UnitCode::NATION,
        }
    }

    /// Whether the whole country is visible to this user.
    pub fn is_national(&self) -> bool {
        self.scope() == UnitCode::NATION
    }

    /// Whether `unit` is inside this user's scope.
    pub fn sees(&self, registry: &UnitRegistry, unit: &str) -> bool {
        let scope = self.scope();
        !scope.is_empty() && registry.covers(scope, unit)
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Seconds without a request after which a session ends.
    pub idle_secs: i64,
    /// Seconds after login after which a session ends regardless.
    pub absolute_secs: i64,
}

/// Why a login failed. The HTTP layer answers every variant the same way.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong user name or password")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The user (or `cli`, `server`) who acted; `None` for an anonymous
    /// failed login.
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client: Option<String>,
    pub detail: serde_json::Value,
}

/// Passwords: 12 to 1024 characters (the upper bound keeps hashing cheap
/// for the server, whatever a client sends).
pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 1024;

/// Seconds between writes of a session's `last_seen` (every request would
/// otherwise be an fsync).
const TOUCH_EVERY_SECS: i64 = 30;

fn hash_password(password: &str) -> Result<String, StoreError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| StoreError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Hash(e.to_string()))
}

/// One Argon2id verification; the only place a login runs Argon2, so that
/// tests can count the runs of each path.
fn verify_password(password: &str, phc: &PasswordHash<'_>) -> bool {
    #[cfg(test)]
    VERIFICATIONS.with(|n| n.set(n.get() + 1));
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
thread_local! {
    /// Argon2 verifications run on this thread (tests only).
    static VERIFICATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The Argon2id hash (with the `argon2` crate's default cost, as every
/// stored hash) that a login is verified against when it cannot succeed:
/// unknown or disabled user, password too long, unreadable stored hash.
/// A constant, so that no path ever pays for making it; a test checks that
/// its cost is the default one.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$GesP1H0YCzQUAILk5MD0nA$WkNdtdLbbiUrAqs17f+qS6ezqRi9QNftwQpAwgnhle0";

fn dummy_hash() -> PasswordHash<'static> {
    // Checked by `the_dummy_hash_costs_what_a_stored_hash_costs`.
    PasswordHash::new(DUMMY_HASH).expect("DUMMY_HASH is a PHC string")
}

/// The first `MAX_PASSWORD_CHARS` characters of `password`: what a too-long
/// password is verified as (against the dummy hash), so its cost does not
/// grow with its length.
fn cut_password(password: &str) -> &str {
    password
        .char_indices()
        .nth(MAX_PASSWORD_CHARS)
        .map_or(password, |(i, _)| &password[..i])
}

/// User names: 1–64 of `a-z 0-9 . _ - @`, starting with a letter or digit.
pub fn validate_user_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "name",
            message: format!(
                "{name:?} is not a user name: use 1-64 of a-z, 0-9, '.', '_', '-', '@', starting with a letter or digit"
            ),
        })
    }
}

pub fn validate_password(password: &str) -> Result<(), StoreError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(StoreError::Invalid {
            field: "password",
            message: format!("must be at least {MIN_PASSWORD_CHARS} characters (got {n})"),
        });
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(StoreError::Invalid {
            field: "password",
            message: format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        });
    }
    Ok(())
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    let unit: Option<String> = r.get(3)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        // The CHECK constraint admits only the three roles; anything else
        // reads as the narrowest one.
        role: Role::parse(&role).unwrap_or(Role::Locality),
        unit: unit.and_then(|u| UnitCode::parse(&u).ok()),
        created_at: parse_time(r.get::<_, String>(4)?),
        disabled_at: r.get::<_, Option<String>>(5)?.map(parse_time),
    })
}

const USER_COLUMNS: &str = "u.id, u.name, u.role, u.unit, u.created_at, u.disabled_at";

impl Store {
    /// Create a user. A locality user needs a unit (its subtree is what it
    /// sees); admin and committee users must not have one.
    pub fn add_user(
        &self,
        name: &str,
        role: Role,
        unit: Option<&UnitCode>,
        password: &str,
        registry: &UnitRegistry,
    ) -> Result<User, StoreError> {
        validate_user_name(name)?;
        validate_password(password)?;
        match (role, unit) {
            (Role::Locality, None) => {
                return Err(StoreError::Invalid {
                    field: "unit",
                    message: "a locality user needs --unit CODE (a province, commune or ministry)"
                        .into(),
                });
            }
            (Role::Locality, Some(u)) if !registry.contains(u.as_str()) => {
                return Err(StoreError::Invalid {
                    field: "unit",
                    message: format!("{u} is not a known unit code"),
                });
            }
            (Role::Admin | Role::Committee, Some(_)) => {
                return Err(StoreError::Invalid {
                    field: "unit",
                    message: format!("a {} user sees every unit; give no unit", role.as_str()),
                });
            }
            _ => {}
        }
        let hash = hash_password(password)?;
        let now = Utc::now();
        let inserted = self.conn().execute(
            "INSERT INTO users (name, role, unit, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, role.as_str(), unit.map(UnitCode::as_str), hash, now.to_rfc3339()],
        );
        match inserted {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                return Err(StoreError::UserExists(name.to_owned()));
            }
            Err(e) => return Err(self.sql(e)),
        }
        self.user_by_name(name)?.ok_or_else(|| StoreError::Invalid {
            field: "name",
            message: "the new user vanished".into(),
        })
    }

    /// Every user, disabled ones included, by name.
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {USER_COLUMNS} FROM users u ORDER BY u.name"
            ))
            .map_err(|e| self.sql(e))?;
        stmt.query_map([], user_row)
            .map_err(|e| self.sql(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.sql(e))
    }

    pub fn user_count(&self) -> Result<u64, StoreError> {
        self.conn()
            .query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.sql(e))
    }

    pub fn user_by_name(&self, name: &str) -> Result<Option<User>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users u WHERE u.name = ?1"
            ))
            .map_err(|e| self.sql(e))?;
        stmt.query_row([name], user_row)
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Disable a user and end its sessions; `false` if no enabled user has
    /// that name.
    pub fn disable_user(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        let n = tx
            .execute(
                "UPDATE users SET disabled_at = ?2 WHERE name = ?1 AND disabled_at IS NULL",
                params![name, Utc::now().to_rfc3339()],
            )
            .map_err(|e| self.sql(e))?;
        tx.execute(
            "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE name = ?1)",
            [name],
        )
        .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(n > 0)
    }

    /// Check a name and password. Disabled users cannot log in.
    ///
    /// Every path runs exactly one Argon2id verification of the same cost,
    /// whatever the name, the password's length or the account's state, so
    /// the answer's timing does not tell names apart: a login that cannot
    /// succeed is verified against [`DUMMY_HASH`] and then refused.
    pub fn verify_login(&self, name: &str, password: &str) -> Result<User, LoginError> {
        let found = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.name = ?1"
                ))
                .map_err(|e| self.sql(e))?;
            stmt.query_row([name], |r| Ok((user_row(r)?, r.get::<_, String>(6)?)))
                .optional()
                .map_err(|e| self.sql(e))?
        };
        // Hash outside the lock: Argon2id takes tens of milliseconds.
        let too_long = password.chars().count() > MAX_PASSWORD_CHARS;
        let candidate = found.as_ref().and_then(|(user, phc)| {
            let hash = PasswordHash::new(phc).ok()?;
            (user.disabled_at.is_none() && !too_long).then_some((user, hash))
        });
        let password = cut_password(password);
        match candidate {
            Some((user, hash)) if verify_password(password, &hash) => Ok(user.clone()),
            Some(_) => Err(LoginError::Invalid),
            None => {
                let _ = verify_password(password, &dummy_hash());
                Err(LoginError::Invalid)
            }
        }
    }

    /// Start a session for `user`; returns the session id for the cookie.
    pub fn create_session(&self, user: &User) -> Result<String, StoreError> {
        let id = random_hex("")?;
        let now = Utc::now().timestamp();
        self.conn()
            .execute(
                "INSERT INTO sessions (id_sha256, user_id, created_at, last_seen) VALUES (?1, ?2, ?3, ?3)",
                params![token_hash(&id), user.id, now],
            )
            .map_err(|e| self.sql(e))?;
        Ok(id)
    }

    /// The enabled user of a live session, refreshing its idle clock. An
    /// expired session is deleted and reads as none.
    pub fn session_user(
        &self,
        session_id: &str,
        limits: SessionLimits,
    ) -> Result<Option<User>, StoreError> {
        let now = Utc::now().timestamp();
        let key = token_hash(session_id);
        let conn = self.conn();
        let found = conn
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS}, s.created_at, s.last_seen FROM sessions s
                 JOIN users u ON u.id = s.user_id
                 WHERE s.id_sha256 = ?1 AND u.disabled_at IS NULL"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([&key], |r| {
                    Ok((user_row(r)?, r.get::<_, i64>(6)?, r.get::<_, i64>(7)?))
                })
                .optional()
            })
            .map_err(|e| self.sql(e))?;
        let Some((user, created, seen)) = found else {
            return Ok(None);
        };
        if now - seen > limits.idle_secs || now - created > limits.absolute_secs {
            conn.execute("DELETE FROM sessions WHERE id_sha256 = ?1", [&key])
                .map_err(|e| self.sql(e))?;
            return Ok(None);
        }
        if now - seen >= TOUCH_EVERY_SECS {
            conn.execute(
                "UPDATE sessions SET last_seen = ?2 WHERE id_sha256 = ?1",
                params![key, now],
            )
            .map_err(|e| self.sql(e))?;
        }
        Ok(Some(user))
    }

    /// Which of these sessions, named by the SHA-256 of their ids
    /// ([`Store::session_key`]), are live now: not ended, neither idle nor
    /// past their absolute limit, their user enabled. Reads only: nothing
    /// is refreshed or deleted. One query, however many keys.
    pub fn live_sessions(
        &self,
        keys: &[String],
        limits: SessionLimits,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        if keys.is_empty() {
            return Ok(Default::default());
        }
        let keys = serde_json::to_string(keys).unwrap_or_else(|_| "[]".into());
        let now = Utc::now().timestamp();
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT s.id_sha256 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_sha256 IN (SELECT value FROM json_each(?1))
                   AND u.disabled_at IS NULL
                   AND ?2 - s.last_seen <= ?3 AND ?2 - s.created_at <= ?4",
            )
            .map_err(|e| self.sql(e))?;
        stmt.query_map(
            params![keys, now, limits.idle_secs, limits.absolute_secs],
            |r| r.get::<_, String>(0),
        )
        .map_err(|e| self.sql(e))?
        .collect::<Result<_, _>>()
        .map_err(|e| self.sql(e))
    }

    /// The key a session is stored under: the SHA-256 of its id.
    pub fn session_key(session_id: &str) -> String {
        token_hash(session_id)
    }

    /// End one session.
    pub fn end_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "DELETE FROM sessions WHERE id_sha256 = ?1",
                [token_hash(session_id)],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// End every session of a user (logout, password change).
    pub fn end_sessions(&self, user_id: i64) -> Result<usize, StoreError> {
        self.conn()
            .execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
            .map_err(|e| self.sql(e))
    }

    /// Live sessions of a user (for tests and `users list`).
    pub fn session_count(&self, user_id: i64) -> Result<u64, StoreError> {
        self.conn()
            .query_row(
                "SELECT count(*) FROM sessions WHERE user_id = ?1",
                [user_id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n.max(0) as u64)
            .map_err(|e| self.sql(e))
    }

    /// Replace a user's password and end all of its sessions.
    pub fn set_password(&self, user_id: i64, password: &str) -> Result<(), StoreError> {
        validate_password(password)?;
        let hash = hash_password(password)?;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        tx.execute(
            "UPDATE users SET password_hash = ?2 WHERE id = ?1",
            params![user_id, hash],
        )
        .map_err(|e| self.sql(e))?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
            .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Append to the audit log.
    pub fn audit(
        &self,
        actor: Option<&str>,
        action: &str,
        target: Option<&str>,
        client: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO audit (at, actor, action, target, client, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    Utc::now().to_rfc3339(),
                    actor,
                    action,
                    target,
                    client,
                    detail.to_string()
                ],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Audit entries after `after_id`, oldest first, at most `limit`.
    pub fn audit_log(&self, after_id: i64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, at, actor, action, target, client, detail FROM audit
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(|e| self.sql(e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        stmt.query_map(params![after_id, limit], |r| {
            let detail: String = r.get(6)?;
            Ok(AuditEntry {
                id: r.get(0)?,
                at: parse_time(r.get::<_, String>(1)?),
                actor: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                client: r.get(5)?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })
        .map_err(|e| self.sql(e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| self.sql(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SessionLimits = SessionLimits {
        idle_secs: 1800,
        absolute_secs: 43_200,
    };

    fn open() -> (tempfile::TempDir, Store, UnitRegistry) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        (dir, store, UnitRegistry::embedded().unwrap())
    }

    #[test]
    fn passwords_are_stored_as_argon2id_and_checked() {
        let (_d, store, reg) = open();
        let u = store
            .add_user("ana", Role::Committee, None, "correct horse battery", &reg)
            .unwrap();
        let phc: String = store
            .conn()
            .query_row("SELECT password_hash FROM users", [], |r| r.get(0))
            .unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert_eq!(
            store.verify_login("ana", "correct horse battery").unwrap(),
            u
        );
        assert!(matches!(
            store.verify_login("ana", "correct horse batterY"),
            Err(LoginError::Invalid)
        ));
        assert!(matches!(
            store.verify_login("nobody", "correct horse battery"),
            Err(LoginError::Invalid)
        ));
    }

    /// Argon2 verifications `f` runs on this thread.
    fn verifications(f: impl FnOnce()) -> usize {
        VERIFICATIONS.with(|n| n.set(0));
        f();
        VERIFICATIONS.with(std::cell::Cell::get)
    }

    #[test]
    fn every_login_path_runs_one_verification() {
        let (_d, store, reg) = open();
        let pw = "correct horse battery";
        store
            .add_user("ana", Role::Committee, None, pw, &reg)
            .unwrap();
        store
            .add_user("off", Role::Committee, None, pw, &reg)
            .unwrap();
        assert!(store.disable_user("off").unwrap());
        let long = format!("{pw}{}", "x".repeat(MAX_PASSWORD_CHARS));
        // The longest password there may be, and the same with one more
        // character: refused, although it is cut to the right password.
        let max = "é".repeat(MAX_PASSWORD_CHARS);
        store
            .add_user("max", Role::Admin, None, &max, &reg)
            .unwrap();
        let max_plus = format!("{max}x");
        for (name, password, ok) in [
            ("ana", pw, true),
            ("ana", "wrong password here", false),
            ("ana", long.as_str(), false),
            ("max", max.as_str(), true),
            ("max", max_plus.as_str(), false),
            ("off", pw, false),
            ("off", long.as_str(), false),
            ("nobody", pw, false),
            ("nobody", long.as_str(), false),
            ("", "", false),
        ] {
            let mut result = None;
            let n = verifications(|| result = Some(store.verify_login(name, password)));
            assert_eq!(n, 1, "{name} with {} characters", password.chars().count());
            assert_eq!(result.unwrap().is_ok(), ok, "{name}");
        }
        // An unreadable stored hash costs the same and fails.
        store
            .conn()
            .execute(
                "UPDATE users SET password_hash = 'x' WHERE name = 'ana'",
                [],
            )
            .unwrap();
        assert_eq!(
            verifications(|| assert!(store.verify_login("ana", pw).is_err())),
            1
        );
    }

    #[test]
    fn the_dummy_hash_costs_what_a_stored_hash_costs() {
        let dummy = dummy_hash();
        let stored = hash_password("any password at all").unwrap();
        let stored = PasswordHash::new(&stored).unwrap();
        assert_eq!(dummy.algorithm, stored.algorithm);
        assert_eq!(dummy.version, stored.version);
        assert_eq!(dummy.params, stored.params);
        assert_eq!(dummy.hash.map(|h| h.len()), stored.hash.map(|h| h.len()));
    }

    #[test]
    fn bad_users_name_the_field() {
        let (_d, store, reg) = open();
        let hanoi = UnitCode::parse("01").unwrap();
        let err = |r: Result<User, StoreError>| r.unwrap_err().to_string();
        assert!(err(store.add_user("x", Role::Admin, None, "short", &reg)).starts_with("password"));
        assert!(
            err(store.add_user("Bad Name", Role::Admin, None, "long enough pw", &reg))
                .starts_with("name")
        );
        assert!(
            err(store.add_user("loc", Role::Locality, None, "long enough pw", &reg))
                .starts_with("unit")
        );
        assert!(
            err(store.add_user("c", Role::Committee, Some(&hanoi), "long enough pw", &reg))
                .starts_with("unit")
        );
        store
            .add_user("loc", Role::Locality, Some(&hanoi), "long enough pw", &reg)
            .unwrap();
        assert!(matches!(
            store.add_user("loc", Role::Admin, None, "long enough pw", &reg),
            Err(StoreError::UserExists(_))
        ));
    }

    #[test]
    fn scope_is_the_unit_subtree_or_the_nation() {
        let (_d, store, reg) = open();
        let hanoi = UnitCode::parse("01").unwrap();
        let loc = store
            .add_user("hn", Role::Locality, Some(&hanoi), "long enough pw", &reg)
            .unwrap();
        let commune = reg
            .level(model::UnitLevel::Commune)
            .into_iter()
            .find(|u| u.parent.as_ref().map(UnitCode::as_str) == Some("01"))
            .unwrap()
            .code
            .to_string();
        assert!(loc.sees(&reg, "01"));
        assert!(loc.sees(&reg, &commune));
        assert!(!loc.sees(&reg, "79"));
        assert!(!loc.sees(&reg, "VN"));
        assert!(!loc.is_national());
        let com = store
            .add_user("com", Role::Committee, None, "long enough pw", &reg)
            .unwrap();
        assert!(com.sees(&reg, "79") && com.sees(&reg, &commune) && com.is_national());
    }

    #[test]
    fn sessions_end_on_logout_password_change_disable_and_expiry() {
        let (_d, store, reg) = open();
        let u = store
            .add_user("ana", Role::Admin, None, "long enough pw", &reg)
            .unwrap();
        let a = store.create_session(&u).unwrap();
        let b = store.create_session(&u).unwrap();
        assert_ne!(a, b);
        assert_eq!(store.session_user(&a, LIMITS).unwrap(), Some(u.clone()));
        assert_eq!(store.session_user("not-a-session", LIMITS).unwrap(), None);
        // Stored hashed.
        let stored: String = store
            .conn()
            .query_row("SELECT id_sha256 FROM sessions LIMIT 1", [], |r| r.get(0))
            .unwrap();
        assert!(stored != a && stored != b);

        store.end_sessions(u.id).unwrap();
        assert_eq!(store.session_user(&a, LIMITS).unwrap(), None);
        assert_eq!(store.session_user(&b, LIMITS).unwrap(), None);

        let c = store.create_session(&u).unwrap();
        store.set_password(u.id, "another long pw").unwrap();
        assert_eq!(store.session_user(&c, LIMITS).unwrap(), None);
        assert!(store.verify_login("ana", "another long pw").is_ok());

        let d = store.create_session(&u).unwrap();
        store
            .conn()
            .execute("UPDATE sessions SET last_seen = last_seen - 1801", [])
            .unwrap();
        assert_eq!(store.session_user(&d, LIMITS).unwrap(), None, "idle");
        let e = store.create_session(&u).unwrap();
        store
            .conn()
            .execute("UPDATE sessions SET created_at = created_at - 43201", [])
            .unwrap();
        assert_eq!(store.session_user(&e, LIMITS).unwrap(), None, "absolute");

        let f = store.create_session(&u).unwrap();
        assert!(store.disable_user("ana").unwrap());
        assert_eq!(store.session_user(&f, LIMITS).unwrap(), None);
        assert!(matches!(
            store.verify_login("ana", "another long pw"),
            Err(LoginError::Invalid)
        ));
    }

    #[test]
    fn live_sessions_agree_with_session_user_on_every_way_a_session_ends() {
        let (_d, store, reg) = open();
        let u = store
            .add_user("ana", Role::Admin, None, "long enough pw", &reg)
            .unwrap();
        let v = store
            .add_user("bea", Role::Committee, None, "long enough pw", &reg)
            .unwrap();
        let key = |id: &str| Store::session_key(id);
        let live = |ids: &[&String]| {
            let keys: Vec<String> = ids.iter().map(|i| key(i)).collect();
            store.live_sessions(&keys, LIMITS).unwrap()
        };
        let (a, b, c) = (
            store.create_session(&u).unwrap(),
            store.create_session(&u).unwrap(),
            store.create_session(&v).unwrap(),
        );
        let unknown = "no-such-session".to_owned();
        assert_eq!(
            live(&[&a, &b, &c, &unknown]),
            [key(&a), key(&b), key(&c)].into_iter().collect()
        );
        assert!(live(&[]).is_empty());
        store.end_session(&a).unwrap();
        assert_eq!(live(&[&a, &b]), [key(&b)].into_iter().collect(), "logout");
        store
            .conn()
            .execute(
                "UPDATE sessions SET last_seen = last_seen - 1801 WHERE id_sha256 = ?1",
                [key(&b)],
            )
            .unwrap();
        assert!(live(&[&b]).is_empty(), "idle");
        assert_eq!(store.session_user(&b, LIMITS).unwrap(), None);
        let d = store.create_session(&u).unwrap();
        store
            .conn()
            .execute(
                "UPDATE sessions SET created_at = created_at - 43201 WHERE id_sha256 = ?1",
                [key(&d)],
            )
            .unwrap();
        assert!(live(&[&d]).is_empty(), "absolute");
        // Disabling by flag alone (as if the sessions were not deleted)
        // still ends them: the user must be enabled.
        store
            .conn()
            .execute("UPDATE users SET disabled_at = 'x' WHERE id = ?1", [v.id])
            .unwrap();
        assert!(live(&[&c]).is_empty(), "disabled");
        // Reading changes nothing.
        let e = store.create_session(&u).unwrap();
        let seen = |id: &str| -> i64 {
            store
                .conn()
                .query_row(
                    "SELECT last_seen FROM sessions WHERE id_sha256 = ?1",
                    [key(id)],
                    |r| r.get(0),
                )
                .unwrap()
        };
        store
            .conn()
            .execute("UPDATE sessions SET last_seen = last_seen - 100", [])
            .unwrap();
        let before = seen(&e);
        assert_eq!(live(&[&e]).len(), 1);
        assert_eq!(seen(&e), before);
    }

    #[test]
    fn the_audit_log_keeps_entries_in_order() {
        let (_d, store, _reg) = open();
        store
            .audit(
                Some("ana"),
                "login",
                None,
                Some("127.0.0.1"),
                serde_json::json!({}),
            )
            .unwrap();
        store
            .audit(
                None,
                "login_failed",
                Some("bob"),
                None,
                serde_json::json!({"reason": "x"}),
            )
            .unwrap();
        let log = store.audit_log(0, 10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].action, "login");
        assert_eq!(log[1].actor, None);
        assert_eq!(log[1].detail["reason"], "x");
        assert_eq!(store.audit_log(log[0].id, 10).unwrap().len(), 1);
    }
}
