//! Shared vocabulary of govpulse, compiled for both the server (x86_64) and
//! the browser (wasm32): no tokio, arrow or DataFusion here.
//!
//! ```text
//!  sources ─► ingest ─► log ─► pipelines ─► views ─► hub ─► browser
//!  [event::Event ...........................]        [live::* ..........]
//!                              [kpi::* ...............................]
//! ```
//!
//! * [`event`]: the event contract v1 (DESIGN.md, "Event contract") as a
//!   validated, flat record. Decoding and validation live in `pipelines`.
//! * [`unit`]: GSO and ministry unit codes, parsed once at the edge.
//! * [`kpi`]: KPI rows as they leave the engine.
//! * [`live`]: the websocket protocol between the hub and the dashboard.

pub mod calendar;
pub mod event;
pub mod kpi;
pub mod live;
pub mod unit;

pub use event::{Channel, DocDirection, DossierStatus, Event, EventKind, Id, MeetingMode};
pub use unit::{UnitCode, UnitLevel};
