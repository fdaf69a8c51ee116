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

/// The name the current micro-batch is registered under.
pub const BATCH_TABLE: &str = "batch";

/// Run `sql` over `batch`, registered in `ctx` as [`BATCH_TABLE`] for the
/// length of the query (and unregistered whatever the outcome).
pub(crate) async fn query_batch(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    batch: arrow::record_batch::RecordBatch,
) -> crate::Result<Vec<arrow::record_batch::RecordBatch>> {
    ctx.register_batch(BATCH_TABLE, batch)?;
    let result = async { ctx.sql(sql).await?.collect().await }.await;
    ctx.deregister_table(BATCH_TABLE)?;
    Ok(result?)
}
