//! Logging in and out, the current user, password change, and the admin's
//! views of users and the audit log.

use super::error::{ApiError, ApiResult, blocking};
use crate::app::AppState;
use crate::auth::{self, Admin, Client, Viewer};
use crate::store::{LoginError, User};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// What the dashboard needs to know about the logged-in user.
pub fn user_json(user: &User) -> Value {
    json!({
        "name": user.name,
        "role": user.role,
        "unit": user.unit,
        "scope": user.scope(),
        "national": user.is_national(),
    })
}

/// Parse a JSON body into `T`, naming the field at fault.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        // serde names the missing or mistyped key in its message.
        let field = msg.split('`').nth(1).map_or("body", |f| f).to_owned();
        ApiError::field(field, msg)
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

fn with_cookie(mut r: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn too_many(wait: std::time::Duration) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too many failed logins; wait before trying again",
    );
    e.retry_after = Some(wait.as_secs().max(1));
    e
}

/// `POST /api/v1/session` `{"username","password"}`: check the password
/// (rate limited per account and per client), end the session the request
/// came with, and set a new session cookie.
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let Login { username, password } = parse_body(&body)?;
    if let Some(wait) = state.limiter.blocked(&username, &client) {
        // Refusals are what a guessing run looks like from outside: the
        // audit log keeps them, with the name cut as the limiter cuts it.
        let store = state.store.clone();
        let (name, cl) = (auth::account_key(&username), client.clone());
        blocking(move || {
            let detail = json!({ "retry_after_secs": wait.as_secs().max(1) });
            Ok(store.audit(None, "login_refused", Some(&name), Some(&cl), detail)?)
        })
        .await?;
        return Err(too_many(wait));
    }
    let old = auth::session_cookie(&headers);
    let store = state.store.clone();
    let limits = state.config.auth.session_limits();
    let (name, cl) = (username.clone(), client.clone());
    let result = blocking(move || {
        let user = match store.verify_login(&name, &password) {
            Ok(u) => u,
            Err(LoginError::Invalid) => {
                let tried = auth::account_key(&name);
                store.audit(None, "login_failed", Some(&tried), Some(&cl), json!({}))?;
                return Ok(None);
            }
            Err(LoginError::Store(e)) => return Err(e.into()),
        };
        // A fresh id on every login; the one the browser had is dropped
        // (session fixation).
        if let Some(old) = old
            && let Some(prev) = store.session_user(&old, limits)?
            && prev.id == user.id
        {
            store.end_session(&old)?;
        }
        let id = store.create_session(&user)?;
        store.audit(Some(&user.name), "login", None, Some(&cl), json!({}))?;
        Ok(Some((user, id)))
    })
    .await?;
    let Some((user, id)) = result else {
        state.limiter.failed(&username, &client);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
        ));
    };
    state.limiter.succeeded(&username);
    Ok(with_cookie(
        Json(json!({ "user": user_json(&user) })).into_response(),
        &auth::set_cookie(&id, limits.absolute_secs),
    ))
}

/// `GET /api/v1/session`: the logged-in user.
pub async fn me(viewer: Viewer) -> Json<Value> {
    Json(json!({ "user": user_json(&viewer) }))
}

/// `DELETE /api/v1/session`: log out, ending every session of the user.
pub async fn logout(
    State(state): State<AppState>,
    Client(client): Client,
    Viewer(user): Viewer,
) -> ApiResult<Response> {
    let store = state.store.clone();
    let ended = blocking(move || {
        let n = store.end_sessions(user.id)?;
        store.audit(
            Some(&user.name),
            "logout",
            None,
            Some(&client),
            json!({ "sessions_ended": n }),
        )?;
        Ok(n)
    })
    .await?;
    // Close the user's sockets before answering.
    state.sessions.check_now().await;
    Ok(with_cookie(
        Json(json!({ "sessions_ended": ended })).into_response(),
        &auth::clear_cookie(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /api/v1/session/password` `{"current","new"}`: every session of
/// the user ends, this one is replaced by a new one.
pub async fn change_password(
    State(state): State<AppState>,
    Client(client): Client,
    Viewer(user): Viewer,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let PasswordChange { current, new } = parse_body(&body)?;
    if let Some(wait) = state.limiter.blocked(&user.name, &client) {
        return Err(too_many(wait));
    }
    let store = state.store.clone();
    let limits = state.config.auth.session_limits();
    let (name, cl, me) = (user.name.clone(), client.clone(), user.clone());
    let id = blocking(move || {
        match store.verify_login(&name, &current) {
            Ok(_) => {}
            Err(LoginError::Invalid) => return Ok(None),
            Err(LoginError::Store(e)) => return Err(e.into()),
        }
        if let Err(crate::store::StoreError::Invalid { message, .. }) =
            crate::store::validate_password(&new)
        {
            return Err(ApiError::field("new", message));
        }
        store.set_password(me.id, &new)?;
        store.audit(Some(&name), "password_change", None, Some(&cl), json!({}))?;
        Ok(Some(store.create_session(&me)?))
    })
    .await?;
    let Some(id) = id else {
        state.limiter.failed(&user.name, &client);
        let mut e = ApiError::new(StatusCode::FORBIDDEN, "current: wrong password");
        e.field = Some("current".into());
        return Err(e);
    };
    // Close the other sessions' sockets before answering.
    state.sessions.check_now().await;
    Ok(with_cookie(
        Json(json!({ "changed": true })).into_response(),
        &auth::set_cookie(&id, limits.absolute_secs),
    ))
}

/// `GET /api/v1/users` (admin): every account.
pub async fn users(State(state): State<AppState>, _: Admin) -> ApiResult<Json<Value>> {
    let store = state.store.clone();
    let users = blocking(move || Ok(store.users()?)).await?;
    Ok(Json(json!({ "users": users })))
}

/// `GET /api/v1/audit?after_id=&limit=` (admin): the audit log, oldest
/// first, keyset-paged.
pub async fn audit(
    State(state): State<AppState>,
    _: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let mut params = super::Params::new(q, &["after_id", "limit"])?;
    let after_id = params.int("after_id", 0, 0, i64::MAX)?;
    let limit = params.int("limit", 100, 1, 1000)? as usize;
    let store = state.store.clone();
    let entries = blocking(move || Ok(store.audit_log(after_id, limit)?)).await?;
    let next = entries.last().map(|e| e.id);
    Ok(Json(json!({ "entries": entries, "next_after_id": next })))
}
