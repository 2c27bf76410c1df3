//! `/registrations`: search and page through registrations, add one on a user's behalf,
//! edit (the password is write-only: never shown, empty keeps it), switch the user's
//! presence badge and delete.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Confirm, ConfirmForm, Console, Layout, Pager, St, render, segment, unavailable};
use crate::ops::{self, NewRegistration, OpError, PasswordChange, RegistrationFilter};
use crate::web::{format_options, parse_options, utc};

/// The page sizes offered.
const PAGE_SIZES: [u32; 4] = [25, 50, 100, 200];
/// The page size unless another is chosen.
const PER_PAGE: u32 = 50;

struct Row {
    jid: String,
    transport: String,
    legacy_id: String,
    has_password: bool,
    /// The session's state, or `offline`.
    session: &'static str,
    last_login: String,
    created: String,
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
    online: String,
    sort: String,
    order: String,
    per_page: u32,
    sizes: [u32; 4],
    sorts: [(&'static str, &'static str); 4],
    problem: Option<String>,
    pager: Pager,
}

impl List {
    fn is_transport(&self, t: &str) -> bool {
        t == self.transport
    }

    fn is_online(&self, o: &str) -> bool {
        o == self.online
    }

    fn is_sort(&self, s: &str) -> bool {
        s == self.sort
    }

    fn is_order(&self, o: &str) -> bool {
        o == self.order
    }

    fn is_size(&self, n: &u32) -> bool {
        *n == self.per_page
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
    /// `yes`, `no` or empty (everyone).
    #[serde(default)]
    online: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    order: String,
    per_page: Option<u32>,
    page: Option<u32>,
}

impl ListQuery {
    /// The link to page `page` of the same list.
    fn href(&self, per_page: u32, page: u32) -> String {
        format!(
            "/registrations?q={}&in_transport={}&online={}&sort={}&order={}&per_page={per_page}&page={page}",
            segment(&self.q),
            segment(&self.transport),
            segment(&self.online),
            segment(&self.sort),
            segment(&self.order),
        )
    }
}

pub(crate) async fn list(
    State(state): St,
    console: Console,
    Query(lq): Query<ListQuery>,
) -> Response {
    let page = lq.page.unwrap_or(1).max(1);
    let per_page = lq
        .per_page
        .filter(|n| PAGE_SIZES.contains(n))
        .unwrap_or(PER_PAGE);
    // A hand-edited sort or order falls back to the default order.
    let (sort, descending) = ops::sort_named(&lq.sort, &lq.order).unwrap_or_default();
    let filter = RegistrationFilter {
        transport: Some(lq.transport.clone()).filter(|t| !t.is_empty()),
        search: Some(lq.q.clone()),
        online: match lq.online.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
        sort,
        descending,
    };
    let offset = (page - 1).saturating_mul(per_page);
    let mut problem = None;
    let (total, regs) = match ops::list_registrations(&state.gw, &filter, per_page, offset).await {
        Ok(r) => r,
        Err(OpError::NotFound(_)) => (0, Vec::new()),
        Err(e @ OpError::Unavailable(_)) => {
            problem = Some(e.to_string());
            (0, Vec::new())
        }
        Err(e) => return unavailable(&e),
    };
    let rows = regs
        .into_iter()
        .map(|(r, session)| Row {
            href: format!(
                "/registrations/{}/{}",
                segment(&r.transport),
                segment(&r.jid)
            ),
            has_password: r.secret.is_some(),
            session: session.map_or("offline", |s| s.as_str()),
            last_login: r.last_login_at.map(utc).unwrap_or_default(),
            created: utc(r.created_at),
            jid: r.jid,
            transport: r.transport,
            legacy_id: r.legacy_id,
        })
        .collect();
    let pager = Pager::new(page, per_page, total, |p| lq.href(per_page, p));
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
            q: lq.q,
            transport: lq.transport,
            online: lq.online,
            sort: lq.sort,
            order: lq.order,
            per_page,
            sizes: PAGE_SIZES,
            sorts: [
                ("jid", "JID"),
                ("transport", "transport"),
                ("last_login", "last login"),
                ("created", "created"),
            ],
            problem,
            pager,
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
    /// The user's presence badge is on.
    badge: bool,
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
    let badge = match ops::badge(&state.gw, &r.transport, &r.jid).await {
        Ok(b) => b,
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
            badge,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct BadgeForm {
    #[serde(default)]
    csrf: String,
    /// `on` or `off`.
    #[serde(default)]
    badge: String,
}

/// Turns the user's presence badge on or off (`ops::set_badge`, as their own `badge`
/// command does).
pub(crate) async fn badge(
    State(state): St,
    console: Console,
    Path((transport, jid)): Path<(String, String)>,
    axum::Form(f): axum::Form<BadgeForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let back = format!("/registrations/{}/{}", segment(&transport), segment(&jid));
    let outcome = match f.badge.as_str() {
        "on" | "off" => {
            let on = f.badge == "on";
            ops::set_badge(&state.gw, &transport, &jid, on, &console.actor())
                .await
                .map(|()| format!("The presence badge of {jid} is {}.", f.badge))
        }
        _ => Err(OpError::BadRequest("badge must be on or off".to_owned())),
    };
    console.back(&state, &back, outcome)
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

/// Deleting ends the user's session and forgets their legacy login: asked again first
/// (see `ConfirmForm`).
pub(crate) async fn delete(
    State(state): St,
    console: Console,
    Path((transport, jid)): Path<(String, String)>,
    axum::Form(f): axum::Form<ConfirmForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    if !f.confirmed() {
        let r = match ops::registration(&state.gw, &transport, &jid).await {
            Ok(r) => r,
            Err(e) => return console.back(&state, "/registrations", Err(e)),
        };
        let href = format!(
            "/registrations/{}/{}",
            segment(&r.transport),
            segment(&r.jid)
        );
        return render(
            StatusCode::OK,
            &Confirm {
                layout: console.layout(&state, "Confirm"),
                question: format!("Delete the registration of {} with {}?", r.jid, r.transport),
                detail: format!(
                    "Their session ends and the stored login ({}) is forgotten; they can register again unless registration is closed.",
                    r.legacy_id
                ),
                action: format!("{href}/delete"),
                button: "Delete this registration".to_owned(),
                cancel: href,
            },
        );
    }
    let outcome = ops::delete_registration(&state.gw, &transport, &jid, &console.actor())
        .await
        .map(|()| format!("The registration of {jid} with {transport} is deleted."));
    console.back(&state, "/registrations", outcome)
}
