//! `GET /logs`: recent log events, newest first, paged by the events' `seq`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiQuery, ApiResult};
use crate::Shared;
use crate::logs::LogQuery;

const DEFAULT_LIMIT: usize = 100;

/// One log event.
#[derive(Serialize, ToSchema)]
#[schema(as = LogEntry)]
pub(crate) struct Entry {
    /// The event's number, increasing, never reused: the cursor of before and after.
    seq: u64,
    /// Unix seconds.
    time: i64,
    /// Unix milliseconds.
    time_ms: i64,
    /// ERROR, WARN, INFO, DEBUG or TRACE.
    #[schema(value_type = String)]
    level: &'static str,
    target: String,
    transport: Option<String>,
    /// The user the event is about (its own user field, or its session's).
    user: Option<String>,
    message: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Query {
    /// Only events of this transport.
    transport: Option<String>,
    /// Only events at least this severe (error, warn, info, debug, trace).
    level: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Only events older than this `seq` (the next, older page).
    before: Option<u64>,
    /// Only events newer than this `seq` (the previous, newer page: the oldest `limit` of
    /// them, newest first).
    after: Option<u64>,
}

/// Recent log events, newest first
#[utoipa::path(get, path = "/logs", operation_id = "listLogs",
    params(Query),
    responses(
        (status = 200, description = "The events", body = Vec<Entry>),
        (status = 400, description = "Bad request"),
    ))]
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
