//! Errors of the engine. Bad *records* are not errors: decoders report them
//! as [`crate::sources::Rejection`]s and go on.

/// Everything that can stop the engine from processing a batch.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("query engine: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    Reference(#[from] sample_data::ReferenceError),
    #[error("unexpected query result: {0}")]
    Schema(String),
    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("archive: {0}")]
    Io(String),
    #[error("reading input: {0}")]
    Input(#[from] std::io::Error),
    #[error("{0}")]
    Worker(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
