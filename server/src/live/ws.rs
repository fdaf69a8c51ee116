//! The websocket at `/api/v1/live`: checks the handshake's Origin, then
//! translates frames to protocol messages for [`super::conn::run`].

use super::conn::{self, AllTopics};
use crate::app::AppState;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt, future};
use model::live::{ClientMsg, ServerMsg};
use std::time::Duration;

pub async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin websocket refused").into_response();
    }
    let heartbeat = Duration::from_secs(state.config.live.heartbeat_secs);
    ws.on_upgrade(move |socket| serve(state, socket, heartbeat))
}

async fn serve(state: AppState, socket: WebSocket, heartbeat: Duration) {
    state
        .metrics
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (sink, stream) = socket.split();
    let sink = sink.with(|m: ServerMsg| {
        future::ready(
            serde_json::to_string(&m)
                .map(|s| Message::Text(s.into()))
                .map_err(axum::Error::new),
        )
    });
    let stream = stream
        .take_while(|m| future::ready(matches!(m, Ok(m) if !matches!(m, Message::Close(_)))))
        .filter_map(|m| {
            future::ready(match m {
                Ok(Message::Text(t)) => Some(
                    serde_json::from_str::<ClientMsg>(&t).map_err(|e| format!("bad message: {e}")),
                ),
                Ok(Message::Binary(_)) => {
                    Some(Err("binary frames are not part of the protocol".into()))
                }
                _ => None,
            })
        });
    conn::run(
        state.hub.clone(),
        &AllTopics,
        Box::pin(sink),
        Box::pin(stream),
        heartbeat,
    )
    .await;
    state
        .metrics
        .connections
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

/// A browser always sends Origin on a websocket handshake; it must name the
/// host the page was served from. Non-browser clients send none.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or_default();
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority == Some(host)
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
    fn only_the_serving_origin_passes() {
        assert!(same_origin(&headers(
            Some("http://127.0.0.1:8080"),
            "127.0.0.1:8080"
        )));
        assert!(same_origin(&headers(None, "127.0.0.1:8080")));
        assert!(!same_origin(&headers(
            Some("http://evil.example"),
            "127.0.0.1:8080"
        )));
        assert!(!same_origin(&headers(
            Some("http://127.0.0.1:8081"),
            "127.0.0.1:8080"
        )));
        assert!(!same_origin(&headers(Some("null"), "127.0.0.1:8080")));
    }
}
