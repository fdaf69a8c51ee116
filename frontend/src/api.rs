//! Same-origin JSON requests to the REST API (`fetch` with the session
//! cookie). The browser adds the `Origin` header the server checks on
//! every state change.

use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestCredentials, RequestInit, Response};

/// The logged-in user, as `GET /api/v1/session` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub role: String,
    /// The root of what the user sees: `VN` or a unit code.
    pub scope: String,
    pub national: bool,
}

impl User {
    pub fn from_json(v: &Value) -> Option<Self> {
        let u = v.get("user")?;
        Some(Self {
            name: u.get("name")?.as_str()?.to_owned(),
            role: u.get("role")?.as_str()?.to_owned(),
            scope: u.get("scope")?.as_str()?.to_owned(),
            national: u.get("national")?.as_bool()?,
        })
    }

    /// The live topic for this user: the overview for national users, the
    /// province row for a province; none for a commune or ministry yet.
    pub fn live_topic(&self) -> Option<String> {
        if self.national {
            Some(model::live::topics::OVERVIEW.to_owned())
        } else if self.scope.len() == 2 && self.scope.bytes().all(|b| b.is_ascii_digit()) {
            Some(model::live::topics::unit(&self.scope))
        } else {
            None
        }
    }
}

fn js_err(e: JsValue) -> String {
    e.as_string()
        .or_else(|| {
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| "network error".to_owned())
}

/// Send a request; returns the status and the JSON body (Null if none).
pub async fn request(
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_credentials(RequestCredentials::SameOrigin);
    if let Some(b) = body {
        let headers = Headers::new().map_err(js_err)?;
        headers
            .set("content-type", "application/json")
            .map_err(js_err)?;
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&b.to_string()));
    }
    let req = Request::new_with_str_and_init(path, &init).map_err(js_err)?;
    let window = web_sys::window().ok_or("no window")?;
    let resp: Response = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(js_err)?
        .dyn_into()
        .map_err(js_err)?;
    let status = resp.status();
    let text = JsFuture::from(resp.text().map_err(js_err)?)
        .await
        .map_err(js_err)?
        .as_string()
        .unwrap_or_default();
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// The `error` of an API error body, or a fallback.
pub fn error_text(status: u16, body: &Value) -> String {
    body.get("error")
        .and_then(Value::as_str)
        .map_or_else(|| format!("the server answered {status}"), str::to_owned)
}

/// GET `path` in the background; on 200 store `pick(body)` in `data`, on
/// anything else the error text in `error`.
pub fn get_into(
    path: String,
    data: leptos::prelude::WriteSignal<Value>,
    error: leptos::prelude::WriteSignal<String>,
    pick: fn(Value) -> Value,
) {
    use leptos::prelude::Set;
    leptos::task::spawn_local(async move {
        match request("GET", &path, None).await {
            Ok((200, body)) => {
                error.set(String::new());
                data.set(pick(body));
            }
            Ok((status, body)) => error.set(error_text(status, &body)),
            Err(e) => error.set(e),
        }
    });
}

pub fn reload() {
    if let Some(w) = web_sys::window() {
        let _ = w.location().reload();
    }
}
