//! The Parquet archive of the event log, and history queries over it.
//!
//! ```text
//!  log ──(server: archive task)──► ARCHIVE/day=2025-11-20/part-<log offset>.parquet
//!                                   (micro-batch schema, one directory per local day)
//!  history(scope, from, to) ──► DataFusion: partition pruning on `day`,
//!                               filter on the unit, the same hourly KPI SQL
//!                               ──► report::rows (periods, roll-up)
//! ```
//!
//! The archive holds the columns the KPI SQL reads (the micro-batch
//! schema); the log stays the complete record. History answers the KPIs
//! that are sums of events. The dossier-state KPIs (on time, overdue, due
//! soon) need each dossier's whole history and are answered from the log
//! (`report::report`), so [`event_kpis`] lists which ones history carries.

use super::defs::{KPIS, STATE_COUNTERS, hourly_sql};
use super::fold::{Breakdown, Partials, add_partials};
use super::report::{self, KpiRow, ReportSpec};
use crate::error::{Error, Result};
use crate::units::UnitRegistry;
use crate::windows::batch::to_record_batch;
use arrow::datatypes::DataType;
use chrono::NaiveDate;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use model::{Event, UnitCode, UnitLevel};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The KPIs history can answer: those made of event sums only.
pub fn event_kpis() -> Vec<&'static str> {
    KPIS.iter()
        .filter(|k| {
            k.numerator
                .iter()
                .chain(k.denominator)
                .all(|c| !STATE_COUNTERS.contains(c))
        })
        .map(|k| k.name)
        .collect()
}

/// The local (UTC+7) day of an event, as the partition value.
fn day_of(e: &Event) -> NaiveDate {
    e.occurred_at
        .with_timezone(&model::calendar::vn_offset())
        .date_naive()
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io(format!("{}: {e}", path.display()))
}

/// Write `events` as one part file per local day, named `{name}.parquet`,
/// each written to a temporary file, synced and renamed into place (a
/// rewrite of the same name replaces it whole). Returns the files.
pub fn write_parts(
    dir: &Path,
    name: &str,
    events: &[Event],
    units: &UnitRegistry,
) -> Result<Vec<PathBuf>> {
    let mut by_day: BTreeMap<NaiveDate, Vec<Event>> = BTreeMap::new();
    for e in events {
        by_day.entry(day_of(e)).or_default().push(e.clone());
    }
    let mut written = Vec::new();
    for (day, events) in by_day {
        let part_dir = dir.join(format!("day={day}"));
        std::fs::create_dir_all(&part_dir).map_err(|e| io(&part_dir, e))?;
        let path = part_dir.join(format!("{name}.parquet"));
        let tmp = part_dir.join(format!(".{name}.parquet.tmp"));
        let batch = to_record_batch(&events, units)?;
        let file = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let mut writer = ArrowWriter::try_new(file, batch.schema(), None)?;
        writer.write(&batch)?;
        let mut file = writer.into_inner()?;
        file.flush().map_err(|e| io(&tmp, e))?;
        file.sync_all().map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        std::fs::File::open(&part_dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(&part_dir, e))?;
        written.push(path);
    }
    Ok(written)
}

/// Whether any part file exists under `dir`.
fn has_parts(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|days| {
        days.flatten().any(|d| {
            std::fs::read_dir(d.path()).is_ok_and(|files| {
                files
                    .flatten()
                    .any(|f| f.path().extension().is_some_and(|x| x == "parquet"))
            })
        })
    })
}

/// The SQL condition selecting `scope`'s subtree.
fn scope_filter(scope: &str) -> Result<Option<String>> {
    if scope == UnitCode::NATION {
        return Ok(None);
    }
    let code = UnitCode::parse(scope).map_err(|e| Error::Schema(e.to_string()))?;
    // Unit codes are digits and ASCII letters (checked by the parse), so
    // they are safe inside a quoted SQL literal.
    Ok(Some(match code.level() {
        UnitLevel::Commune => format!("unit = '{}'", code.as_str()),
        _ => format!("top_unit = '{}'", code.as_str()),
    }))
}

/// Every event-sum KPI for `scope`'s subtree per period at `spec.level`,
/// from the archive in `dir`, for local days in `[from, to)`.
pub async fn history(
    dir: &Path,
    units: Arc<UnitRegistry>,
    scope: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    spec: ReportSpec,
) -> Result<Vec<KpiRow>> {
    if !has_parts(dir) {
        return Ok(Vec::new());
    }
    let ctx = SessionContext::new();
    let options = ParquetReadOptions::default()
        .table_partition_cols(vec![("day".to_owned(), DataType::Utf8)]);
    let path = format!("{}/", dir.display());
    ctx.register_parquet("archive", &path, options).await?;
    let mut conditions: Vec<String> = Vec::new();
    conditions.extend(scope_filter(scope)?);
    if let Some(d) = from {
        conditions.push(format!("day >= '{d}'"));
    }
    if let Some(d) = to {
        conditions.push(format!("day < '{d}'"));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let sql = hourly_sql(&format!("(SELECT * FROM archive{filter}) AS scoped"));
    let result = ctx.sql(&sql).await?.collect().await?;
    let mut partials = Partials::default();
    add_partials(&mut partials, &result, &units)?;
    let (Some(oldest), Some(newest)) = (
        partials.keys().map(|(_, h, _)| *h).min(),
        partials.keys().map(|(_, h, _)| *h + 3599).max(),
    ) else {
        return Ok(Vec::new());
    };
    report::rows(
        partials,
        super::dossiers::FactsMap::default(),
        oldest,
        newest,
        &units,
        spec,
        Breakdown::None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kpi::report::Level;
    use crate::windows::periods::Period;
    use model::calendar::WorkCalendar;

    fn accepted(id: &str, at: &str, unit: &str, online: bool) -> Event {
        let t = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        let mut e = Event::new(
            id,
            model::EventKind::Dossier,
            t,
            UnitCode::parse(unit).unwrap(),
        );
        e.dossier_id = Some(id.into());
        e.status = Some(model::DossierStatus::Accepted);
        e.procedure_code = Some("1.001757".into());
        e.channel = Some(if online {
            model::Channel::Online
        } else {
            model::Channel::Counter
        });
        e
    }

    #[tokio::test]
    async fn history_over_the_archive_equals_the_report_over_the_same_events() {
        let units = Arc::new(UnitRegistry::embedded().unwrap());
        let events = [
            accepted("a", "2025-11-19T23:30:00+07:00", "00070", true),
            accepted("b", "2025-11-20T00:30:00+07:00", "00070", false),
            accepted("c", "2025-11-20T09:00:00+07:00", "00073", true),
            accepted("d", "2025-11-20T09:00:00+07:00", "26506", true),
            accepted("e", "2025-11-21T09:00:00+07:00", "01", false),
        ];
        let dir = tempfile::tempdir().unwrap();
        // Two parts, the second one late for an earlier day.
        write_parts(dir.path(), "part-1", &events[..3], &units).unwrap();
        let files = write_parts(dir.path(), "part-2", &events[3..], &units).unwrap();
        assert!(
            files[0].ends_with("day=2025-11-20/part-2.parquet"),
            "{files:?}"
        );
        let spec = ReportSpec {
            level: Level::Province,
            period: Period::Day,
            chunk: 1000,
        };
        let hist = history(dir.path(), units.clone(), "01", None, None, spec)
            .await
            .unwrap();
        let hanoi: Vec<Event> = events
            .iter()
            .filter(|e| units.covers("01", e.unit.as_str()))
            .cloned()
            .collect();
        let full = report::report(&hanoi, units.clone(), &WorkCalendar::default(), spec)
            .await
            .unwrap();
        assert_eq!(hist.len(), 3, "three local days: {hist:?}");
        for (h, f) in hist.iter().zip(&full) {
            assert_eq!((&h.period, &h.unit), (&f.period, &f.unit));
            for k in event_kpis() {
                assert_eq!(h.kpis[k], f.kpis[k], "{k} on {}", h.period);
            }
        }
        assert_eq!(hist[1].kpis["online_dossiers"].numerator, 1);
        assert_eq!(hist[1].kpis["online_dossiers"].denominator, 2);

        // Day pruning and the commune filter.
        let from = NaiveDate::from_ymd_opt(2025, 11, 20);
        let to = NaiveDate::from_ymd_opt(2025, 11, 21);
        let spec = ReportSpec {
            level: Level::Commune,
            ..spec
        };
        let one = history(dir.path(), units.clone(), "00073", from, to, spec)
            .await
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(&*one[0].unit, "00073");
        assert_eq!(one[0].kpis["online_dossiers"].denominator, 1);
        let empty = tempfile::tempdir().unwrap();
        assert!(
            history(empty.path(), units, "VN", None, None, spec)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn state_kpis_are_not_in_history() {
        let k = event_kpis();
        assert!(k.contains(&"online_dossiers"));
        assert!(!k.contains(&"on_time"));
    }
}
