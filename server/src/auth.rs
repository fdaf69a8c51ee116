//! Who is asking, and may they: the session cookie, the caller's scope,
//! login rate limits, and the Origin rule for state changes.
//!
//! ```text
//!  request ─► check_origin (POST/PUT/PATCH/DELETE on the cookie routes
//!  │            must carry an Origin among server.public_origins)
//!  ▼
//!  handler(Viewer) ─► cookie __Host-govpulse ─► Store::session_user ─► User
//!                       none / expired / disabled ─► 401
//!  handler checks viewer.sees(unit) ─► 404 "not visible to you" otherwise
//! ```
//!
//! Sources authenticate with bearer tokens (see `ingest::http`), which a
//! browser never attaches on its own, so the ingest route carries no ambient
//! authority, needs no Origin and is routed outside the check.

use crate::api::error::{ApiError, blocking};
use crate::app::AppState;
use crate::store::{Role, User};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie. The `__Host-` prefix makes browsers insist on
/// `Secure`, `Path=/` and no `Domain`, so no other host can plant or read
/// it. Browsers treat `http://localhost` and `http://127.0.0.1` as secure
/// contexts, so it works there without TLS; anywhere else, serve over TLS.
pub const SESSION_COOKIE: &str = "__Host-govpulse";

/// The logged-in user making a request.
#[derive(Debug, Clone)]
pub struct Viewer(pub User);

impl std::ops::Deref for Viewer {
    type Target = User;
    fn deref(&self) -> &User {
        &self.0
    }
}

/// The session id in a `Cookie` header, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(session_id: &str, max_age_secs: i64) -> String {
    format!(
        "{SESSION_COOKIE}={session_id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}"
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        signed_in(state, &parts.headers)
            .await?
            .map(Viewer)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The user of the live session in a request's cookie, if any (refreshing
/// its idle clock).
pub async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Option<User>, ApiError> {
    let Some(id) = session_cookie(headers) else {
        return Ok(None);
    };
    let store = state.store.clone();
    let limits = state.config.auth.session_limits();
    blocking(move || Ok(store.session_user(&id, limits)?)).await
}

/// A viewer who sees the whole country (committee or admin).
#[derive(Debug, Clone)]
pub struct National(pub User);

impl FromRequestParts<AppState> for National {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Viewer(user) = Viewer::from_request_parts(parts, state).await?;
        if user.is_national() {
            Ok(Self(user))
        } else {
            Err(ApiError::forbidden(
                "this needs a committee or admin account",
            ))
        }
    }
}

/// An administrator.
#[derive(Debug, Clone)]
pub struct Admin(pub User);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Viewer(user) = Viewer::from_request_parts(parts, state).await?;
        if user.role == Role::Admin {
            Ok(Self(user))
        } else {
            Err(ApiError::forbidden("this needs an admin account"))
        }
    }
}

/// The client's address, for rate limits and the audit log.
#[derive(Debug, Clone)]
pub struct Client(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string()),
        ))
    }
}

/// Whether the request's `Origin` is one of this server's public origins
/// (`server.public_origins`, or the bound address's; see
/// [`crate::config::ServerConfig::default_origins`]): `None` without an
/// Origin header. The request's own `Host` is not trusted: a page on a
/// rebound DNS name would send an Origin matching the Host it chose.
pub fn origin_matches(headers: &HeaderMap, allowed: &[String]) -> Option<bool> {
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or_default();
    Some(allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)))
}

/// Middleware on the routes that take the session cookie: refuse a
/// state-changing request that a browser could have been tricked into
/// sending (no Origin among the public ones). Ingest is routed outside it.
pub async fn check_origin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if !safe && origin_matches(req.headers(), &state.config.server.public_origins) != Some(true) {
        let mut e = ApiError::forbidden(
            "Origin: a state-changing request must carry an Origin header naming this server (server.public_origins)",
        );
        e.field = Some("Origin".into());
        return e.into_response();
    }
    next.run(req).await
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is
/// matched without regard to case (RFC 9110, section 11.1), as clients and
/// Prometheus may spell it either way.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Failed-login counting per account and per client over a sliding window.
/// Memory is bounded: entries older than the window are dropped whenever
/// the maps grow, and account keys are cut to 64 characters.
#[derive(Debug)]
pub struct LoginLimiter {
    window: Duration,
    per_account: usize,
    per_client: usize,
    state: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    accounts: HashMap<String, VecDeque<Instant>>,
    clients: HashMap<String, VecDeque<Instant>>,
}

const SWEEP_ABOVE: usize = 10_000;

/// An account name as the limiter and the audit log of refusals keep it:
/// at most 64 characters, so a client cannot make either hold megabytes.
pub fn account_key(name: &str) -> String {
    name.chars().take(64).collect()
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

impl LoginLimiter {
    pub fn new(window: Duration, per_account: usize, per_client: usize) -> Self {
        Self {
            window,
            per_account,
            per_client,
            state: Mutex::new(Failures::default()),
        }
    }

    pub fn from_config(c: &crate::config::AuthConfig) -> Self {
        Self::new(
            Duration::from_secs(c.login_window_minutes * 60),
            c.login_failures_per_account,
            c.login_failures_per_client,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(wait)` when this account or client has used up its failures.
    pub fn blocked(&self, account: &str, client: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut guard = self.lock();
        let f = &mut *guard;
        let mut wait = None;
        for (map, key, limit) in [
            (&mut f.accounts, account_key(account), self.per_account),
            (&mut f.clients, client.to_owned(), self.per_client),
        ] {
            if let Some(q) = map.get_mut(&key) {
                prune(q, now, self.window);
                if q.len() >= limit
                    && let Some(oldest) = q.front()
                {
                    let w = self.window.saturating_sub(now.duration_since(*oldest));
                    wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
                }
            }
        }
        wait
    }

    pub fn failed(&self, account: &str, client: &str) {
        let now = Instant::now();
        let window = self.window;
        let mut guard = self.lock();
        let f = &mut *guard;
        for (map, key) in [
            (&mut f.accounts, account_key(account)),
            (&mut f.clients, client.to_owned()),
        ] {
            if map.len() > SWEEP_ABOVE {
                map.retain(|_, q| {
                    prune(q, now, window);
                    !q.is_empty()
                });
            }
            let q = map.entry(key).or_default();
            prune(q, now, window);
            q.push_back(now);
        }
    }

    /// A successful login clears the account's failures (not the client's:
    /// one good password must not reset guessing at other accounts).
    pub fn succeeded(&self, account: &str) {
        self.lock().accounts.remove(&account_key(account));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_must_be_a_public_origin_not_the_host() {
        let allowed =
            crate::config::ServerConfig::default_origins("127.0.0.1:8080".parse().unwrap());
        let host = "127.0.0.1:8080";
        assert_eq!(origin_matches(&headers(None, host), &allowed), None);
        for good in [
            "http://127.0.0.1:8080",
            "https://127.0.0.1:8080",
            "http://localhost:8080",
            "HTTPS://LOCALHOST:8080",
        ] {
            assert_eq!(
                origin_matches(&headers(Some(good), host), &allowed),
                Some(true),
                "{good}"
            );
        }
        for bad in ["http://evil.example", "http://127.0.0.1:8081", "null", ""] {
            assert_eq!(
                origin_matches(&headers(Some(bad), host), &allowed),
                Some(false),
                "{bad}"
            );
        }
        // DNS rebinding: the Origin names the Host the request was sent
        // with, but neither is this server's.
        let rebound = headers(Some("http://evil.example:8080"), "evil.example:8080");
        assert_eq!(origin_matches(&rebound, &allowed), Some(false));
        let configured = vec!["https://govpulse.example.gov.vn".to_owned()];
        assert_eq!(
            origin_matches(
                &headers(Some("https://govpulse.example.gov.vn"), "x"),
                &configured
            ),
            Some(true)
        );
        assert_eq!(
            origin_matches(&headers(Some("http://127.0.0.1:8080"), host), &configured),
            Some(false)
        );
    }

    #[test]
    fn the_bearer_scheme_is_matched_without_case() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            h
        };
        for v in ["Bearer abc", "bearer abc", "BEARER  abc ", "bEaReR abc"] {
            assert_eq!(bearer_token(&with(v)), Some("abc"), "{v}");
        }
        for v in ["Basic abc", "Bearer", "Bearer ", "Bearerabc", "abc"] {
            assert_eq!(bearer_token(&with(v)), None, "{v}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; __Host-govpulse=abc123; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc123"));
        h.insert(header::COOKIE, "govpulse=abc".parse().unwrap());
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn failures_block_per_account_and_per_client() {
        let l = LoginLimiter::new(Duration::from_secs(60), 3, 5);
        for _ in 0..3 {
            assert!(l.blocked("ana", "1.1.1.1").is_none());
            l.failed("ana", "1.1.1.1");
        }
        let wait = l
            .blocked("ana", "2.2.2.2")
            .expect("account blocked from anywhere");
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(l.blocked("bob", "2.2.2.2").is_none());
        // The same client guessing at other accounts hits the client limit.
        l.failed("bob", "1.1.1.1");
        l.failed("cid", "1.1.1.1");
        assert!(l.blocked("dan", "1.1.1.1").is_some());
        assert!(l.blocked("dan", "3.3.3.3").is_none());
        l.succeeded("ana");
        assert!(l.blocked("ana", "3.3.3.3").is_none());
    }

    #[test]
    fn failures_expire_with_the_window() {
        let l = LoginLimiter::new(Duration::from_millis(50), 1, 10);
        l.failed("ana", "c");
        assert!(l.blocked("ana", "c").is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(l.blocked("ana", "c").is_none());
    }
}
