//! The websocket at `/api/v1/live`: checks the handshake's Origin and the
//! session, registers the session with [`super::sessions::SessionWatch`] so
//! that the socket closes (code 4401, "signed out") as soon as the session
//! ends, then translates frames to protocol messages for
//! [`super::conn::run`], scoped to the user.

use super::conn::{self, Outgoing, Transport, UserScope};
use crate::api::error::ApiError;
use crate::app::AppState;
use crate::auth::{Viewer, origin_matches, session_cookie};
use crate::store::Store;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

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
    if origin_matches(&headers, &state.config.server.public_origins) == Some(false) {
        return ApiError::forbidden("cross-origin websocket refused").into_response();
    }
    if let Err(e) = viewer {
        return e.into_response();
    }
    // The viewer came from this cookie, so it is there.
    let Some(session_id) = session_cookie(&headers) else {
        return ApiError::unauthorized().into_response();
    };
    let heartbeat = Duration::from_secs(state.config.live.heartbeat_secs);
    let watch = state.sessions.register(
        Store::session_key(&session_id),
        state.store.clone(),
        &state.config.auth,
    );
    let scope = UserScope {
        session_id,
        store: state.store.clone(),
        limits: state.config.auth.session_limits(),
        units: state.units.clone(),
        watch,
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

/// The websocket as a [`Transport`]: text frames of protocol JSON; pings
/// and pongs are the library's business; a close or an error ends it.
struct Ws(WebSocket);

impl Transport for Ws {
    async fn recv(&mut self) -> Option<Result<ClientMsg, String>> {
        loop {
            match self.0.recv().await? {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(&t).map_err(|e| format!("bad message: {e}")));
                }
                Ok(Message::Binary(_)) => {
                    return Some(Err("binary frames are not part of the protocol".into()));
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
            }
        }
    }

    async fn send(&mut self, msg: Outgoing) -> Result<(), ()> {
        let frame = match msg {
            Outgoing::Msg(m) => Message::Text(serde_json::to_string(&m).map_err(|_| ())?.into()),
            Outgoing::Encoded(text) => Message::Text(Utf8Bytes::try_from(text).map_err(|_| ())?),
            Outgoing::Close(code, reason) => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        };
        self.0.send(frame).await.map_err(|_| ())
    }
}

async fn serve(state: AppState, socket: WebSocket, heartbeat: Duration, scope: UserScope) {
    state
        .metrics
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    conn::run(
        state.hub.clone(),
        &scope,
        Ws(socket),
        heartbeat,
        &state.metrics.ws_coalesced,
    )
    .await;
    state
        .metrics
        .connections
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}
