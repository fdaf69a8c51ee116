//! The batch KPI report end to end, as `govpulse kpi --level commune
//! --period hour` runs it: read a file, decode and validate, DataFusion
//! hourly partials, dossier state, roll-up. Prints events a second from
//! NDJSON and from Parquet and the peak memory of the process.
//!
//! `cargo bench -p pipelines --bench kpi`; GOVPULSE_BENCH_DAYS (default 3)
//! and GOVPULSE_BENCH_SCALE (default 0.5) size the generated input.

use chrono::NaiveDate;
use pipelines::kpi::report::{Level, ReportSpec, report};
use pipelines::sources::validate::Checks;
use pipelines::sources::{ndjson, parquet};
use pipelines::units::UnitRegistry;
use pipelines::windows::periods::Period;
use sample_data::generator::{GenConfig, Generator};
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::Instant;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let days: u32 = env("GOVPULSE_BENCH_DAYS", 3);
    let scale: f64 = env("GOVPULSE_BENCH_SCALE", 0.5);
    let dir = tempfile::tempdir().expect("temp dir");
    let nd = dir.path().join("events.ndjson");
    let pq = dir.path().join("events.parquet");
    let from = NaiveDate::from_ymd_opt(2025, 11, 17).expect("date");
    {
        let mut out = BufWriter::new(std::fs::File::create(&nd).expect("create"));
        let mut pw =
            parquet::Writer::new(std::fs::File::create(&pq).expect("create")).expect("parquet");
        Generator::new(GenConfig::new(from, days, scale, 1))
            .expect("reference data")
            .run(
                |r| -> std::io::Result<()> {
                    r.write_ndjson(&mut out)?;
                    if let sample_data::generator::Record::Event(e) = r {
                        pw.write_value(serde_json::to_value(e).map_err(std::io::Error::other)?)
                            .map_err(std::io::Error::other)?;
                    }
                    Ok(())
                },
                |_| {},
            )
            .expect("generate");
        out.flush().expect("flush");
        pw.finish().expect("parquet");
    }
    let units = Arc::new(UnitRegistry::embedded().expect("units"));
    let calendar = sample_data::calendar().expect("calendar");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let spec = ReportSpec {
        level: Level::Commune,
        period: Period::Hour,
        chunk: 262_144,
    };
    println!("kpi report: level commune, period hour, {days} day(s) at scale {scale}");
    for (name, path) in [("ndjson", &nd), ("parquet", &pq)] {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let started = Instant::now();
        let bytes = std::fs::read(path).expect("read");
        let decoded = match name {
            "ndjson" => ndjson::decode(&bytes, &units, Checks::default()),
            _ => parquet::decode(bytes.into(), &units, Checks::default()),
        };
        let t_decode = started.elapsed().as_secs_f64();
        let events: Vec<_> = decoded.events.into_iter().map(|(_, e)| e).collect();
        let rows = rt
            .block_on(report(&events, units.clone(), &calendar, spec))
            .expect("report");
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  {name:<8} {:>10} events  {:>7.1} MB  decode {:>6.2} s  total {:>6.2} s  {:>10.0} events/s  {:>7} rows",
            events.len(),
            size as f64 / 1e6,
            t_decode,
            secs,
            events.len() as f64 / secs,
            rows.len()
        );
    }
    println!("  peak RSS {:.0} MB", peak_rss_mb());
}
