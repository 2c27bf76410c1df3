//! `/admins`: console administrators (add, set a new password, remove) and REST API
//! tokens (create, shown once; revoke). Every change goes through `ops::admins`, the
//! implementation `pontoon admin ...` uses too.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Confirm, ConfirmForm, Console, Layout, St, render, segment, unavailable};
use crate::ops::OpError;
use crate::ops::admins::{self, AdminChange, Remover};
use crate::web::utc;

struct AdminRow {
    name: String,
    created: String,
    updated: String,
    /// The signed-in administrator's own row (no Remove button).
    me: bool,
    /// Where the Remove form posts.
    remove: String,
}

struct TokenRow {
    name: String,
    created: String,
    last_used: String,
    /// Where the Revoke form posts.
    revoke: String,
}

#[derive(Template)]
#[template(path = "admins.html")]
struct Page {
    layout: Layout,
    admins: Vec<AdminRow>,
    tokens: Vec<TokenRow>,
    min_password: usize,
}

pub(crate) async fn page(State(state): St, console: Console) -> Response {
    let store = &state.gw.store;
    let (list, tokens) = match (
        admins::list_admins(store).await,
        admins::list_tokens(store).await,
    ) {
        (Ok(a), Ok(t)) => (a, t),
        (Err(e), _) | (_, Err(e)) => return unavailable(&e),
    };
    let admins = list
        .into_iter()
        .map(|a| AdminRow {
            me: a.name == console.session.user,
            remove: format!("/admins/{}/delete", segment(&a.name)),
            created: utc(a.created_at),
            updated: utc(a.updated_at),
            name: a.name,
        })
        .collect();
    let tokens = tokens
        .into_iter()
        .map(|t| TokenRow {
            revoke: format!("/tokens/{}/revoke", segment(&t.name)),
            created: utc(t.created_at),
            last_used: t.last_used_at.map_or_else(|| "never".to_owned(), utc),
            name: t.name,
        })
        .collect();
    render(
        StatusCode::OK,
        &Page {
            layout: console.layout(&state, "Administrators"),
            admins,
            tokens,
            min_password: pontoon_store::MIN_PASSWORD_CHARS,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct PutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    /// The password typed again.
    #[serde(default)]
    repeat: String,
}

/// Adds an administrator or sets a new password. Setting your own keeps this session (it
/// would otherwise end like every other session of the account).
pub(crate) async fn put(
    State(state): St,
    console: Console,
    axum::Form(f): axum::Form<PutForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let name = f.name.trim();
    let outcome = if f.password != f.repeat {
        Err(OpError::Invalid(
            "the two passwords differ; nothing changed".to_owned(),
        ))
    } else {
        match admins::put_admin(&state.gw.store, name, &f.password, &console.actor()).await {
            Ok(AdminChange::Added) => Ok(format!(
                "Administrator {name} is added; they can log in now."
            )),
            Ok(AdminChange::PasswordChanged) if name == console.session.user => {
                keep_session(&state, &console).await;
                Ok("Your password is changed; your other console sessions end.".to_owned())
            }
            Ok(AdminChange::PasswordChanged) => Ok(format!(
                "The password of {name} is changed; their console sessions end."
            )),
            Err(e) => Err(e),
        }
    };
    console.back(&state, "/admins", outcome)
}

/// Moves this session to the account's new revision, so changing your own password does
/// not log you out (your other sessions do end).
async fn keep_session(state: &crate::AppState, console: &Console) {
    if let Ok(Some(revision)) = state.gw.store.admin_updated_at(&console.session.user).await {
        state.sessions.set_revision(&console.session.id, revision);
    }
}

/// Removing an administrator is asked again first (see `ConfirmForm`).
pub(crate) async fn delete(
    State(state): St,
    console: Console,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<ConfirmForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let remover = Remover::Admin(&console.session.user);
    if !f.confirmed() && name != console.session.user {
        return render(
            StatusCode::OK,
            &Confirm {
                layout: console.layout(&state, "Confirm"),
                question: format!("Remove administrator {name}?"),
                detail: "They can no longer log in, and their console sessions end at once."
                    .to_owned(),
                action: format!("/admins/{}/delete", segment(&name)),
                button: "Remove this administrator".to_owned(),
                cancel: "/admins".to_owned(),
            },
        );
    }
    // Removing yourself is refused at once, without asking first.
    let outcome = admins::delete_admin(&state.gw.store, &name, remover, &console.actor())
        .await
        .map(|()| format!("Administrator {name} is removed."));
    console.back(&state, "/admins", outcome)
}

#[derive(Template)]
#[template(path = "token.html")]
struct NewToken {
    layout: Layout,
    name: String,
    token: String,
    /// The console's address as the browser used it, for the example.
    host: String,
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// Creates a token and shows it, once, on the answer itself (not after a redirect: it is
/// kept nowhere, and the page is not cached).
pub(crate) async fn create_token(
    State(state): St,
    console: Console,
    headers: HeaderMap,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let name = f.name.trim();
    match admins::create_token(&state.gw.store, name, &console.actor()).await {
        Ok(token) => render(
            StatusCode::OK,
            &NewToken {
                layout: console.layout(&state, "New API token"),
                name: name.to_owned(),
                token,
                host: headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("127.0.0.1:8780")
                    .to_owned(),
            },
        ),
        Err(e) => console.back(&state, "/admins", Err(e)),
    }
}

/// Revoking a token is asked again first (see `ConfirmForm`).
pub(crate) async fn revoke_token(
    State(state): St,
    console: Console,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<ConfirmForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    if !f.confirmed() {
        return render(
            StatusCode::OK,
            &Confirm {
                layout: console.layout(&state, "Confirm"),
                question: format!("Revoke the API token {name}?"),
                detail: "Requests that present it are refused from now on; this cannot be undone (create a new token instead).".to_owned(),
                action: format!("/tokens/{}/revoke", segment(&name)),
                button: "Revoke this token".to_owned(),
                cancel: "/admins".to_owned(),
            },
        );
    }
    let outcome = admins::revoke_token(&state.gw.store, &name, &console.actor())
        .await
        .map(|()| format!("The API token {name} is revoked."));
    console.back(&state, "/admins", outcome)
}
