//! The govpulse server: everything between the sources and the browser.
//!
//! ```text
//!  POST /api/v1/events ─┐
//!  NATS events.<source> ─┴► ingest (decode, validate, scope, reject with reason)
//!                           │ append + fsync, dedup (source, event_id)
//!                           ▼
//!                         log (events.ndjson, committed length on a watch)
//!                           │ followed by offset
//!                           ▼
//!                         engine ─► pipelines::windows (DataFusion) ─► live::Hub
//!                                                                        │ snapshot + deltas
//!                                                                        ▼
//!                                          /api/v1/live websocket ─► Leptos dashboard
//! ```
//!
//! Each stage reads only the one before it. `app::router` wires the HTTP
//! side; `serve::run` starts the whole thing; the `govpulse` binary is a
//! thin command line over this library.

pub mod api;
pub mod app;
pub mod archive;
pub mod auth;
pub mod checkpoint;
pub mod commands;
pub mod config;
pub mod engine;
pub mod feeds;
pub mod ingest;
pub mod kpis;
pub mod live;
pub mod log;
pub mod nats;
pub mod serve;
pub mod store;
