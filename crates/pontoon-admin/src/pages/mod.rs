//! The server-rendered console: one module per page, templates in `templates/`.
//!
//! Rules every page follows: a GET never changes anything; every change is a POST form
//! carrying the session's CSRF token in a hidden `csrf` field, checked before anything
//! else; after a change the browser is redirected (303) to a page that shows a one-time
//! flash message. Unauthenticated requests are redirected to `/login`. A form posted from
//! another origin, as the browser tells (`Sec-Fetch-Site`, else `Origin`), is refused
//! before any of that ([`same_origin`]): `SameSite=Strict` does not keep the session
//! cookie from another port of the same host (another local web application), the token
//! alone would then stand between it and the console.

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tracing::{info, warn};

use crate::auth::{self, Flash, Lookup, Session};
use crate::ops::OpError;
use crate::{AppState, Shared};

mod access;
mod admins;
mod audit;
mod login;
mod logs;
mod overview;
mod registrations;
mod sessions;
mod transports;

pub(crate) use login::LOGINS_AT_ONCE;

/// The stylesheet (served, not inlined, so the CSP needs no `'unsafe-inline'`).
const CSS: &str = include_str!("../../assets/console.css");

/// The console's routes.
pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/", get(overview::page))
        .route("/transports", get(transports::page))
        .route("/transports/{name}/enable", post(transports::enable))
        .route("/transports/{name}/disable", post(transports::disable))
        .route("/transports/{name}/options", post(transports::options))
        .route("/transports/{name}/test", post(transports::test))
        .route("/transports/{name}/announce", post(transports::announce))
        .route("/transports/{name}/access", post(access::save))
        .route("/transports/{name}/debug", post(logs::debug))
        .route("/access", get(access::page))
        .route(
            "/registrations",
            get(registrations::list).post(registrations::add),
        )
        .route(
            "/registrations/{transport}/{jid}",
            get(registrations::edit_form).post(registrations::edit),
        )
        .route(
            "/registrations/{transport}/{jid}/delete",
            post(registrations::delete),
        )
        .route(
            "/registrations/{transport}/{jid}/badge",
            post(registrations::badge),
        )
        .route("/sessions", get(sessions::page))
        .route(
            "/sessions/{transport}/{jid}/disconnect",
            post(sessions::disconnect),
        )
        .route("/logs", get(logs::page))
        .route("/audit", get(audit::page))
        .route("/admins", get(admins::page).post(admins::put))
        .route("/admins/{name}/delete", post(admins::delete))
        .route("/tokens", post(admins::create_token))
        .route("/tokens/{name}/revoke", post(admins::revoke_token))
        .route("/assets/console.css", get(stylesheet))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(same_origin))
}

/// Refuses (403) a request that may change something (any method but GET, HEAD and
/// OPTIONS) when the browser says it comes from another origin; see [`cross_origin`].
async fn same_origin(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && cross_origin(req.headers()) {
        warn!(
            method = %req.method(),
            path = req.uri().path(),
            "console: a form from another site was refused"
        );
        return error_page(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "This form was sent from another site. Open the console itself and try again.",
        );
    }
    next.run(req).await
}

/// Whether a browser sent the request from another origin: `Sec-Fetch-Site` (every
/// current browser sends it) other than `same-origin` or `none` (typed or bookmarked);
/// without it, an `Origin` whose host and port are not the request's `Host`. A request
/// with neither comes from no browser (a script, curl): the form token still has to match.
pub(crate) fn cross_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        _ => true,
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
}

/// The navigation: (path, label); the label is also the page's title.
const NAV: [(&str, &str); 8] = [
    ("/", "Overview"),
    ("/transports", "Transports"),
    ("/access", "Policy"),
    ("/registrations", "Registrations"),
    ("/sessions", "Sessions"),
    ("/logs", "Logs"),
    ("/audit", "Audit"),
    ("/admins", "Administrators"),
];

/// What the base template needs.
pub(crate) struct Layout {
    /// The `<h1>` and `<title>`.
    pub(crate) title: &'static str,
    /// The signed-in user (`None` on the login and error pages: no navigation).
    pub(crate) user: Option<String>,
    /// The CSRF token for the page's forms.
    pub(crate) csrf: String,
    /// A message left by the previous POST.
    pub(crate) flash: Option<Flash>,
}

impl Layout {
    /// A page without a session (login, errors).
    pub(crate) fn public(title: &'static str, csrf: String) -> Layout {
        Layout {
            title,
            user: None,
            csrf,
            flash: None,
        }
    }

    pub(crate) fn nav(&self) -> &'static [(&'static str, &'static str)] {
        &NAV
    }

    /// Whether `label` is the current page's entry.
    pub(crate) fn is_current(&self, label: &str) -> bool {
        label == self.title
    }
}

/// Renders a template with a status.
pub(crate) fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    message: String,
}

/// A page with only a message.
pub(crate) fn error_page(status: StatusCode, title: &'static str, message: &str) -> Response {
    render(
        status,
        &ErrorPage {
            layout: Layout::public(title, String::new()),
            message: message.to_owned(),
        },
    )
}

async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "Not found", "There is no such page.")
}

/// A signed-in operator. Extracting it refuses (redirects to `/login`) requests without
/// a live session, and ends a session whose account was deleted or had its password reset
/// since the login (from the CLI too, also while the gateway runs): the account's revision
/// in the store is checked on every request (one indexed read; no cache, so the change
/// applies at the very next request).
pub(crate) struct Console {
    pub(crate) session: Session,
}

impl FromRequestParts<Shared> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Response> {
        let session = match auth::cookie(&parts.headers, auth::SESSION_COOKIE)
            .map(|id| state.sessions.lookup(id))
        {
            Some(Lookup::Valid(session)) => session,
            Some(Lookup::Expired) => return Err(Redirect::to("/login?expired=1").into_response()),
            Some(Lookup::Unknown) | None => return Err(Redirect::to("/login").into_response()),
        };
        match state.gw.store.admin_updated_at(&session.user).await {
            Ok(Some(revision)) if revision == session.revision => Ok(Console { session }),
            Ok(_) => {
                state.sessions.remove(&session.id);
                info!(user = %session.user, "console session ended: the account was deleted or its password changed");
                Err(Redirect::to("/login?revoked=1").into_response())
            }
            Err(e) => {
                warn!(error = %e, "console: cannot check the session's account");
                Err(error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "The store does not answer; try again shortly.",
                ))
            }
        }
    }
}

impl Console {
    /// The layout of a page, taking the pending flash message.
    pub(crate) fn layout(&self, state: &AppState, title: &'static str) -> Layout {
        Layout {
            title,
            user: Some(self.session.user.clone()),
            csrf: self.session.csrf.clone(),
            flash: state.sessions.take_flash(&self.session.id),
        }
    }

    /// Refuses a form whose token is not the session's.
    pub(crate) fn check_csrf(&self, token: &str) -> Result<(), CsrfRefused> {
        if auth::same_token(token, &self.session.csrf) {
            Ok(())
        } else {
            Err(CsrfRefused)
        }
    }

    /// The actor name for the audit log.
    pub(crate) fn actor(&self) -> String {
        format!("console:{}", self.session.user)
    }

    /// Redirects to `to` with the outcome as a flash message.
    pub(crate) fn back(
        &self,
        state: &AppState,
        to: &str,
        outcome: Result<String, OpError>,
    ) -> Response {
        let flash = match outcome {
            Ok(text) => Flash::ok(text),
            Err(e) => Flash::error(e.to_string()),
        };
        state.sessions.set_flash(&self.session.id, flash);
        Redirect::to(to).into_response()
    }
}

/// A form came without the session's token.
pub(crate) struct CsrfRefused;

impl IntoResponse for CsrfRefused {
    fn into_response(self) -> Response {
        csrf_refused()
    }
}

/// The answer to a form without the right token.
pub(crate) fn csrf_refused() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "Invalid or missing form token. Go back, reload the page and try again.",
    )
}

/// The page for a store or service failure while rendering.
pub(crate) fn unavailable(e: &OpError) -> Response {
    error_page(e.status(), "Unavailable", &e.to_string())
}

/// A form with only the token (enable, disable, delete, logout...).
#[derive(serde::Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    pub(crate) csrf: String,
}

/// A form that changes something hard to undo (deleting a registration, disabling a
/// transport): without `confirm=yes` it is answered with [`Confirm`], a page asking
/// again whose button posts the same form confirmed. No script needed.
#[derive(serde::Deserialize)]
pub(crate) struct ConfirmForm {
    #[serde(default)]
    pub(crate) csrf: String,
    #[serde(default)]
    pub(crate) confirm: String,
}

impl ConfirmForm {
    /// Whether the operator confirmed.
    pub(crate) fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

/// The confirmation step of a [`ConfirmForm`].
#[derive(Template)]
#[template(path = "confirm.html")]
pub(crate) struct Confirm {
    pub(crate) layout: Layout,
    /// What is about to happen, as a question.
    pub(crate) question: String,
    /// What follows from it.
    pub(crate) detail: String,
    /// Where the confirmed form goes (the same URL).
    pub(crate) action: String,
    /// The button's label.
    pub(crate) button: String,
    /// Where Cancel leads.
    pub(crate) cancel: String,
}

/// `State` for handlers (re-exported for the page modules).
pub(crate) type St = State<Shared>;

/// Where a paged list stands, with the links to the pages around it (`templates/pager.html`).
pub(crate) struct Pager {
    /// The page shown, from 1.
    pub(crate) page: u32,
    /// How many pages there are (at least 1).
    pub(crate) pages: u32,
    /// How many rows match, on all pages.
    pub(crate) total: u64,
    /// The link to the previous page, if any.
    pub(crate) prev: Option<String>,
    /// The link to the next page, if any.
    pub(crate) next: Option<String>,
}

impl Pager {
    /// Page `page` of `total` rows, `per_page` a page; `href` makes a page's link.
    pub(crate) fn new(page: u32, per_page: u32, total: u64, href: impl Fn(u32) -> String) -> Pager {
        let pages = u32::try_from(total.div_ceil(u64::from(per_page.max(1))))
            .unwrap_or(u32::MAX)
            .max(1);
        Pager {
            page,
            pages,
            total,
            prev: (page > 1).then(|| href(page.min(pages.saturating_add(1)) - 1)),
            next: (page < pages).then(|| href(page + 1)),
        }
    }
}

/// Percent-encodes a path segment or a query value (JIDs and names in URLs): everything
/// but unreserved characters and `@`, so a name cannot change the request's path.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn cross_origin_requests_are_told_apart() {
        let host = ("host", "127.0.0.1:8780");
        // No browser headers: a script; the token decides.
        assert!(!cross_origin(&headers(&[host])));
        // Sec-Fetch-Site wins over Origin.
        for (site, refused) in [
            ("same-origin", false),
            ("none", false),
            ("same-site", true),
            ("cross-site", true),
        ] {
            let h = headers(&[
                host,
                ("sec-fetch-site", site),
                ("origin", "http://127.0.0.1:8780"),
            ]);
            assert_eq!(cross_origin(&h), refused, "{site}");
        }
        // Without it, Origin against Host: another port of the same host is another origin.
        for (origin, refused) in [
            ("http://127.0.0.1:8780", false),
            ("https://127.0.0.1:8780", false),
            ("http://127.0.0.1:3000", true),
            ("http://evil.example", true),
            ("null", true),
        ] {
            assert_eq!(
                cross_origin(&headers(&[host, ("origin", origin)])),
                refused,
                "{origin}"
            );
        }
        assert!(cross_origin(&headers(&[(
            "origin",
            "http://127.0.0.1:8780"
        )])));
    }

    #[test]
    fn pager_links_around_the_page() {
        let href = |p: u32| format!("?page={p}");
        let p = Pager::new(1, 100, 250, href);
        assert_eq!(
            (p.pages, p.prev, p.next.as_deref()),
            (3, None, Some("?page=2"))
        );
        let p = Pager::new(3, 100, 250, href);
        assert_eq!((p.prev.as_deref(), p.next), (Some("?page=2"), None));
        let p = Pager::new(1, 100, 0, href);
        assert_eq!((p.pages, p.prev, p.next), (1, None, None));
        // Past the end (a stale link): back leads to the last page.
        let p = Pager::new(9, 100, 250, href);
        assert_eq!((p.prev.as_deref(), p.next), (Some("?page=3"), None));
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("alice@example.org"), "alice@example.org");
        assert_eq!(segment("a b/c%"), "a%20b%2Fc%25");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
