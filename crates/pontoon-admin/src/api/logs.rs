//! `GET /logs`: recent log events, newest first, paged by the events' `seq`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiQuery, ApiResult};
use crate::Shared;
use crate::logs::LogQuery;

const DEFAULT_LIMIT: usize = 100;

#[derive(Serialize)]
pub(crate) struct Entry {
    seq: u64,
    /// Unix seconds.
    time: i64,
    time_ms: i64,
    level: &'static str,
    target: String,
    transport: Option<String>,
    user: Option<String>,
    message: String,
}

#[derive(Deserialize)]
pub(crate) struct Query {
    transport: Option<String>,
    level: Option<String>,
    limit: Option<usize>,
    before: Option<u64>,
    after: Option<u64>,
}

pub(crate) async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<Query>,
) -> ApiResult<Json<Vec<Entry>>> {
    let min_level = match q.level.as_deref().filter(|l| !l.is_empty()) {
        None => None,
        Some(l) => Some(l.parse::<tracing::Level>().map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "bad_request",
                format!("unknown level {l:?} (error, warn, info, debug, trace)"),
            )
        })?),
    };
    let query = LogQuery {
        transport: q.transport.filter(|t| !t.is_empty()),
        min_level,
        limit: q
            .limit
            .unwrap_or(DEFAULT_LIMIT)
            .clamp(1, crate::logs::DEFAULT_CAPACITY),
        before: q.before,
        after: q.after,
    };
    Ok(Json(
        state
            .gw
            .logs
            .recent(&query)
            .into_iter()
            .map(|e| Entry {
                seq: e.seq,
                user: e.user,
                time: e.time_ms.div_euclid(1000),
                time_ms: e.time_ms,
                level: e.level.as_str(),
                target: e.target,
                transport: e.transport,
                message: e.message,
            })
            .collect(),
    ))
}
