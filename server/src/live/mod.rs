//! The live hub (DESIGN.md, "Live protocol"): topics hold the latest view
//! state; connections get a snapshot, then deltas computed on demand.
//!
//! ```text
//!  engine ──publish(rows)──► Hub topic {seq, rows with changed-at seq}
//!                               │ watch(seq)
//!                               ▼
//!             connection: last_seq per topic ──► delta(base=last, seq) ──► socket
//! ```
//!
//! A connection keeps only the sequence number it last sent per topic. When
//! the topic moves on, it asks the hub for the rows changed since then, so
//! any number of updates that pile up while the socket is slow collapse
//! into one delta (latest state wins). A slow client therefore costs memory
//! bounded by its topics, never by the event rate.

pub mod conn;
pub mod hub;
pub mod sessions;
pub mod ws;

pub use hub::Hub;

use model::UnitLevel;
use model::live::topics;
use pipelines::units::UnitRegistry;

/// Every topic the hub serves: the national overview, and one
/// `unit/{code}` per province carrying that province's row.
pub fn topic_names(units: &UnitRegistry) -> Vec<String> {
    std::iter::once(topics::OVERVIEW.to_owned())
        .chain(
            units
                .level(UnitLevel::Province)
                .into_iter()
                .map(|u| topics::unit(u.code.as_str())),
        )
        .collect()
}
