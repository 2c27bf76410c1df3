//! `GET /audit`: the audit log of operator actions, newest first, searched and paged.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiQuery, ApiResult, next_offset};
use crate::Shared;
use crate::ops;

/// One operator action.
#[derive(Serialize, ToSchema)]
pub(crate) struct AuditEntry {
    /// Increasing with time.
    id: i64,
    /// Unix seconds.
    time: i64,
    /// Who: `console:<administrator>`, `token:<API token name>`, `cli` (the command line),
    /// or the XMPP administrator's bare JID (ad-hoc commands).
    actor: String,
    /// policy.change, registration.add, registration.edit, registration.delete,
    /// badge.on, badge.off, session.end or announcement.
    action: String,
    transport: String,
    /// The user acted on (bare JID), if any.
    subject: Option<String>,
    /// What changed (never a password or an option's value).
    detail: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Case-insensitive part of the actor, action, transport, user or detail.
    q: Option<String>,
    /// Page size (1 to 1000; default 100). Anything else is refused (400).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Entries to skip (the `next` of the previous page).
    offset: Option<u32>,
}

/// One page of the audit log.
#[derive(Serialize, ToSchema)]
#[schema(as = AuditPage)]
pub(crate) struct Page {
    /// Matches on all pages.
    total: u64,
    offset: u32,
    limit: u32,
    /// The offset of the next page; null on the last.
    next: Option<u32>,
    items: Vec<AuditEntry>,
}

/// Search and page through the audit log of operator actions
#[utoipa::path(get, path = "/audit", operation_id = "listAudit",
    params(ListQuery),
    responses(
        (status = 200, description = "One page (newest first), the number of all matches and the offset of the next page", body = Page),
        (status = 400, description = "Bad request"),
    ))]
pub(crate) async fn list(
    State(state): State<Shared>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page>> {
    let limit = ops::page_limit(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    let page = ops::audit_page(&state.gw, q.q.as_deref().unwrap_or(""), limit, offset).await?;
    Ok(Json(Page {
        total: page.total,
        offset,
        limit,
        next: next_offset(offset, limit, page.total),
        items: page
            .items
            .into_iter()
            .map(|e| AuditEntry {
                id: e.id,
                time: e.time,
                actor: e.actor,
                action: e.action,
                transport: e.transport,
                subject: e.subject,
                detail: e.detail,
            })
            .collect(),
    }))
}
