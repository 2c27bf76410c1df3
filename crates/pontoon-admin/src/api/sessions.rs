//! `GET /sessions` (filtered, one page at a time), `DELETE /sessions/{transport}/{jid}`.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Actor, ApiPath, ApiQuery, ApiResult, next_offset};
use crate::Shared;
use crate::ops::{self, SessionFilter};

/// A user's session with a transport.
#[derive(Serialize, ToSchema)]
pub(crate) struct Session {
    transport: String,
    /// Bare JID.
    user: String,
    /// The legacy account the session logs in as.
    legacy_id: String,
    /// connecting, online, reconnecting or ending.
    #[schema(value_type = String)]
    state: &'static str,
    /// Full JIDs available to the transport.
    resources: Vec<String>,
    /// Legacy ids of the rooms joined.
    rooms: Vec<String>,
    /// Unix seconds.
    since: i64,
    /// The latest problem the session met (a refused login, a lost connection, a message
    /// not delivered), at most 200 bytes.
    last_error: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only this transport.
    transport: Option<String>,
    /// Only sessions in this state.
    #[param(pattern = "^(connecting|online|reconnecting|ending)$")]
    state: Option<String>,
    /// Case-insensitive part of the user's JID or the legacy id.
    q: Option<String>,
    /// Page size (1 to 1000; default 100). Anything else is refused (400).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Sessions to skip (the `next` of the previous page).
    offset: Option<u32>,
}

/// One page of sessions.
#[derive(Serialize, ToSchema)]
#[schema(as = SessionPage)]
pub(crate) struct Page {
    /// Matches on all pages.
    total: u64,
    offset: u32,
    limit: u32,
    /// The offset of the next page; null on the last.
    next: Option<u32>,
    items: Vec<Session>,
}

/// Search, filter and page through the sessions now
#[utoipa::path(get, path = "/sessions", operation_id = "listSessions",
    params(ListQuery),
    responses(
        (status = 200, description = "One page (sorted by user then transport), the number of all matches and the offset of the next page", body = Page),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such transport"),
    ))]
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

/// End a user's session (they log in again at their next presence)
#[utoipa::path(delete, path = "/sessions/{transport}/{jid}", operation_id = "disconnectSession",
    params(
        ("transport" = String, Path, description = "Transport name."),
        ("jid" = String, Path, description = "The user's bare JID (percent-encoded)."),
    ),
    responses(
        (status = 204, description = "The session is ending"),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such session"),
    ))]
pub(crate) async fn delete(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath((transport, jid)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::disconnect(&state.gw, &transport, &jid, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
