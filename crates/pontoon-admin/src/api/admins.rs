//! `GET /admins`, `PUT /admins/{name}`, `DELETE /admins/{name}`; `GET /tokens`,
//! `POST /tokens`, `DELETE /tokens/{name}`: console administrators and API tokens, through
//! `ops::admins` like the console's Administrators page and `pontoon admin`.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Actor, ApiJson, ApiPath, ApiResult};
use crate::Shared;
use crate::ops::admins::{self, AdminChange, Remover};

/// A console administrator (the password is never returned).
#[derive(Serialize, ToSchema)]
pub(crate) struct Admin {
    name: String,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds of the latest password change.
    updated_at: i64,
}

/// List the console's administrators, by name (all at once)
#[utoipa::path(get, path = "/admins", operation_id = "listAdmins",
    responses((status = 200, description = "Every administrator", body = [Admin])))]
pub(crate) async fn list_admins(State(state): State<Shared>) -> ApiResult<Json<Vec<Admin>>> {
    let list = admins::list_admins(&state.gw.store).await?;
    Ok(Json(
        list.into_iter()
            .map(|a| Admin {
                name: a.name,
                created_at: a.created_at,
                updated_at: a.updated_at,
            })
            .collect(),
    ))
}

/// A new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordBody {
    /// At least 8 characters, at most 1024 bytes.
    password: String,
}

/// Add an administrator, or set a new password for one (their console sessions end)
#[utoipa::path(put, path = "/admins/{name}", operation_id = "putAdmin",
    params(("name" = String, Path, description = "Login name: 1 to 64 characters, no spaces.")),
    request_body = PasswordBody,
    responses(
        (status = 201, description = "The administrator is added"),
        (status = 204, description = "The password is changed"),
        (status = 400, description = "Bad request"),
        (status = 422, description = "A bad name or a password that breaks the rule"),
    ))]
pub(crate) async fn put_admin(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<StatusCode> {
    Ok(
        match admins::put_admin(&state.gw.store, &name, &body.password, &actor.0).await? {
            AdminChange::Added => StatusCode::CREATED,
            AdminChange::PasswordChanged => StatusCode::NO_CONTENT,
        },
    )
}

/// Remove an administrator (never the last one; their console sessions end)
#[utoipa::path(delete, path = "/admins/{name}", operation_id = "deleteAdmin",
    params(("name" = String, Path, description = "Login name.")),
    responses(
        (status = 204, description = "The administrator is removed"),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such administrator"),
        (status = 422, description = "The last administrator"),
    ))]
pub(crate) async fn delete_admin(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    admins::delete_admin(&state.gw.store, &name, Remover::Program, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API token as listed (the token itself is not kept).
#[derive(Serialize, ToSchema)]
pub(crate) struct Token {
    name: String,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds of the latest use, to the minute; null if never used.
    last_used_at: Option<i64>,
}

/// List the API tokens, by name (all at once)
#[utoipa::path(get, path = "/tokens", operation_id = "listTokens",
    responses((status = 200, description = "Every token", body = [Token])))]
pub(crate) async fn list_tokens(State(state): State<Shared>) -> ApiResult<Json<Vec<Token>>> {
    let list = admins::list_tokens(&state.gw.store).await?;
    Ok(Json(
        list.into_iter()
            .map(|t| Token {
                name: t.name,
                created_at: t.created_at,
                last_used_at: t.last_used_at,
            })
            .collect(),
    ))
}

/// A token to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    /// Who or what uses it: 1 to 64 characters, no spaces.
    name: String,
}

/// A token just created: the only time it is shown.
#[derive(Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    name: String,
    /// Send it as `Authorization: Bearer <token>`.
    token: String,
}

/// Create an API token (shown in this answer only)
#[utoipa::path(post, path = "/tokens", operation_id = "createToken",
    request_body = NewToken,
    responses(
        (status = 201, description = "The token, shown this once", body = CreatedToken),
        (status = 400, description = "Bad request"),
        (status = 409, description = "A token of that name exists"),
        (status = 422, description = "A bad name"),
    ))]
pub(crate) async fn create_token(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiJson(body): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let token = admins::create_token(&state.gw.store, &body.name, &actor.0).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            name: body.name,
            token,
        }),
    ))
}

/// Revoke an API token (requests presenting it are refused from now on)
#[utoipa::path(delete, path = "/tokens/{name}", operation_id = "revokeToken",
    params(("name" = String, Path, description = "The token's name.")),
    responses(
        (status = 204, description = "The token is revoked"),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such token"),
    ))]
pub(crate) async fn revoke_token(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    admins::revoke_token(&state.gw.store, &name, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
