//! The unit tree, a unit's KPIs, and its backlog of open dossiers, each
//! limited to the caller's scope. A unit outside the scope answers exactly
//! like a unit that does not exist.
//!
//! KPIs and the backlog are computed on request by the batch engine of
//! `pipelines::kpi` over the events of the unit's subtree, read from the
//! durable log; "now" is the newest event time in the log (the same
//! event-time clock the engine uses), so the answer is the same whenever
//! it is asked.

use super::error::{ApiError, ApiResult, blocking};
use super::{Params, vn_time as time};
use crate::app::AppState;
use crate::auth::{Client, Viewer};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, TimeZone};
use model::{UnitCode, UnitLevel};
use pipelines::csv_cell::text as cell;
use pipelines::kpi::dossiers::{BacklogState, OpenDossier};
use pipelines::kpi::fold::Fold;
use pipelines::kpi::report::{self, Level, ReportSpec};
use pipelines::units::UnitRegistry;
use pipelines::windows::periods::Period;
use serde_json::{Value, json};
use std::collections::HashMap;

fn level_name(level: UnitLevel) -> &'static str {
    match level {
        UnitLevel::Nation => "nation",
        UnitLevel::Province => "province",
        UnitLevel::Commune => "commune",
        UnitLevel::Ministry => "ministry",
    }
}

fn unit_level(code: &str) -> Option<UnitLevel> {
    UnitCode::parse(code).ok().map(|c| c.level())
}

/// A unit the viewer may see, or the same 404 whether it exists or not.
fn visible(units: &UnitRegistry, viewer: &Viewer, code: &str) -> ApiResult<UnitLevel> {
    let known = code == UnitCode::NATION || units.contains(code);
    match unit_level(code) {
        Some(level) if known && viewer.sees(units, code) => Ok(level),
        _ => Err(ApiError::no_unit(code)),
    }
}

/// The units directly below `code`.
fn children<'a>(units: &'a UnitRegistry, code: &str) -> Vec<&'a pipelines::units::Unit> {
    if code == UnitCode::NATION {
        let mut v = units.level(UnitLevel::Province);
        v.extend(units.level(UnitLevel::Ministry));
        return v;
    }
    if unit_level(code) != Some(UnitLevel::Province) {
        return Vec::new();
    }
    units
        .level(UnitLevel::Commune)
        .into_iter()
        .filter(|u| u.parent.as_ref().is_some_and(|p| p.as_str() == code))
        .collect()
}

fn unit_json(units: &UnitRegistry, code: &str) -> Value {
    let name = if code == UnitCode::NATION {
        "Toàn quốc"
    } else {
        units.name(code)
    };
    json!({
        "code": code,
        "name": name,
        "level": unit_level(code).map(level_name),
        "parent": units.get(code).and_then(|u| u.parent.as_ref()).map(UnitCode::as_str)
            .or((code != UnitCode::NATION).then_some(UnitCode::NATION)),
    })
}

/// `GET /api/v1/units`: the root of the viewer's scope and its children.
pub async fn tree(State(state): State<AppState>, viewer: Viewer) -> Json<Value> {
    let root = viewer.scope().to_owned();
    unit_body(&state.units, &root)
}

fn unit_body(units: &UnitRegistry, code: &str) -> Json<Value> {
    let mut body = unit_json(units, code);
    body["children"] = children(units, code)
        .into_iter()
        .map(|u| unit_json(units, u.code.as_str()))
        .collect();
    Json(body)
}

/// `GET /api/v1/units/{code}`: one unit and its children.
pub async fn unit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    visible(&state.units, &viewer, &code)?;
    Ok(unit_body(&state.units, &code))
}

/// How long a request waits for the engine to fold what was acknowledged
/// before it arrived.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(10);

/// Wait until the engine has folded every event the log had committed
/// when the request arrived (503 after [`CATCH_UP`]).
async fn caught_up(state: &AppState) -> ApiResult<()> {
    let committed = state
        .log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .committed();
    if !state.kpis.caught_up(committed, CATCH_UP).await {
        return Err(ApiError::unavailable(
            "the KPI engine",
            format!(
                "still folding the log: at byte {} of {committed}",
                state.kpis.offset()
            ),
        ));
    }
    Ok(())
}

/// `GET /api/v1/units/{code}/recent?minutes=60`: the KPIs of the last
/// `minutes` one-minute event-time buckets (1 to the retention, 60 by
/// default) up to the newest minute, for the nation, a province or a
/// ministry (the minute windows are kept per top unit). Only the KPIs
/// that are sums of events: on-time and the backlog need dossier state
/// (`/kpis`, `/backlog`).
pub async fn recent(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(code): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let level = visible(&state.units, &viewer, &code)?;
    let mut p = Params::new(q, &["minutes"])?;
    let retention = state.config.engine.retention_minutes;
    let minutes = p.int("minutes", 60, 1, retention)?;
    if level == UnitLevel::Commune {
        return Err(ApiError::field(
            "code",
            "minute windows are kept per province and ministry: ask for the province, or /kpis?period=hour for the commune",
        ));
    }
    caught_up(&state).await?;
    let recent = {
        let m = state.minutes.read().unwrap_or_else(|p| p.into_inner());
        let keep = |top: &str| code == UnitCode::NATION || top == code;
        (m.recent(minutes, keep), m.final_before())
    };
    // Buckets start on whole minutes.
    let label = |us: i64| time(us.div_euclid(1_000_000));
    let (window, final_before) = recent;
    let Some(w) = window else {
        return Ok(Json(json!({
            "unit": code, "minutes": minutes, "from": null, "to": null,
            "final_before": null, "kpis": {}, "counters": {}, "corrections": 0,
        })));
    };
    Ok(Json(json!({
        "unit": code,
        "minutes": minutes,
        "from": label(w.from_micros),
        "to": label(w.to_micros),
        "final_before": (!final_before.is_empty()).then_some(final_before),
        "kpis": w.kpis,
        "counters": w.counters,
        "corrections": w.corrections,
        "not_covered": pipelines::kpi::defs::KPIS
            .iter()
            .filter(|k| !w.kpis.contains_key(k.name))
            .map(|k| k.name)
            .collect::<Vec<_>>(),
    })))
}

/// The engine's KPI state for the subtree of `scope`, once it includes
/// every event the log had committed when the request arrived.
async fn subtree_fold(state: &AppState, viewer: &Viewer, scope: &str) -> ApiResult<Fold> {
    caught_up(state).await?;
    let st = state.clone();
    let scope = scope.to_owned();
    let mut fold = blocking(move || {
        Ok(st.kpis.subset(|i| {
            st.units
                .at(i)
                .is_some_and(|u| st.units.covers(&scope, u.code.as_str()))
        }))
    })
    .await?;
    if let Some(clock) = viewer_clock(state, viewer) {
        fold.span = match (fold.span, clock) {
            (Some((lo, _)), Some(c)) => Some((lo.min(c), c)),
            _ => None,
        };
    }
    Ok(fold)
}

/// The clock a viewer's answers are judged at ("as of", and the instant
/// open dossiers are due soon or overdue at), when it is not the engine's
/// own: a locality sees its province's or ministry's clock, the newest
/// event time of its own branch (`Some(None)` before the branch has any),
/// so nothing it is shown moves with another province's activity. `None`
/// for national viewers, who see the engine's clock.
fn viewer_clock(state: &AppState, viewer: &Viewer) -> Option<Option<i64>> {
    if viewer.is_national() {
        return None;
    }
    let top = state.units.top_unit(viewer.scope());
    Some(top.and_then(|t| state.kpis.clock_of(t)))
}

/// The instant "open", "due soon" and "overdue" were judged at: the fold's
/// newest event time (the viewer's clock, see [`subtree_fold`]).
fn as_of(fold: &Fold) -> Option<String> {
    time(fold.span?.1)
}

/// The levels a unit's KPIs may be broken down to: its own, and below.
fn allowed_levels(level: UnitLevel) -> &'static [&'static str] {
    match level {
        UnitLevel::Nation => &[
            "nation",
            "localities",
            "ministries",
            "province",
            "ministry",
            "commune",
        ],
        UnitLevel::Province => &["province", "commune"],
        UnitLevel::Commune => &["commune"],
        UnitLevel::Ministry => &["ministry"],
    }
}

fn local_midnight(d: NaiveDate) -> i64 {
    model::calendar::vn_offset()
        .from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map_or(0, |t| t.timestamp())
}

/// Whether a report row for `row_unit` belongs to the answer for `code`.
/// Aggregate rows (nation, all localities, all ministries) only belong to
/// the nation's.
fn in_scope(units: &UnitRegistry, code: &str, row_unit: &str) -> bool {
    code == UnitCode::NATION || units.covers(code, row_unit)
}

/// The parameters shared by `/kpis` and `/history`.
struct ReportQuery {
    spec: ReportSpec,
    level_str: String,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    csv: bool,
}

impl ReportQuery {
    fn parse(q: HashMap<String, String>, unit_level: UnitLevel, chunk: usize) -> ApiResult<Self> {
        let mut p = Params::new(q, &["period", "level", "from", "to", "format"])?;
        let (period, level, level_str) = period_and_level(&mut p, unit_level)?;
        Ok(Self {
            spec: ReportSpec {
                level,
                period,
                chunk,
            },
            level_str,
            from: p.date("from")?,
            to: p.date("to")?,
            csv: p.format_csv()?,
        })
    }
}

/// The `period` and `level` parameters; the level must be the unit's own
/// or one below it.
fn period_and_level(p: &mut Params, unit_level: UnitLevel) -> ApiResult<(Period, Level, String)> {
    let period: Period = p.parse("period")?.unwrap_or(Period::Day);
    let allowed = allowed_levels(unit_level);
    let level_str = p.str("level").unwrap_or_else(|| allowed[0].to_owned());
    if !allowed.contains(&level_str.as_str()) {
        return Err(ApiError::field(
            "level",
            format!(
                "for a {} unit use one of {}",
                level_name(unit_level),
                allowed.join(", ")
            ),
        ));
    }
    let level: Level = level_str
        .parse()
        .map_err(|e: String| ApiError::field("level", e))?;
    Ok((period, level, level_str))
}

/// `GET /api/v1/units/{code}/kpis?period=&level=&from=&to=&format=`: every
/// KPI per period for the unit (or for the units of `level` below it),
/// with numerator, denominator and percent. `from`/`to` are local dates
/// bounding period starts (`to` exclusive).
pub async fn kpis(
    State(state): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path(code): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let unit_level = visible(&state.units, &viewer, &code)?;
    let ReportQuery {
        spec,
        level_str,
        from,
        to,
        csv,
    } = ReportQuery::parse(q, unit_level, state.config.engine.batch_max)?;
    // Read before the state: the engine publishes a watermark only after
    // folding the events behind it, so every period this calls final is.
    let global_final = state
        .kpis
        .watermarks()
        .watermark(&state.config.engine.lateness());
    let fold = subtree_fold(&state, &viewer, &code).await?;
    // A locality's periods are final behind its own clock less the allowed
    // lateness, and never later than the engine's watermark.
    // The fold's newest time is the locality's clock (`subtree_fold`).
    let final_before = if viewer.is_national() {
        global_final
    } else {
        fold.span
            .map(|(_, clock)| clock - state.config.engine.allowed_lateness_secs)
            .zip(global_final)
            .map(|(own, global)| own.min(global))
    }
    .and_then(time);
    let as_of = as_of(&fold);
    let st = state.clone();
    let rows = blocking(move || {
        report::report_of(fold, &st.units, &st.calendar, spec)
            .map_err(|e| ApiError::internal("the KPI report", e))
    })
    .await?;
    let (lo, hi) = (from.map(local_midnight), to.map(local_midnight));
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| {
            let start = DateTime::parse_from_rfc3339(&r.period_start).map(|t| t.timestamp());
            match start {
                Ok(t) => lo.is_none_or(|lo| t >= lo) && hi.is_none_or(|hi| t < hi),
                // The `all` period has no start; it passes any range.
                Err(_) => true,
            }
        })
        .filter(|r| in_scope(&state.units, &code, &r.unit))
        .collect();
    if csv {
        let mut out = Vec::new();
        report::write_csv(&rows, &mut out).map_err(|e| ApiError::internal("writing CSV", e))?;
        audit_export(&state, &viewer, &client, "kpis", &code, rows.len()).await?;
        return Ok(csv_response(out, &format!("kpis-{code}.csv")));
    }
    Ok(Json(json!({
        "unit": code,
        "level": level_str,
        "period": spec.period.as_str(),
        "as_of": as_of,
        // Periods that end at or before this are final; later ones may
        // still be corrected by late events.
        "final_before": final_before,
        "rows": rows,
        "score_766": score_766_legend(),
    }))
    .into_response())
}

/// What the rows' `score_766` is made of, and what it cannot include.
fn score_766_legend() -> Value {
    use pipelines::kpi::defs::{SCORE_766, SCORE_766_NEEDS_CATALOGUE};
    json!({
        "indicators": SCORE_766.iter().map(|i| json!({
            "indicator": i.indicator, "group": i.group, "kpi": i.kpi,
            "points": i.points, "full_at_pct": i.full_at,
        })).collect::<Vec<_>>(),
        "needs_catalogue_data": SCORE_766_NEEDS_CATALOGUE.iter().map(|(what, why)| json!({
            "indicators": what, "source": why,
        })).collect::<Vec<_>>(),
        "rule": "points grow linearly with the KPI up to full_at_pct; the sum over indicators with data is rescaled to 0-100",
    })
}

fn csv_response(body: Vec<u8>, file: &str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

async fn audit_export(
    state: &AppState,
    viewer: &Viewer,
    client: &str,
    what: &str,
    unit: &str,
    rows: usize,
) -> ApiResult<()> {
    let store = state.store.clone();
    let (name, client, target) = (viewer.name.clone(), client.to_owned(), unit.to_owned());
    let detail = json!({ "what": what, "rows": rows });
    blocking(move || {
        Ok(store.audit(Some(&name), "export", Some(&target), Some(&client), detail)?)
    })
    .await
}

/// Which open dossiers a backlog query wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StateFilter {
    Open,
    NotDue,
    DueSoon,
    Overdue,
}

impl std::str::FromStr for StateFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "open" => Self::Open,
            "not_due" => Self::NotDue,
            "due_soon" => Self::DueSoon,
            "overdue" => Self::Overdue,
            _ => return Err("use open, not_due, due_soon or overdue".into()),
        })
    }
}

impl StateFilter {
    fn admits(self, s: BacklogState) -> bool {
        match self {
            Self::Open => true,
            Self::NotDue => s == BacklogState::NotDue,
            Self::DueSoon => s == BacklogState::DueSoon,
            Self::Overdue => s == BacklogState::Overdue,
        }
    }
}

fn backlog_row(d: &OpenDossier, as_of: i64, units: &UnitRegistry) -> Value {
    json!({
        "dossier_id": d.dossier_id,
        "unit": d.unit,
        "unit_name": units.name(&d.unit),
        "procedure_code": d.procedure_code,
        "channel": d.channel,
        "accepted_at": time(d.accepted_at),
        "due_at": d.due_at.and_then(time),
        "state": d.state,
        "age_days": (as_of - d.accepted_at) as f64 / 86_400.0,
    })
}

/// `GET /api/v1/units/{code}/backlog?state=&procedure=&min_age_days=&
/// max_age_days=&page=&per_page=&format=`: open dossiers of the unit's
/// subtree, most urgent first, paged; `format=csv` exports every match
/// (audited).
pub async fn backlog(
    State(state): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path(code): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    visible(&state.units, &viewer, &code)?;
    let mut p = Params::new(
        q,
        &[
            "state",
            "procedure",
            "min_age_days",
            "max_age_days",
            "page",
            "per_page",
            "format",
        ],
    )?;
    let filter: StateFilter = p.parse("state")?.unwrap_or(StateFilter::Open);
    let procedure = p.str("procedure");
    let min_age = p.int("min_age_days", 0, 0, 100_000)?;
    let max_age = p.int("max_age_days", i64::MAX / 86_400, 0, i64::MAX / 86_400)?;
    let page = p.int("page", 1, 1, 1_000_000)? as usize;
    let per_page = p.int("per_page", 100, 1, 1000)? as usize;
    let csv = p.format_csv()?;
    let fold = subtree_fold(&state, &viewer, &code).await?;
    let st = state.clone();
    let (as_of, open) = blocking(move || {
        let Some((_, as_of)) = fold.span else {
            return Ok((None, Vec::new()));
        };
        let open = fold
            .dossiers
            .open_at(&st.units, &st.calendar, as_of, |_| true);
        Ok((Some(as_of), open))
    })
    .await?;
    let as_of_t = as_of.unwrap_or_default();
    let matching: Vec<&OpenDossier> = open
        .iter()
        .filter(|d| filter.admits(d.state))
        .filter(|d| {
            procedure
                .as_deref()
                .is_none_or(|p| d.procedure_code.as_deref() == Some(p))
        })
        .filter(|d| {
            let age = (as_of_t - d.accepted_at) / 86_400;
            age >= min_age && age <= max_age
        })
        .collect();
    let count = |s| open.iter().filter(|d| d.state == s).count();
    let summary = json!({
        "open": open.len(),
        "not_due": count(BacklogState::NotDue),
        "due_soon": count(BacklogState::DueSoon),
        "overdue": count(BacklogState::Overdue),
    });
    if csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| ApiError::internal("writing CSV", e);
        w.write_record([
            "dossier_id",
            "unit",
            "unit_name",
            "procedure_code",
            "channel",
            "accepted_at",
            "due_at",
            "state",
            "age_days",
        ])
        .map_err(io)?;
        for d in &matching {
            let accepted = time(d.accepted_at).unwrap_or_default();
            let due = d.due_at.and_then(time).unwrap_or_default();
            let age = format!("{:.2}", (as_of_t - d.accepted_at) as f64 / 86_400.0);
            // Text cells come from sources (ids, codes): no formulas.
            w.write_record([
                &*cell(&d.dossier_id),
                &cell(d.unit.as_str()),
                &cell(state.units.name(&d.unit)),
                &cell(d.procedure_code.as_deref().unwrap_or("")),
                &cell(d.channel.unwrap_or("")),
                &cell(&accepted),
                &cell(&due),
                &cell(d.state.as_str()),
                &age,
            ])
            .map_err(io)?;
        }
        let out = w
            .into_inner()
            .map_err(|e| ApiError::internal("writing CSV", e))?;
        audit_export(&state, &viewer, &client, "backlog", &code, matching.len()).await?;
        return Ok(csv_response(out, &format!("backlog-{code}.csv")));
    }
    let rows: Vec<Value> = matching
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|d| backlog_row(d, as_of_t, &state.units))
        .collect();
    Ok(Json(json!({
        "unit": code,
        "as_of": as_of.and_then(time),
        "summary": summary,
        "total": matching.len(),
        "page": page,
        "per_page": per_page,
        "rows": rows,
    }))
    .into_response())
}

/// `GET /api/v1/units/{code}/history?period=&level=&from=&to=&format=`:
/// the event-sum KPIs (`pipelines::kpi::archive::event_kpis`) per period
/// from the Parquet archive through DataFusion, for the unit's subtree.
/// The archive trails the log by up to `archive.interval_secs`.
pub async fn history(
    State(state): State<AppState>,
    viewer: Viewer,
    Client(client): Client,
    Path(code): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let unit_level = visible(&state.units, &viewer, &code)?;
    let ReportQuery {
        spec,
        level_str,
        from,
        to,
        csv,
    } = ReportQuery::parse(q, unit_level, state.config.engine.batch_max)?;
    let dir = crate::archive::dir(&state.config.server.data_dir);
    let rows = pipelines::kpi::archive::history(&dir, state.units.clone(), &code, from, to, spec)
        .await
        .map_err(|e| ApiError::internal("the history query", e))?;
    let kpis = pipelines::kpi::archive::event_kpis();
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| in_scope(&state.units, &code, &r.unit))
        .collect();
    if csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| ApiError::internal("writing CSV", e);
        let mut header = vec![
            "period".to_owned(),
            "period_start".into(),
            "unit".into(),
            "name".into(),
        ];
        for k in &kpis {
            header.extend([
                format!("{k}_numerator"),
                format!("{k}_denominator"),
                format!("{k}_pct"),
            ]);
        }
        w.write_record(&header).map_err(io)?;
        for r in &rows {
            let mut rec: Vec<String> = [
                r.period.to_string(),
                r.period_start.to_string(),
                r.unit.to_string(),
                r.name.to_string(),
            ]
            .iter()
            .map(|t| cell(t).into_owned())
            .collect();
            for k in &kpis {
                let v = &r.kpis[k];
                rec.extend([
                    v.numerator.to_string(),
                    v.denominator.to_string(),
                    v.value.map(|x| format!("{x:.2}")).unwrap_or_default(),
                ]);
            }
            w.write_record(&rec).map_err(io)?;
        }
        let out = w
            .into_inner()
            .map_err(|e| ApiError::internal("writing CSV", e))?;
        audit_export(&state, &viewer, &client, "history", &code, rows.len()).await?;
        return Ok(csv_response(out, &format!("history-{code}.csv")));
    }
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let k: serde_json::Map<String, Value> = kpis
                .iter()
                .map(|k| (k.to_string(), json!(r.kpis[k])))
                .collect();
            json!({ "period": r.period, "period_start": r.period_start,
                    "unit": r.unit, "name": r.name, "kpis": k })
        })
        .collect();
    Ok(Json(json!({
        "unit": code,
        "level": level_str,
        "period": spec.period.as_str(),
        "archived_log_bytes": state.metrics.archive_offset.load(std::sync::atomic::Ordering::Relaxed),
        "kpis": kpis,
        "rows": rows,
    }))
    .into_response())
}
