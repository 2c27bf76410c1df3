//! `/login` and `/logout`.
//!
//! The login form is protected by a double-submit token (a cookie set with the form and
//! the same value in a hidden field), so another site cannot log a browser into an
//! account of its choosing. Login attempts count per client address from the moment they
//! start (a failure stays counted, a success does not); over the limit every attempt,
//! right or wrong, gets 429 until the minute has passed. Password checks are deliberately
//! expensive (argon2: ~19 MiB and tens of milliseconds each), so only
//! [`LOGINS_AT_ONCE`] run at a time over all clients; more get 503 at once.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tracing::{info, warn};

use super::{Console, Layout, TokenForm, csrf_refused, error_page, render};
use crate::Shared;
use crate::auth::{self, ClientIp, LOGIN_COOKIE, SESSION_COOKIE};

/// Longest password sent to the hasher.
const MAX_PASSWORD: usize = 1024;

/// Most password checks running at once, over all clients.
pub(crate) const LOGINS_AT_ONCE: usize = 2;

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
    revoked: Option<String>,
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
    } else if q.revoked.is_some() {
        Some("Your login has ended: your account was deleted or its password changed.".to_owned())
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
    let cookie_token = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !auth::same_token(&form.csrf, cookie_token) {
        return csrf_refused();
    }
    // Taken before the attempt is counted, so a refusal here costs the client nothing.
    let Ok(slot) = state.login_slots.clone().try_acquire_owned() else {
        warn!(%ip, "console login refused: too many logins in progress");
        let mut res = error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "Too many logins are in progress. Try again in a moment.",
        );
        res.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return res;
    };
    let Some(attempt) = state.limiter.begin(ip) else {
        warn!(%ip, "console login refused: too many attempts");
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many failed logins from your address. Wait a minute, then try again.",
        );
    };
    let checked = if form.username.is_empty() || form.password.len() > MAX_PASSWORD {
        Ok(None)
    } else {
        // In a task of its own that keeps the slot until the hash is done: a client that
        // hangs up must not free the slot while its password is still being checked.
        let store = state.gw.store.clone();
        let (username, password) = (form.username.clone(), form.password.clone());
        let check = tokio::spawn(async move {
            let _slot = slot;
            store.check_admin(&username, &password).await
        });
        match check.await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(format!("the password check failed: {e}")),
        }
    };
    match checked {
        Ok(Some(revision)) => {
            state.limiter.forget(attempt);
            let session = state.sessions.create(&form.username, revision);
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
        Ok(None) => {
            // The attempt stays counted.
            drop(attempt);
            // The name is not logged: people type passwords into it by mistake.
            warn!(target: crate::logs::AUDIT_TARGET, %ip, "console login failed");
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
            // Not the client's fault: the attempt does not count.
            state.limiter.forget(attempt);
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
