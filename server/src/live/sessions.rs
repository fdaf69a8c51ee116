//! Sessions behind open websockets: each connection registers the session
//! it was opened with, and one task checks every registered session against
//! the database a few times a second, so that a socket closes within a
//! second of its session ending for any reason — logout, a password change,
//! `govpulse users disable` from another process, the idle or the absolute
//! limit — not only at the handshake.
//!
//! ```text
//!  ws handshake ─► SessionWatch::register(key) ─► Registration (watch rx)
//!                        │                               │ ended
//!  every CHECK_EVERY: Store::live_sessions(keys) ──► not live ─► send(true) ─► close 4401
//! ```
//!
//! One query per round, whatever the number of sockets: the keys of all
//! registered sessions go in as one JSON array. Logout and a password
//! change run a round themselves ([`SessionWatch::check_now`]) before they
//! answer, so a socket of theirs sends nothing after the answer.

use crate::config::AuthConfig;
use crate::store::{SessionLimits, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// How often registered sessions are checked. Well under the second a
/// socket has to close in once its session ends.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// The sessions of open sockets, by session key (SHA-256 of the id).
#[derive(Debug, Default)]
pub struct SessionWatch {
    inner: Arc<Inner>,
    /// The database and session limits, set by the first registration,
    /// which also starts the checking task.
    checker: std::sync::OnceLock<(Arc<Store>, SessionLimits)>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    ended: watch::Sender<bool>,
    sockets: usize,
}

/// A socket's hold on its session; dropping it unregisters the socket.
#[derive(Debug)]
pub struct Registration {
    key: String,
    ended: watch::Receiver<bool>,
    inner: Weak<Inner>,
}

impl Registration {
    /// Resolves once the session has ended (at once if it already has).
    /// Cancel-safe: call it again in every round of a `select!`.
    pub async fn ended(&self) {
        let mut rx = self.ended.clone();
        // An error means the sender is gone, which only happens once the
        // watch itself is dropped: the server is stopping.
        let _ = rx.wait_for(|ended| *ended).await;
    }

    /// Whether the session has been seen to end.
    pub fn has_ended(&self) -> bool {
        *self.ended.borrow()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        let mut sessions = inner.lock();
        if let Some(e) = sessions.get_mut(&self.key) {
            e.sockets -= 1;
            if e.sockets == 0 {
                sessions.remove(&self.key);
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionWatch {
    /// Watch the session with this key for one socket. The first call
    /// starts the checking task on the current runtime.
    pub fn register(&self, key: String, store: Arc<Store>, auth: &AuthConfig) -> Registration {
        let limits = auth.session_limits();
        if self.checker.set((store.clone(), limits)).is_ok() {
            let inner = Arc::downgrade(&self.inner);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(CHECK_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(inner) = inner.upgrade() else { return };
                    check(&inner, &store, limits).await;
                }
            });
        }
        let mut sessions = self.inner.lock();
        let entry = sessions.entry(key.clone()).or_insert_with(|| Entry {
            ended: watch::channel(false).0,
            sockets: 0,
        });
        entry.sockets += 1;
        Registration {
            ended: entry.ended.subscribe(),
            key,
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// Run a round now (after a logout or a password change), so that the
    /// sockets of the sessions that just ended close before the caller
    /// answers. Nothing to do before the first socket registered.
    pub async fn check_now(&self) {
        if let Some((store, limits)) = self.checker.get() {
            check(&self.inner, store, *limits).await;
        }
    }
}

/// One round: ask the database which registered sessions are still live
/// and end the others. A database error ends nothing (it is logged and the
/// next round tries again), so a busy disk cannot sign everybody out.
async fn check(inner: &Arc<Inner>, store: &Arc<Store>, limits: SessionLimits) {
    let keys: Vec<String> = inner
        .lock()
        .iter()
        .filter(|(_, e)| !*e.ended.borrow())
        .map(|(k, _)| k.clone())
        .collect();
    if keys.is_empty() {
        return;
    }
    let store = store.clone();
    let asked = keys.clone();
    let live = match tokio::task::spawn_blocking(move || store.live_sessions(&asked, limits)).await
    {
        Ok(Ok(live)) => live,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot check the sessions of open sockets");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "session check task failed");
            return;
        }
    };
    let sessions = inner.lock();
    for key in keys.iter().filter(|k| !live.contains(*k)) {
        if let Some(e) = sessions.get(key) {
            e.ended.send_replace(true);
        }
    }
}
