//! `/registrations`: search and page through registrations, add one on a user's behalf,
//! edit (the password is write-only: never shown, empty keeps it) and delete.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Console, Layout, St, TokenForm, render, segment, unavailable};
use crate::ops::{self, NewRegistration, OpError, PasswordChange};
use crate::web::{format_options, parse_options, utc};

/// Rows per page.
const PER_PAGE: u32 = 50;

struct Row {
    jid: String,
    transport: String,
    legacy_id: String,
    has_password: bool,
    updated: String,
    href: String,
}

#[derive(Template)]
#[template(path = "registrations.html")]
struct List {
    layout: Layout,
    rows: Vec<Row>,
    transports: Vec<String>,
    q: String,
    transport: String,
    total: u64,
    page: u32,
    pages: u32,
    prev: Option<String>,
    next: Option<String>,
}

impl List {
    fn is_transport(&self, t: &str) -> bool {
        t == self.transport
    }
}

/// The filter's field is not called `transport`: the add form's select is, and tools
/// that pick the first `select[name=transport]` must find that one.
#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default, rename = "in_transport")]
    transport: String,
    page: Option<u32>,
}

fn page_href(q: &str, transport: &str, page: u32) -> String {
    format!(
        "/registrations?q={}&in_transport={}&page={page}",
        segment(q),
        segment(transport)
    )
}

pub(crate) async fn list(
    State(state): St,
    console: Console,
    Query(lq): Query<ListQuery>,
) -> Response {
    let page = lq.page.unwrap_or(1).max(1);
    let transport = Some(lq.transport.as_str()).filter(|t| !t.is_empty());
    let offset = (page - 1).saturating_mul(PER_PAGE);
    let (total, regs) =
        match ops::list_registrations(&state.gw, transport, Some(&lq.q), PER_PAGE, offset).await {
            Ok(r) => r,
            Err(OpError::NotFound(_)) => (0, Vec::new()),
            Err(e) => return unavailable(&e),
        };
    let pages = u32::try_from(total.div_ceil(u64::from(PER_PAGE)))
        .unwrap_or(u32::MAX)
        .max(1);
    let rows = regs
        .into_iter()
        .map(|r| Row {
            href: format!(
                "/registrations/{}/{}",
                segment(&r.transport),
                segment(&r.jid)
            ),
            has_password: r.secret.is_some(),
            updated: utc(r.updated_at),
            jid: r.jid,
            transport: r.transport,
            legacy_id: r.legacy_id,
        })
        .collect();
    render(
        StatusCode::OK,
        &List {
            layout: console.layout(&state, "Registrations"),
            rows,
            transports: state
                .gw
                .services
                .iter()
                .map(|c| c.transport().to_owned())
                .collect(),
            prev: (page > 1).then(|| page_href(&lq.q, &lq.transport, page - 1)),
            next: (page < pages).then(|| page_href(&lq.q, &lq.transport, page + 1)),
            q: lq.q,
            transport: lq.transport,
            total,
            page,
            pages,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    jid: String,
    #[serde(default)]
    transport: String,
    #[serde(default)]
    legacy_id: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    options: String,
}

pub(crate) async fn add(
    State(state): St,
    console: Console,
    axum::Form(f): axum::Form<AddForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let outcome = match parse_options(&f.options) {
        Err(e) => Err(OpError::Invalid(format!("options: {e}"))),
        Ok(options) => {
            let new = NewRegistration {
                jid: f.jid,
                transport: f.transport,
                legacy_id: f.legacy_id,
                password: Some(f.password).filter(|p| !p.is_empty()),
                options,
            };
            ops::add_registration(&state.gw, new, &console.actor())
                .await
                .map(|r| {
                    format!(
                        "{} is registered with {} as {}.",
                        r.jid, r.transport, r.legacy_id
                    )
                })
        }
    };
    console.back(&state, "/registrations", outcome)
}

#[derive(Template)]
#[template(path = "registration.html")]
struct Edit {
    layout: Layout,
    jid: String,
    transport: String,
    legacy_id: String,
    has_password: bool,
    options: String,
    created: String,
    updated: String,
    action: String,
}

pub(crate) async fn edit_form(
    State(state): St,
    console: Console,
    Path((transport, jid)): Path<(String, String)>,
) -> Response {
    let r = match ops::registration(&state.gw, &transport, &jid).await {
        Ok(r) => r,
        Err(e) => return unavailable(&e),
    };
    render(
        StatusCode::OK,
        &Edit {
            layout: console.layout(&state, "Edit registration"),
            action: format!(
                "/registrations/{}/{}",
                segment(&r.transport),
                segment(&r.jid)
            ),
            has_password: r.secret.is_some(),
            options: format_options(&r.options),
            created: utc(r.created_at),
            updated: utc(r.updated_at),
            jid: r.jid,
            transport: r.transport,
            legacy_id: r.legacy_id,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    legacy_id: String,
    #[serde(default)]
    password: String,
    clear_password: Option<String>,
    #[serde(default)]
    options: String,
}

pub(crate) async fn edit(
    State(state): St,
    console: Console,
    Path((transport, jid)): Path<(String, String)>,
    axum::Form(f): axum::Form<EditForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let back = format!("/registrations/{}/{}", segment(&transport), segment(&jid));
    let password = if f.clear_password.is_some() {
        PasswordChange::Clear
    } else if f.password.is_empty() {
        PasswordChange::Keep
    } else {
        PasswordChange::Set(f.password)
    };
    let outcome = match parse_options(&f.options) {
        Err(e) => Err(OpError::Invalid(format!("options: {e}"))),
        Ok(options) => ops::edit_registration(
            &state.gw,
            &transport,
            &jid,
            Some(f.legacy_id).filter(|l| !l.trim().is_empty()),
            password,
            Some(options),
            &console.actor(),
        )
        .await
        .map(|r| format!("The registration of {} is saved.", r.jid)),
    };
    console.back(&state, &back, outcome)
}

pub(crate) async fn delete(
    State(state): St,
    console: Console,
    Path((transport, jid)): Path<(String, String)>,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let outcome = ops::delete_registration(&state.gw, &transport, &jid, &console.actor())
        .await
        .map(|()| format!("The registration of {jid} with {transport} is deleted."));
    console.back(&state, "/registrations", outcome)
}
