//! The batch KPI report end to end, as `govpulse kpi --level commune
//! --period hour` runs it: read a file in chunks, decode and validate,
//! DataFusion hourly partials and dossier state on every core, merge,
//! roll-up. Prints events a second from NDJSON and from Parquet, the peak
//! memory of the process, and the memory held per open dossier.
//!
//! `cargo bench -p pipelines --bench kpi`; GOVPULSE_BENCH_DAYS (default 3)
//! and GOVPULSE_BENCH_SCALE (default 0.5) size the generated input.

use chrono::NaiveDate;
use pipelines::kpi::batch::{self, Chunk};
use pipelines::kpi::dossiers::Dossiers;
use pipelines::kpi::fold::Breakdown;
use pipelines::kpi::report::{Level, ReportSpec, report_of};
use pipelines::sources::parquet;
use pipelines::sources::validate::Checks;
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

/// A memory line of /proc/self/status (`VmHWM`, `VmRSS`) in MB.
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        })
        .and_then(|l| {
            l.split_whitespace()
                .next()
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM")
}

fn main() {
    let units = Arc::new(UnitRegistry::embedded().expect("units"));
    // First, in a heap nothing has used yet, so that resident memory
    // growth is the dossiers' own.
    open_dossier_memory(&units);
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
    let calendar = sample_data::calendar().expect("calendar");
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let spec = ReportSpec {
        level: Level::Commune,
        period: Period::Hour,
        chunk: batch::MICRO_BATCH,
    };
    println!(
        "kpi report: level commune, period hour, {days} day(s) at scale {scale}, {workers} workers"
    );
    for (name, path) in [("ndjson", &nd), ("parquet", &pq)] {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let started = Instant::now();
        let file = std::fs::File::open(path).expect("open");
        let chunks: Box<dyn Iterator<Item = pipelines::Result<Chunk>> + Send> = match name {
            "ndjson" => Box::new(batch::ndjson_chunks(0, file)),
            _ => Box::new(batch::parquet_chunks(0, file, &units)),
        };
        let out = batch::fold_parallel(
            chunks,
            workers,
            units.clone(),
            Checks::default(),
            Breakdown::None,
        )
        .expect("fold");
        let t_fold = started.elapsed().as_secs_f64();
        let events = out.fold.events;
        let dossiers = out.fold.dossiers.len();
        let rows = report_of(out.fold, &units, &calendar, spec).expect("report");
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  {name:<8} {events:>10} events  {:>7.1} MB  read+fold {t_fold:>6.2} s  total {secs:>6.2} s  {:>10.0} events/s  {:>7} rows  {dossiers} dossiers  peak RSS {:.0} MB",
            size as f64 / 1e6,
            events as f64 / secs,
            rows.len(),
            peak_rss_mb()
        );
    }
}

fn rss_mb() -> f64 {
    status_mb("VmRSS")
}

/// Resident memory per open dossier: one million accepted, unresolved
/// dossiers with realistic ids, procedure codes and due dates.
fn open_dossier_memory(units: &UnitRegistry) {
    use model::{Channel, DossierStatus, Event, EventKind, UnitCode};
    let n = 1_000_000usize;
    let communes: Vec<UnitCode> = units
        .level(model::UnitLevel::Commune)
        .iter()
        .map(|u| u.code.clone())
        .collect();
    let at = chrono::DateTime::parse_from_rfc3339("2025-11-20T08:00:00+07:00").expect("time");
    let due = chrono::DateTime::parse_from_rfc3339("2025-11-27T17:00:00+07:00").expect("time");
    let mut d = Dossiers::default();
    let before = rss_mb();
    for i in 0..n {
        let unit = communes[i % communes.len()].clone();
        let mut e = Event::new(format!("E{i}"), EventKind::Dossier, at, unit.clone());
        e.dossier_id = Some(format!("{}-2025-{:07}", unit.as_str(), i).into());
        e.status = Some(DossierStatus::Accepted);
        e.procedure_code = Some("1.001193".into());
        e.channel = Some(Channel::Online);
        e.due_at = Some(due);
        d.add(&e, units);
    }
    let after = rss_mb();
    println!(
        "  open dossiers: {} held, {:.0} bytes each (resident memory growth)",
        d.len(),
        (after - before) * 1024.0 * 1024.0 / n as f64
    );
}
