//! The one error shape of the REST API: `{"error": message, "field": name}`
//! with the status that fits. Messages for refused access never say whether
//! the thing asked for exists.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The request field (query parameter, JSON key, header) at fault.
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A bad request naming the field and the rule it broke.
    pub fn field(field: impl Into<String>, rule: impl Into<String>) -> Self {
        let field = field.into();
        Self {
            message: format!("{field}: {}", rule.into()),
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, "")
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "log in first")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// The answer for a unit that does not exist and for one outside the
    /// caller's scope alike.
    pub fn no_unit(code: &str) -> Self {
        let shown: String = code.chars().take(32).collect();
        Self::new(
            StatusCode::NOT_FOUND,
            format!("no unit {shown:?} is visible to you"),
        )
    }

    /// Storage trouble: logged in full, answered briefly with a retry hint.
    pub fn unavailable(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!("{what}: {e}");
        Self {
            retry_after: Some(5),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{what} is unavailable; retry shortly"),
            )
        }
    }

    pub fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!("{what}: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} failed; see the server log"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if let Some(f) = &self.field {
            body["field"] = serde_json::Value::String(f.clone());
        }
        let mut r = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Invalid { field, message } => Self::field(field, message),
            other => Self::unavailable("the database", other),
        }
    }
}

/// Run blocking work (SQLite, log reads, Argon2) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal("a background task", e))?
}
