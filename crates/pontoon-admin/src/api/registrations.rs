//! `GET|POST /registrations`, `GET|PATCH|DELETE /registrations/{transport}/{jid}`.
//! Passwords are write-only: answers say `has_password`, never the password.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Actor, ApiJson, ApiPath, ApiQuery, ApiResult, next_offset, nullable};
use crate::Shared;
use crate::ops::{self, NewRegistration, OpError, PasswordChange, RegistrationFilter};

#[derive(Serialize)]
pub(crate) struct Registration {
    jid: String,
    transport: String,
    legacy_id: String,
    has_password: bool,
    options: BTreeMap<String, String>,
    created_at: i64,
    updated_at: i64,
    last_login_at: Option<i64>,
    /// The state of the user's session on the transport, `null` without one.
    session: Option<&'static str>,
}

impl Registration {
    fn listed((r, state): ops::Listed) -> Self {
        let mut out = Registration::from(r);
        out.session = state.map(|s| s.as_str());
        out
    }
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
            last_login_at: r.last_login_at,
            session: None,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    transport: Option<String>,
    q: Option<String>,
    /// The former name of `q`.
    search: Option<String>,
    online: Option<bool>,
    sort: Option<String>,
    order: Option<String>,
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
    items: Vec<Registration>,
}

pub(crate) async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page>> {
    let limit = ops::page_limit(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    let (sort, descending) = ops::sort_named(
        q.sort.as_deref().unwrap_or_default(),
        q.order.as_deref().unwrap_or_default(),
    )?;
    let filter = RegistrationFilter {
        transport: q.transport.filter(|t| !t.is_empty()),
        search: q.q.or(q.search),
        online: q.online,
        sort,
        descending,
    };
    let (total, items) = ops::list_registrations(&state.gw, &filter, limit, offset).await?;
    Ok(Json(Page {
        total,
        offset,
        limit,
        next: next_offset(offset, limit, total),
        items: items.into_iter().map(Registration::listed).collect(),
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
