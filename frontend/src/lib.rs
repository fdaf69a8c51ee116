//! The govpulse dashboard: a Leptos client-side app, compiled to WASM and
//! served by the server.
//!
//! ```text
//!  /api/v1/session ──► api (login form, user and scope)
//!  /api/v1/live ──► live::Connection (reconnect, heartbeat, resync)
//!                     │ model::live::Replica per topic
//!                     ▼
//!                   signals ──► view (KPI cards, province table)
//!  /api/v1/units/{scope}/kpis, /backlog ──► view (KPIs against targets, backlog)
//! ```
//!
//! Protocol state (snapshot, deltas, gap detection) lives in the `model`
//! crate so it is unit-tested natively; this crate only wires it to the
//! browser's WebSocket and to the view.

mod api;
mod live;
mod view;

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(view::App);
}
