//! `GET|POST /registrations`, `GET|PATCH|DELETE /registrations/{transport}/{jid}`.
//! Passwords are write-only: answers say `has_password`, never the password.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Actor, ApiJson, ApiPath, ApiQuery, ApiResult, nullable};
use crate::Shared;
use crate::ops::{self, NewRegistration, OpError, PasswordChange};

/// Default and largest page size.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

#[derive(Serialize)]
pub(crate) struct Registration {
    jid: String,
    transport: String,
    legacy_id: String,
    has_password: bool,
    options: BTreeMap<String, String>,
    created_at: i64,
    updated_at: i64,
}

impl From<pontoon_store::Registration> for Registration {
    fn from(r: pontoon_store::Registration) -> Self {
        Registration {
            has_password: r.secret.is_some(),
            jid: r.jid,
            transport: r.transport,
            legacy_id: r.legacy_id,
            options: r.options,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    transport: Option<String>,
    search: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Serialize)]
pub(crate) struct Page {
    total: u64,
    items: Vec<Registration>,
}

pub(crate) async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page>> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let transport = q.transport.as_deref().filter(|t| !t.is_empty());
    let (total, items) = ops::list_registrations(
        &state.gw,
        transport,
        q.search.as_deref(),
        limit,
        q.offset.unwrap_or(0),
    )
    .await?;
    Ok(Json(Page {
        total,
        items: items.into_iter().map(Registration::from).collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Create {
    jid: String,
    transport: String,
    legacy_id: String,
    password: Option<String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

pub(crate) async fn create(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiJson(c): ApiJson<Create>,
) -> ApiResult<(StatusCode, Json<Registration>)> {
    let reg = ops::add_registration(
        &state.gw,
        NewRegistration {
            jid: c.jid,
            transport: c.transport,
            legacy_id: c.legacy_id,
            password: c.password,
            options: c.options,
        },
        &actor.0,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(reg.into())))
}

pub(crate) async fn get(
    State(state): State<Shared>,
    ApiPath((transport, jid)): ApiPath<(String, String)>,
) -> ApiResult<Json<Registration>> {
    Ok(Json(
        ops::registration(&state.gw, &transport, &jid).await?.into(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Patch {
    legacy_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    password: Option<Option<String>>,
    options: Option<BTreeMap<String, String>>,
}

pub(crate) async fn patch(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath((transport, jid)): ApiPath<(String, String)>,
    ApiJson(p): ApiJson<Patch>,
) -> ApiResult<Json<Registration>> {
    let password = match p.password {
        None => PasswordChange::Keep,
        Some(None) => PasswordChange::Clear,
        // Most likely an empty form field: clearing the password must be asked for.
        Some(Some(pw)) if pw.is_empty() => {
            return Err(OpError::Invalid(
                "password: an empty string is not a password; send null to remove the stored one, or leave the field out to keep it"
                    .to_owned(),
            )
            .into());
        }
        Some(Some(pw)) => PasswordChange::Set(pw),
    };
    let reg = ops::edit_registration(
        &state.gw,
        &transport,
        &jid,
        p.legacy_id,
        password,
        p.options,
        &actor.0,
    )
    .await?;
    Ok(Json(reg.into()))
}

pub(crate) async fn delete(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath((transport, jid)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::delete_registration(&state.gw, &transport, &jid, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
