//! `GET /sessions`, `DELETE /sessions/{transport}/{jid}`.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Actor, ApiPath, ApiQuery, ApiResult};
use crate::Shared;
use crate::ops;

#[derive(Serialize)]
pub(crate) struct Session {
    transport: String,
    user: String,
    legacy_id: Option<String>,
    state: &'static str,
    resources: Vec<String>,
    rooms: Vec<String>,
    since: i64,
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    transport: Option<String>,
}

pub(crate) async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Session>>> {
    let transport = q.transport.as_deref().filter(|t| !t.is_empty());
    let list = ops::sessions(&state.gw, transport).await?;
    Ok(Json(
        list.into_iter()
            .map(|(transport, s)| Session {
                transport,
                user: s.user.to_string(),
                legacy_id: s.legacy_id,
                state: s.state.as_str(),
                resources: s.resources,
                rooms: s.rooms,
                since: s.since,
            })
            .collect(),
    ))
}

pub(crate) async fn delete(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath((transport, jid)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::disconnect(&state.gw, &transport, &jid, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
