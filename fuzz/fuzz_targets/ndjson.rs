//! Fuzz the ndjson decoder: any bytes in, the invariants of
//! `pipelines::sources::invariants::check` hold (no panic, no record lost,
//! every rejection with a reason, accepted events round-trip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipelines::sources::{Format, invariants};
use pipelines::units::UnitRegistry;
use std::sync::OnceLock;

fn units() -> &'static UnitRegistry {
    static UNITS: OnceLock<UnitRegistry> = OnceLock::new();
    UNITS.get_or_init(|| UnitRegistry::embedded().expect("embedded reference data"))
}

fuzz_target!(|data: &[u8]| {
    invariants::check(Format::Ndjson, data, units());
});
