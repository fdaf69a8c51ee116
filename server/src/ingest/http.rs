//! `POST /api/v1/events`: NDJSON, CSV or Parquet in (optionally gzip), a
//! per-record report out. Authenticated by a source token
//! (`Authorization: Bearer gps_…`) bound to a set of units.

use super::{IngestError, ingest};
use crate::api::error::ApiError;
use crate::app::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pipelines::sources::Format;

pub async fn post_events(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let source = match authenticate(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-ndjson");
    let Some(format) = Format::from_media_type(ctype) else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content-type {ctype:?} is not supported; send application/x-ndjson, text/csv or application/vnd.apache.parquet"
            ),
        );
    };
    let body = match headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        None | Some("identity") => body,
        Some("gzip") => match gunzip(&body, state.config.server.max_body_bytes) {
            Ok(b) => b,
            Err((status, message)) => return error(status, message),
        },
        Some(other) => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content-encoding {other:?} is not supported; send gzip or nothing"),
            );
        }
    };
    match ingest(&state, &source, format, body, true).await {
        Ok(report) => Json(report).into_response(),
        Err(e @ IngestError::Throttled { retry_after, .. }) => ApiError {
            retry_after: Some(retry_after.as_secs().max(1)),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "{e}: too many of this source's records were rejected in the last minute (rejected.max_per_minute); fix the sender, nothing of this request was read"
                ),
            )
        }
        .into_response(),
        Err(e @ (IngestError::Log(_) | IngestError::Rejects(_))) => {
            tracing::error!("ingest: {e}");
            ApiError {
                retry_after: Some(5),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage cannot take writes now (disk full or failing); retry this request whole, nothing acknowledged is lost",
                )
            }
            .into_response()
        }
        Err(e) => {
            tracing::error!("ingest: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ingest failed; nothing of this request was stored".into(),
            )
        }
    }
}

/// The live source a request's bearer token belongs to, or the 401/503
/// answer. The answer never says whether a token exists but was revoked.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<crate::store::SourceInfo, Response> {
    let unauthorized = |message: &str| {
        let mut r = error(StatusCode::UNAUTHORIZED, message.to_owned());
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"govpulse ingest\""),
        );
        r
    };
    let Some(token) = crate::auth::bearer_token(headers).map(str::to_owned) else {
        return Err(unauthorized(
            "send the source token as 'Authorization: Bearer <token>' (create one with `govpulse sources add`)",
        ));
    };
    let store = state.store.clone();
    match tokio::task::spawn_blocking(move || store.source_by_token(&token)).await {
        Ok(Ok(Some(source))) => Ok(source),
        Ok(Ok(None)) => Err(unauthorized(
            "the source token is not valid (unknown or revoked)",
        )),
        Ok(Err(e)) => {
            tracing::error!("source lookup: {e}");
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "sources cannot be checked now; retry".into(),
            ))
        }
        Err(e) => {
            tracing::error!("source lookup task: {e}");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "sources cannot be checked".into(),
            ))
        }
    }
}

/// Inflate a gzip body, refusing anything that inflates past `limit` bytes
/// (the same limit as an uncompressed body, so a small bomb cannot fill memory).
/// Every member of a multi-member body is read (RFC 1952 allows
/// concatenated members; `cat a.gz b.gz` makes them), and bytes after the
/// last member that do not start another one are refused: silently dropping
/// either would lose records the source believes were sent.
fn gunzip(body: &[u8], limit: usize) -> Result<Bytes, (StatusCode, String)> {
    use std::io::Read;
    const MAGIC: [u8; 2] = [0x1f, 0x8b];
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body inflates past {limit} bytes; send smaller batches"),
        )
    };
    let mut out = Vec::new();
    let mut rest = body;
    let mut member = 0usize;
    loop {
        member += 1;
        // `bufread` decoders consume exactly one member from the slice, so
        // what is left afterwards is the next member or trailing data.
        let mut decoder = flate2::bufread::GzDecoder::new(rest);
        let room = (limit + 1).saturating_sub(out.len()) as u64;
        if let Err(e) = decoder.by_ref().take(room).read_to_end(&mut out) {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("Content-Encoding: gzip member {member} of the body does not inflate: {e}"),
            ));
        }
        if out.len() > limit {
            return Err(too_large());
        }
        rest = decoder.into_inner();
        if rest.is_empty() {
            return Ok(out.into());
        }
        if !rest.starts_with(&MAGIC) {
            return Err((
                StatusCode::BAD_REQUEST,
                format!(
                    "Content-Encoding: gzip body has {} bytes of trailing data after member {member} that are not another gzip member; send only gzip members",
                    rest.len()
                ),
            ));
        }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    ApiError::new(status, message).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_gzip_member_is_read() {
        let mut body = gz(b"line one\n");
        body.extend(gz(b"line two\n"));
        body.extend(gz(b""));
        body.extend(gz(b"line three\n"));
        let out = gunzip(&body, 1024).unwrap();
        assert_eq!(&out[..], b"line one\nline two\nline three\n");
    }

    #[test]
    fn trailing_garbage_is_refused_naming_the_encoding() {
        let mut body = gz(b"line one\n");
        body.extend(b"junk");
        let (status, message) = gunzip(&body, 1024).unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.starts_with("Content-Encoding"), "{message}");
        assert!(message.contains("4 bytes of trailing data"), "{message}");
        // A truncated second member is a broken member, not trailing data.
        let mut body = gz(b"line one\n");
        let second = gz(b"line two\n");
        body.extend(&second[..second.len() - 3]);
        let (status, message) = gunzip(&body, 1024).unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.contains("member 2"), "{message}");
    }

    #[test]
    fn the_inflate_limit_counts_every_member() {
        let mut body = gz(&[b'a'; 600]);
        body.extend(gz(&[b'b'; 600]));
        assert_eq!(
            gunzip(&body, 1000).unwrap_err().0,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(gunzip(&body, 1200).unwrap().len(), 1200);
    }
}
