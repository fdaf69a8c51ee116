//! Windowed aggregation: micro-batches of events become Arrow batches
//! ([`batch`]), DataFusion turns them into per-bin partial sums, and the
//! window kinds merge those sums into keyed state.

pub mod batch;
pub mod minute;
pub mod periods;
pub mod watermark;
