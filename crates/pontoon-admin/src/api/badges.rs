//! `GET|PUT /badges/{transport}/{jid}`: a user's presence badge (off unless they or an
//! operator turned it on), the switch behind the user's own `badge on|off` command.

use axum::Json;
use axum::extract::{Extension, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Actor, ApiJson, ApiPath, ApiResult};
use crate::Shared;
use crate::ops;

/// Whether a user shows their presence on a transport over HTTP.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Badge {
    /// On: the file listener serves the user's badge at
    /// `/presence/{transport}/{jid}.svg` and `.json`.
    enabled: bool,
}

/// Whether a user's presence badge is on
#[utoipa::path(get, path = "/badges/{transport}/{jid}", operation_id = "getBadge",
    params(
        ("transport" = String, Path, description = "Transport name."),
        ("jid" = String, Path, description = "The user's bare JID (percent-encoded)."),
    ),
    responses(
        (status = 200, description = "The switch", body = Badge),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such transport, or not a user's JID"),
    ))]
pub(crate) async fn get(
    State(state): State<Shared>,
    ApiPath((transport, jid)): ApiPath<(String, String)>,
) -> ApiResult<Json<Badge>> {
    let enabled = ops::badge(&state.gw, &transport, &jid).await?;
    Ok(Json(Badge { enabled }))
}

/// Turn a user's presence badge on or off
///
/// Presence is personal: users turn their badge on themselves (`badge on` to the
/// transport); this switch is for an operator acting on their request, or stopping one.
#[utoipa::path(put, path = "/badges/{transport}/{jid}", operation_id = "putBadge",
    params(
        ("transport" = String, Path, description = "Transport name."),
        ("jid" = String, Path, description = "The user's bare JID (percent-encoded)."),
    ),
    request_body = Badge,
    responses(
        (status = 200, description = "The switch after the change", body = Badge),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such transport, or not a user's JID"),
    ))]
pub(crate) async fn put(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath((transport, jid)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<Badge>,
) -> ApiResult<Json<Badge>> {
    ops::set_badge(&state.gw, &transport, &jid, b.enabled, &actor.0).await?;
    Ok(Json(b))
}
