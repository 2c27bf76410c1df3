//! `GET|POST /registrations`, `GET|PATCH|DELETE /registrations/{transport}/{jid}`.
//! Passwords are write-only: answers say `has_password`, never the password.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Actor, ApiJson, ApiPath, ApiQuery, ApiResult, next_offset, nullable};
use crate::Shared;
use crate::ops::{self, NewRegistration, OpError, PasswordChange, RegistrationFilter};

/// A user's registration with a transport.
#[derive(Serialize, ToSchema)]
pub(crate) struct Registration {
    jid: String,
    transport: String,
    legacy_id: String,
    /// Passwords are write-only.
    has_password: bool,
    options: BTreeMap<String, String>,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds.
    updated_at: i64,
    /// Unix seconds of the latest successful legacy login; null if never.
    last_login_at: Option<i64>,
    /// The state of the user's session on the transport (connecting, online,
    /// reconnecting, ending); null without one.
    #[schema(value_type = Option<String>)]
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Only this transport.
    transport: Option<String>,
    /// Case-insensitive part of the JID or legacy id.
    q: Option<String>,
    /// The former name of `q` (used when `q` is absent).
    search: Option<String>,
    /// Only users with a live session (true) or without (false).
    online: Option<bool>,
    /// The order: jid (default), transport, last_login (never logged in last), created.
    #[param(pattern = "^(jid|transport|last_login|created)$")]
    sort: Option<String>,
    /// asc or desc; by default A to Z for jid and transport, newest first for last_login
    /// and created.
    #[param(pattern = "^(asc|desc)$")]
    order: Option<String>,
    /// Page size (1 to 1000; default 100). Anything else is refused (400).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Rows to skip (the `next` of the previous page).
    offset: Option<u32>,
}

/// One page of registrations.
#[derive(Serialize, ToSchema)]
#[schema(as = RegistrationPage)]
pub(crate) struct Page {
    /// Matches on all pages.
    total: u64,
    offset: u32,
    limit: u32,
    /// The offset of the next page; null on the last.
    next: Option<u32>,
    items: Vec<Registration>,
}

/// Search, filter, sort and page through registrations
#[utoipa::path(get, path = "/registrations", operation_id = "listRegistrations",
    params(ListQuery),
    responses(
        (status = 200, description = "One page, the number of all matches and the offset of the next page", body = Page),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such transport"),
    ))]
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

/// A registration to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewRegistration)]
pub(crate) struct Create {
    /// The user's bare JID.
    jid: String,
    transport: String,
    legacy_id: String,
    password: Option<String>,
    #[serde(default)]
    options: BTreeMap<String, String>,
}

/// Register a user on their behalf
///
/// The user is logged in to the legacy network at their next presence to the transport.
/// The transport checks and normalises the legacy id and options.
#[utoipa::path(post, path = "/registrations", operation_id = "createRegistration",
    request_body = Create,
    responses(
        (status = 201, description = "The registration made", body = Registration),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such transport"),
        (status = 409, description = "Conflict"),
        (status = 413, description = "Too large"),
        (status = 422, description = "Refused"),
    ))]
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

/// One registration
#[utoipa::path(get, path = "/registrations/{transport}/{jid}", operation_id = "getRegistration",
    params(
        ("transport" = String, Path, description = "Transport name."),
        ("jid" = String, Path, description = "The user's bare JID (percent-encoded)."),
    ),
    responses(
        (status = 200, description = "The registration", body = Registration),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such registration"),
    ))]
pub(crate) async fn get(
    State(state): State<Shared>,
    ApiPath((transport, jid)): ApiPath<(String, String)>,
) -> ApiResult<Json<Registration>> {
    Ok(Json(
        ops::registration(&state.gw, &transport, &jid).await?.into(),
    ))
}

/// Changes to a registration; absent fields are kept.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RegistrationPatch)]
pub(crate) struct Patch {
    legacy_id: Option<String>,
    /// A non-empty string sets it, null removes it, absent keeps it; an empty string is
    /// refused (422).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    password: Option<Option<String>>,
    /// Replaces the whole map.
    options: Option<BTreeMap<String, String>>,
}

/// Edit a registration
///
/// Absent fields are kept. `password`: a non-empty string sets it, null removes it, an
/// empty string is refused (422). A session of the user ends and logs in again with the
/// new details.
#[utoipa::path(patch, path = "/registrations/{transport}/{jid}", operation_id = "patchRegistration",
    params(
        ("transport" = String, Path, description = "Transport name."),
        ("jid" = String, Path, description = "The user's bare JID (percent-encoded)."),
    ),
    request_body = Patch,
    responses(
        (status = 200, description = "The registration after the change", body = Registration),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such registration"),
        (status = 409, description = "Conflict"),
        (status = 413, description = "Too large"),
        (status = 422, description = "Refused"),
    ))]
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

/// Delete a registration (the user's session ends)
#[utoipa::path(delete, path = "/registrations/{transport}/{jid}", operation_id = "deleteRegistration",
    params(
        ("transport" = String, Path, description = "Transport name."),
        ("jid" = String, Path, description = "The user's bare JID (percent-encoded)."),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such registration"),
    ))]
pub(crate) async fn delete(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath((transport, jid)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    ops::delete_registration(&state.gw, &transport, &jid, &actor.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
