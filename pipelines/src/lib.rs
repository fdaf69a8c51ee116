//! The govpulse streaming engine.
//!
//! ```text
//!  bytes ──► sources::ndjson ──► validated Event ──► windows::minute ──► ProvinceRow
//!            (decode, validate,     (model crate)       (DataFusion partial
//!             reject with reason)                        aggregates merged
//!                                                        into keyed state)
//! ```
//!
//! * [`units`]: the unit registry (GSO provinces and communes, ministries),
//!   the hierarchy every roll-up follows.
//! * [`sources`]: decoders. Each returns the valid events and, for every bad
//!   record, its line, field and rule; one bad record never sinks a batch.
//! * [`windows`]: windowed aggregation. Each micro-batch is aggregated by a
//!   DataFusion query ([`kpi`] holds the SQL) into per-bin partial sums that
//!   merge into state, so late events simply add to the bin they belong to.
//!
//! * [`kpi`]: every KPI defined once as DataFusion SQL, the mergeable state
//!   they fold into ([`kpi::fold`]), the report over it, and the batch
//!   driver that folds a file on every core ([`kpi::batch`]).
//! * [`keys`]: 128-bit keys of string pairs (dedup, dossiers).
//! * [`csv_cell`]: the rule every CSV text cell written for people follows
//!   (no spreadsheet formulas), shared with the server's exports.
//!
//! The engine owns no network I/O and, outside [`kpi::batch`] and the
//! dossier facts of a report (shared out between the cores), no threads:
//! the server feeds it batches read from its durable log, and tests feed it
//! files.

pub mod csv_cell;
pub mod error;
pub mod keys;
pub mod kpi;
pub mod sources;
pub mod windows;

pub use error::{Error, Result};
/// The unit registry lives with the reference data it is loaded from.
pub use sample_data::units;
