//! Generator throughput: one working day at scale 1.0 (the whole country)
//! written as NDJSON to a real file. Prints events a second and the size of
//! the day. `cargo bench -p sample-data`; set GOVPULSE_BENCH_SCALE and
//! GOVPULSE_BENCH_DAYS to change the run.

use chrono::NaiveDate;
use sample_data::generator::{GenConfig, Generator};
use std::io::{BufWriter, Write};
use std::time::Instant;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let scale: f64 = env("GOVPULSE_BENCH_SCALE", 1.0);
    let days: u32 = env("GOVPULSE_BENCH_DAYS", 1);
    // A Thursday: a full working day.
    let from = NaiveDate::from_ymd_opt(2025, 11, 20).expect("valid date");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("day.ndjson");
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).expect("create"));
    let started = Instant::now();
    let summary = Generator::new(GenConfig::new(from, days, scale, 1))
        .expect("reference data")
        .run(|r| r.write_ndjson(&mut out), |_| {})
        .expect("write");
    out.flush().expect("flush");
    drop(out);
    let secs = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("generator: scale {scale}, {days} day(s) from {from} (working day)");
    println!("  dossiers submitted  {:>12}", summary.dossiers);
    println!("  events written      {:>12}", summary.events);
    println!(
        "  NDJSON size         {:>12.1} MB ({:.0} bytes/event)",
        bytes as f64 / 1e6,
        bytes as f64 / summary.events.max(1) as f64
    );
    println!("  wall time           {:>12.2} s", secs);
    println!(
        "  throughput          {:>12.0} events/s",
        summary.events as f64 / secs
    );
}
