//! `/audit`: the audit log of operator actions, newest first, searched and paged.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::{Console, Layout, Pager, St, render, segment, unavailable};
use crate::ops;
use crate::web::utc;

/// Entries a page.
const PER_PAGE: u32 = 100;

struct Row {
    time: String,
    actor: String,
    action: String,
    transport: String,
    subject: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct Audit {
    layout: Layout,
    rows: Vec<Row>,
    q: String,
    total: u64,
    newer: Option<String>,
    older: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    q: String,
    page: Option<u32>,
}

pub(crate) async fn page(
    State(state): St,
    console: Console,
    Query(aq): Query<AuditQuery>,
) -> Response {
    let page = aq.page.unwrap_or(1).max(1);
    let offset = (page - 1).saturating_mul(PER_PAGE);
    let listed = match ops::audit_page(&state.gw, &aq.q, PER_PAGE, offset).await {
        Ok(p) => p,
        Err(e) => return unavailable(&e),
    };
    let href = |p: u32| format!("/audit?q={}&page={p}", segment(&aq.q));
    let pager = Pager::new(page, PER_PAGE, listed.total, href);
    let rows = listed
        .items
        .into_iter()
        .map(|e| Row {
            time: utc(e.time),
            actor: e.actor,
            action: e.action,
            transport: e.transport,
            subject: e.subject.unwrap_or_default(),
            detail: e.detail,
        })
        .collect();
    render(
        StatusCode::OK,
        &Audit {
            layout: console.layout(&state, "Audit"),
            rows,
            q: aq.q,
            total: pager.total,
            // Newest first: the previous page is newer.
            newer: pager.prev,
            older: pager.next,
        },
    )
}
