//! `GET /sessions` (filtered, one page at a time), `DELETE /sessions/{transport}/{jid}`.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Actor, ApiPath, ApiQuery, ApiResult, next_offset};
use crate::Shared;
use crate::ops::{self, SessionFilter};

#[derive(Serialize)]
pub(crate) struct Session {
    transport: String,
    user: String,
    legacy_id: String,
    state: &'static str,
    resources: Vec<String>,
    rooms: Vec<String>,
    since: i64,
    last_error: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    transport: Option<String>,
    state: Option<String>,
    q: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// One page: `next` is the `offset` of the next page, `null` on the last.
#[derive(Serialize)]
pub(crate) struct Page {
    total: u64,
    offset: u32,
    limit: u32,
    next: Option<u32>,
    items: Vec<Session>,
}

pub(crate) async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page>> {
    let limit = ops::page_limit(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    let filter = SessionFilter {
        transport: q.transport.filter(|t| !t.is_empty()),
        state: match q.state.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(ops::state_named(s)?),
            None => None,
        },
        search: q.q,
    };
    let page = ops::sessions_page(&state.gw, &filter, limit, offset).await?;
    // An incomplete list would be read as the whole truth by a script.
    if let Some((_, e)) = page.problems.into_iter().next() {
        return Err(e.into());
    }
    let total = u64::try_from(page.total).unwrap_or(u64::MAX);
    Ok(Json(Page {
        total,
        offset,
        limit,
        next: next_offset(offset, limit, total),
        items: page
            .items
            .into_iter()
            .map(|(transport, s)| Session {
                transport,
                user: s.user.to_string(),
                legacy_id: s.legacy_id,
                state: s.state.as_str(),
                resources: s.resources,
                rooms: s.rooms,
                since: s.since,
                last_error: s.last_error,
            })
            .collect(),
    }))
}

pub(crate) async fn delete(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath((transport, jid)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::disconnect(&state.gw, &transport, &jid, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
