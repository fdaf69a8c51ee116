//! The websocket at `/api/v1/live`: checks the handshake's Origin and the
//! session, then translates frames to protocol messages for
//! [`super::conn::run`], scoped to the user.

use super::conn::{self, Outgoing, UserScope};
use crate::api::error::ApiError;
use crate::app::AppState;
use crate::auth::{Viewer, origin_matches};
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt, future};
use model::live::ClientMsg;
use std::time::Duration;

/// The handshake: a browser's Origin must name this server (a page on
/// another site cannot open a socket with the user's cookie), and the
/// session must be live. Non-browser clients send no Origin.
pub async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    viewer: Result<Viewer, ApiError>,
    ws: WebSocketUpgrade,
) -> Response {
    if origin_matches(&headers) == Some(false) {
        return ApiError::forbidden("cross-origin websocket refused").into_response();
    }
    let Viewer(user) = match viewer {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let heartbeat = Duration::from_secs(state.config.live.heartbeat_secs);
    let scope = UserScope {
        user,
        units: state.units.clone(),
    };
    // Clients send only small control messages: a small read buffer keeps
    // an idle connection cheap, and a message cap keeps a hostile one from
    // making the server buffer megabytes. Each delta is flushed as it is
    // sent, so no write buffer is held between messages.
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |socket| serve(state, socket, heartbeat, scope))
}

async fn serve(state: AppState, socket: WebSocket, heartbeat: Duration, scope: UserScope) {
    state
        .metrics
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (sink, stream) = socket.split();
    let sink = sink.with(|m: Outgoing| {
        future::ready(match m {
            Outgoing::Msg(m) => serde_json::to_string(&m)
                .map(|s| Message::Text(s.into()))
                .map_err(axum::Error::new),
            Outgoing::Encoded(text) => Utf8Bytes::try_from(text)
                .map(Message::Text)
                .map_err(axum::Error::new),
        })
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
        &scope,
        Box::pin(sink),
        Box::pin(stream),
        heartbeat,
        &state.metrics.ws_coalesced,
    )
    .await;
    state
        .metrics
        .connections
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}
