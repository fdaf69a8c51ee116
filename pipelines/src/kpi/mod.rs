//! KPI definitions, kept in one place as DataFusion SQL over the event
//! batch schema ([`crate::windows::batch::schema`]). Each query turns one
//! micro-batch into per-bin *partial sums*; the window state adds partial
//! sums together, so every KPI here must be a sum or a ratio of sums.

pub mod archive;
pub mod batch;
pub mod defs;
pub mod dossiers;
pub mod fold;
pub mod report;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// The name the current micro-batch is registered under.
pub const BATCH_TABLE: &str = "batch";

/// A query over [`BATCH_TABLE`] planned once and run over each micro-batch.
/// Parsing, planning and optimising the KPI query took about 5 ms, more
/// than a third of the time a 65,536-event batch spends in DataFusion; the
/// physical plan is kept and only its in-memory scan is swapped for each
/// batch (the same projection, the new rows). A plan is kept per batch
/// schema, up to [`MAX_PLANS`]: micro-batches built from events and those
/// made of a Parquet file's own columns differ in schema.
pub(crate) struct BatchQuery {
    ctx: datafusion::prelude::SessionContext,
    sql: String,
    /// The plans made so far, with the batch schema each was made for.
    plans: std::sync::Mutex<Vec<(SchemaRef, Arc<dyn ExecutionPlan>)>>,
    /// Held while planning: a plan is made with the batch registered in
    /// `ctx` under [`BATCH_TABLE`], one batch at a time.
    planning: tokio::sync::Mutex<()>,
}

/// Batch schemas a [`BatchQuery`] keeps a plan for; a batch of yet another
/// schema is planned on its own.
const MAX_PLANS: usize = 4;

impl BatchQuery {
    /// `sql` over [`BATCH_TABLE`], run in `ctx`.
    pub(crate) fn new(ctx: datafusion::prelude::SessionContext, sql: String) -> Self {
        Self {
            ctx,
            sql,
            plans: Default::default(),
            planning: Default::default(),
        }
    }

    /// The kept plans. A panic elsewhere while the lock was held cannot
    /// leave the list half-changed (it is only pushed to), so a poisoned
    /// lock is taken as it is.
    fn plans(&self) -> std::sync::MutexGuard<'_, Vec<(SchemaRef, Arc<dyn ExecutionPlan>)>> {
        self.plans.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept plan for batches of `schema`, and whether there is room
    /// to keep one if there is none.
    fn plan_for(&self, schema: &SchemaRef) -> (Option<Arc<dyn ExecutionPlan>>, bool) {
        let plans = self.plans();
        let found = plans
            .iter()
            .find(|(s, _)| Arc::ptr_eq(s, schema) || s == schema)
            .map(|(_, p)| p.clone());
        (found, plans.len() < MAX_PLANS)
    }

    /// The query's result over `batch`.
    pub(crate) async fn run(&self, batch: RecordBatch) -> crate::Result<Vec<RecordBatch>> {
        let schema = batch.schema();
        let plan = match self.plan_for(&schema) {
            (Some(plan), _) => plan,
            (None, _) => {
                let _planning = self.planning.lock().await;
                // Asked again: another caller may have planned meanwhile.
                match self.plan_for(&schema) {
                    (Some(plan), _) => plan,
                    (None, false) => return query_batch(&self.ctx, &self.sql, batch).await,
                    (None, true) => {
                        // Planned over no rows: the plan depends on the
                        // schema and the query only (a grouped aggregate
                        // has no shortcut from row counts).
                        let empty = RecordBatch::new_empty(schema.clone());
                        let plan = query_plan(&self.ctx, &self.sql, empty).await?;
                        self.plans().push((schema, plan.clone()));
                        plan
                    }
                }
            }
        };
        let plan = with_rows(plan, &batch)?;
        Ok(datafusion::physical_plan::collect(plan, self.ctx.task_ctx()).await?)
    }
}

/// The physical plan of `sql` with `batch` registered as [`BATCH_TABLE`]
/// (for the planning only: the plan holds the batch itself).
async fn query_plan(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    batch: RecordBatch,
) -> crate::Result<Arc<dyn ExecutionPlan>> {
    ctx.register_batch(BATCH_TABLE, batch)?;
    let plan = async { ctx.sql(sql).await?.create_physical_plan().await }.await;
    ctx.deregister_table(BATCH_TABLE)?;
    Ok(plan?)
}

/// `plan` with every in-memory scan reading `batch` instead, with the
/// scan's own projection.
fn with_rows(
    plan: Arc<dyn ExecutionPlan>,
    batch: &RecordBatch,
) -> crate::Result<Arc<dyn ExecutionPlan>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    let swapped = plan.transform_up(|node| {
        let memory = node
            .downcast_ref::<DataSourceExec>()
            .and_then(|ds| ds.data_source().downcast_ref::<MemorySourceConfig>());
        let Some(memory) = memory else {
            return Ok(Transformed::no(node));
        };
        // A scan that also limits or orders its rows is not one this
        // swap rebuilds faithfully (the KPI queries have neither).
        if datafusion::datasource::source::DataSource::fetch(memory).is_some()
            || !memory.sort_information().is_empty()
        {
            return Err(datafusion::error::DataFusionError::NotImplemented(
                "a planned in-memory scan with a limit or an order".into(),
            ));
        }
        let scan = MemorySourceConfig::try_new_exec(
            &[vec![batch.clone()]],
            batch.schema(),
            memory.projection().clone(),
        )?;
        Ok(Transformed::yes(scan as Arc<dyn ExecutionPlan>))
    })?;
    if !swapped.transformed {
        return Err(crate::Error::Schema(
            "the planned query has no in-memory scan to give the batch to".into(),
        ));
    }
    Ok(swapped.data)
}

/// Run `sql` over `batch`: planned for it alone ([`query_plan`]).
pub(crate) async fn query_batch(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    batch: RecordBatch,
) -> crate::Result<Vec<RecordBatch>> {
    let plan = query_plan(ctx, sql, batch).await?;
    Ok(datafusion::physical_plan::collect(plan, ctx.task_ctx()).await?)
}

/// The number of threads a parallel step of the engine uses: every core,
/// at most 8.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{ndjson, validate::Checks};
    use crate::windows::batch::to_record_batch;

    /// Rows of a query result, sorted, as text.
    fn rows(result: &[RecordBatch]) -> Vec<String> {
        let mut out: Vec<String> = arrow::util::pretty::pretty_format_batches(result)
            .unwrap()
            .to_string()
            .lines()
            .map(str::to_owned)
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_query_planned_once_answers_every_batch_as_a_fresh_one() {
        let units = crate::units::UnitRegistry::embedded().unwrap();
        let events: Vec<_> = ndjson::decode(
            sample_data::DEMO_SLICE_NDJSON.as_bytes(),
            &units,
            Checks::default(),
        )
        .events
        .into_iter()
        .map(|(_, e)| e)
        .collect();
        let sql = defs::hourly_sql(BATCH_TABLE);
        let ctx = || datafusion::prelude::SessionContext::new();
        let prepared = BatchQuery::new(ctx(), sql.clone());
        // Different batches (and an empty one) through the same plan.
        for part in [&events[..100], &events[100..], &events[..0], &events[..]] {
            let batch = to_record_batch(part, &units).unwrap();
            let fresh = query_batch(&ctx(), &sql, batch.clone()).await.unwrap();
            let reused = prepared.run(batch).await.unwrap();
            assert_eq!(rows(&reused), rows(&fresh));
        }
        let planned = || prepared.plans.lock().unwrap().len();
        assert_eq!(planned(), 1);
        // Batches of other schemas get plans of their own, up to
        // MAX_PLANS; past that they are planned each time.
        let batch = to_record_batch(&events, &units).unwrap();
        let n = batch.num_columns();
        for turn in 1..=MAX_PLANS + 1 {
            // The same columns in another order: another schema.
            let turned = batch
                .project(&(0..n).map(|i| (i + turn) % n).collect::<Vec<_>>())
                .unwrap();
            let fresh = query_batch(&ctx(), &sql, turned.clone()).await.unwrap();
            assert_eq!(rows(&prepared.run(turned).await.unwrap()), rows(&fresh));
            assert_eq!(planned(), (1 + turn).min(MAX_PLANS));
        }
        // The first plan still answers its own schema.
        let fresh = query_batch(&ctx(), &sql, batch.clone()).await.unwrap();
        assert_eq!(rows(&prepared.run(batch).await.unwrap()), rows(&fresh));
        assert_eq!(planned(), MAX_PLANS);
    }
}
