//! `/login` and `/logout`.
//!
//! The login form is protected by a double-submit token (a cookie set with the form and
//! the same value in a hidden field), so another site cannot log a browser into an
//! account of its choosing. Failed logins count per client address; over the limit every
//! attempt, right or wrong, gets 429 until the minute has passed.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tracing::{info, warn};

use super::{Console, Layout, TokenForm, csrf_refused, error_page, render};
use crate::Shared;
use crate::auth::{self, ClientIp, LOGIN_COOKIE, SESSION_COOKIE};

/// Longest password sent to the hasher.
const MAX_PASSWORD: usize = 1024;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    notice: Option<String>,
    error: Option<String>,
    no_admin: bool,
    username: String,
}

#[derive(Deserialize, Default)]
pub(crate) struct LoginQuery {
    expired: Option<String>,
    logged_out: Option<String>,
}

/// The login form's token: the browser's current one if it has a well-formed one.
fn login_token(headers: &HeaderMap) -> String {
    auth::cookie(headers, LOGIN_COOKIE)
        .filter(|t| {
            t.len() == 43
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map_or_else(auth::random_token, str::to_owned)
}

async fn show(
    state: &Shared,
    status: StatusCode,
    token: String,
    notice: Option<String>,
    error: Option<String>,
    username: String,
) -> Response {
    // A store failure here only loses the hint; the login itself reports it.
    let no_admin = matches!(state.gw.store.count_admins().await, Ok(0));
    let mut res = render(
        status,
        &LoginPage {
            layout: Layout::public("Log in", token.clone()),
            notice,
            error,
            no_admin,
            username,
        },
    );
    if let Ok(v) = auth::set_cookie(LOGIN_COOKIE, Some(&token), state.cfg.secure_cookies).parse() {
        res.headers_mut().append(SET_COOKIE, v);
    }
    res
}

pub(crate) async fn form(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let notice = if q.expired.is_some() {
        Some("Your session has expired: log in again.".to_owned())
    } else if q.logged_out.is_some() {
        Some("You are logged out.".to_owned())
    } else {
        None
    };
    show(
        &state,
        StatusCode::OK,
        login_token(&headers),
        notice,
        None,
        String::new(),
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

pub(crate) async fn submit(
    State(state): State<Shared>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    axum::Form(form): axum::Form<Credentials>,
) -> Response {
    if state.limiter.is_limited(ip) {
        warn!(%ip, "console login refused: too many failures");
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many failed logins from your address. Wait a minute, then try again.",
        );
    }
    let cookie_token = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !auth::same_token(&form.csrf, cookie_token) {
        return csrf_refused();
    }
    let ok = if form.username.is_empty() || form.password.len() > MAX_PASSWORD {
        Ok(false)
    } else {
        state
            .gw
            .store
            .verify_admin(&form.username, &form.password)
            .await
    };
    match ok {
        Ok(true) => {
            let session = state.sessions.create(&form.username);
            info!(user = %form.username, %ip, "console login");
            let secure = state.cfg.secure_cookies;
            let mut res = Redirect::to("/").into_response();
            for c in [
                auth::set_cookie(SESSION_COOKIE, Some(&session.id), secure),
                auth::set_cookie(LOGIN_COOKIE, None, secure),
            ] {
                if let Ok(v) = c.parse() {
                    res.headers_mut().append(SET_COOKIE, v);
                }
            }
            res
        }
        Ok(false) => {
            state.limiter.failed(ip);
            // The name is not logged: people type passwords into it by mistake.
            warn!(%ip, "console login failed");
            show(
                &state,
                StatusCode::UNAUTHORIZED,
                form.csrf,
                None,
                Some("Wrong user name or password.".to_owned()),
                form.username,
            )
            .await
        }
        Err(e) => {
            warn!(error = %e, "console login: the store failed");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Unavailable",
                "The store does not answer; try again shortly.",
            )
        }
    }
}

pub(crate) async fn logout(
    State(state): State<Shared>,
    console: Console,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    state.sessions.remove(&console.session.id);
    info!(user = %console.session.user, "console logout");
    let mut res = Redirect::to("/login?logged_out=1").into_response();
    if let Ok(v) = auth::set_cookie(SESSION_COOKIE, None, state.cfg.secure_cookies).parse() {
        res.headers_mut().append(SET_COOKIE, v);
    }
    res
}
