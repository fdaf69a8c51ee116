//! The browser end of the live protocol: one websocket, subscriptions
//! replayed after every reconnect, backoff between attempts, a ping for each
//! heartbeat, and a resync request whenever a delta arrives across a gap.

use leptos::prelude::*;
use model::kpi::ProvinceRow;
use model::live::{Applied, ClientMsg, Replica, ServerMsg};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// Connection state shown in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Connecting,
    Live,
    Reconnecting,
    /// The server closed the socket because the session ended; the page
    /// returns to the login form.
    SignedOut,
}

/// What the view reads.
#[derive(Debug, Clone, Copy)]
pub struct LiveSignals {
    pub status: ReadSignal<Status>,
    pub rows: ReadSignal<Vec<ProvinceRow>>,
    pub seq: ReadSignal<Option<u64>>,
    pub updates: ReadSignal<u64>,
}

struct Inner {
    overview: Replica,
    backoff_ms: u32,
    set_status: WriteSignal<Status>,
    set_rows: WriteSignal<Vec<ProvinceRow>>,
    set_seq: WriteSignal<Option<u64>>,
    set_updates: WriteSignal<u64>,
}

const MAX_BACKOFF_MS: u32 = 10_000;

/// Open the live connection on `topic` and return the signals it drives.
pub fn connect(topic: String) -> LiveSignals {
    let (status, set_status) = signal(Status::Connecting);
    let (rows, set_rows) = signal(Vec::new());
    let (seq, set_seq) = signal(None);
    let (updates, set_updates) = signal(0u64);
    let inner = Rc::new(RefCell::new(Inner {
        overview: Replica::new(topic),
        backoff_ms: 250,
        set_status,
        set_rows,
        set_seq,
        set_updates,
    }));
    open(inner);
    LiveSignals {
        status,
        rows,
        seq,
        updates,
    }
}

fn url() -> String {
    let loc = web_sys::window().map(|w| w.location());
    let host = loc.as_ref().and_then(|l| l.host().ok()).unwrap_or_default();
    let scheme = match loc.and_then(|l| l.protocol().ok()).as_deref() {
        Some("https:") => "wss",
        _ => "ws",
    };
    format!("{scheme}://{host}/api/v1/live")
}

fn send(ws: &WebSocket, msg: &ClientMsg) {
    if let Ok(text) = serde_json::to_string(msg) {
        let _ = ws.send_with_str(&text);
    }
}

fn open(inner: Rc<RefCell<Inner>>) {
    let Ok(ws) = WebSocket::new(&url()) else {
        retry(inner);
        return;
    };

    let on_open = {
        let inner = inner.clone();
        let ws = ws.clone();
        Closure::<dyn FnMut()>::new(move || {
            let mut s = inner.borrow_mut();
            s.backoff_ms = 250;
            s.set_status.set(Status::Live);
            send(
                &ws,
                &ClientMsg::Subscribe {
                    topic: s.overview.topic.clone(),
                },
            );
        })
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    on_open.forget();

    let on_message = {
        let inner = inner.clone();
        let ws = ws.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some(text) = e.data().as_string() else {
                return;
            };
            let Ok(msg) = serde_json::from_str::<ServerMsg>(&text) else {
                return;
            };
            if matches!(msg, ServerMsg::Heartbeat { .. }) {
                send(&ws, &ClientMsg::Ping);
                return;
            }
            let mut s = inner.borrow_mut();
            match s.overview.apply(msg) {
                Applied::Updated => {
                    let mut rows = s.overview.rows.clone();
                    rows.sort_by(|a, b| b.accepted.cmp(&a.accepted).then(a.code.cmp(&b.code)));
                    s.set_rows.set(rows);
                    s.set_seq.set(s.overview.seq);
                    s.set_updates.update(|n| *n += 1);
                }
                Applied::Gap => send(
                    &ws,
                    &ClientMsg::Resync {
                        topic: s.overview.topic.clone(),
                    },
                ),
                Applied::Ignored => {}
            }
        })
    };
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();

    let on_close = {
        let inner = inner.clone();
        Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            let signed_out = e.code() == model::live::CLOSE_SIGNED_OUT;
            {
                let mut s = inner.borrow_mut();
                s.overview.reset();
                s.set_status.set(if signed_out {
                    Status::SignedOut
                } else {
                    Status::Reconnecting
                });
            }
            if signed_out {
                // Say so for a moment, then show the login form.
                let back = Closure::once_into_js(crate::api::reload);
                if let Some(w) = web_sys::window() {
                    let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                        back.unchecked_ref(),
                        1500,
                    );
                }
            } else {
                retry(inner.clone());
            }
        })
    };
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    on_close.forget();
}

/// Reconnect after a backoff; if the session has ended meanwhile, reload
/// to the login form instead of knocking forever.
fn retry(inner: Rc<RefCell<Inner>>) {
    let delay = {
        let mut s = inner.borrow_mut();
        let d = s.backoff_ms;
        s.backoff_ms = (d * 2).min(MAX_BACKOFF_MS);
        d
    };
    // Leptos' set_timeout wants a Send closure; this one holds an Rc, and
    // the browser has one thread, so the plain window timer is used.
    let cb = Closure::once_into_js(move || {
        leptos::task::spawn_local(async move {
            if let Ok((401, _)) = crate::api::request("GET", "/api/v1/session", None).await {
                crate::api::reload();
                return;
            }
            open(inner);
        });
    });
    if let Some(w) = web_sys::window() {
        let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
            cb.unchecked_ref(),
            delay as i32,
        );
    }
}
