//! `/transports`: enable or disable each transport, edit its options, announce a message
//! to its users.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Confirm, ConfirmForm, Console, Layout, St, TokenForm, render, segment, unavailable};
use crate::ops::{self, OpError, PolicyChange};
use crate::web::{format_options, parse_options};
use crate::{AppState, Shared};

struct Section {
    name: String,
    domain: String,
    display_name: String,
    enabled: bool,
    link_up: bool,
    online: u64,
    options: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "transports.html")]
struct Transports {
    layout: Layout,
    sections: Vec<Section>,
    /// Component mode: the link's state is shown.
    has_link: bool,
}

/// Options typed by the operator and refused, shown again with the reason.
struct Draft {
    name: String,
    text: String,
    error: String,
}

async fn show(state: &AppState, console: &Console, draft: Option<Draft>) -> Response {
    let views = match ops::transports(&state.gw).await {
        Ok(v) => v,
        Err(e) => return unavailable(&e),
    };
    let status = if draft.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let sections = views
        .into_iter()
        .map(|t| {
            let mine = draft.as_ref().filter(|d| d.name == t.name);
            Section {
                enabled: t.policy.enabled,
                link_up: t.stats.link_up,
                online: t.stats.sessions[1],
                options: mine.map_or_else(|| format_options(&t.policy.options), |d| d.text.clone()),
                error: mine.map(|d| d.error.clone()),
                name: t.name,
                domain: t.domain,
                display_name: t.display_name,
            }
        })
        .collect();
    render(
        status,
        &Transports {
            layout: console.layout(state, "Transports"),
            sections,
            has_link: state.gw.has_link(),
        },
    )
}

pub(crate) async fn page(State(state): St, console: Console) -> Response {
    show(&state, &console, None).await
}

async fn set_enabled(
    state: Shared,
    console: Console,
    name: String,
    csrf: &str,
    on: bool,
) -> Response {
    if let Err(r) = console.check_csrf(csrf) {
        return r.into_response();
    }
    let change = PolicyChange {
        enabled: Some(on),
        ..PolicyChange::default()
    };
    let outcome = ops::change_policy(&state.gw, &name, change, &console.actor())
        .await
        .map(|_| {
            if on {
                format!("{name} is enabled.")
            } else {
                format!("{name} is disabled; its sessions have ended.")
            }
        });
    console.back(&state, "/transports", outcome)
}

pub(crate) async fn enable(
    State(state): St,
    console: Console,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    set_enabled(state, console, name, &f.csrf, true).await
}

/// Disabling ends every session of the transport: asked again first (see `ConfirmForm`).
pub(crate) async fn disable(
    State(state): St,
    console: Console,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<ConfirmForm>,
) -> Response {
    if f.confirmed() {
        return set_enabled(state, console, name, &f.csrf, false).await;
    }
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let sessions: u64 = match ops::transport(&state.gw, &name).await {
        Ok(t) => t.stats.sessions.iter().sum(),
        Err(e) => return console.back(&state, "/transports", Err(e)),
    };
    render(
        StatusCode::OK,
        &Confirm {
            layout: console.layout(&state, "Confirm"),
            question: format!("Disable {name}?"),
            detail: format!(
                "Its {sessions} session(s) end at once and nobody can log in through it until it is enabled again."
            ),
            action: format!("/transports/{}/disable", segment(&name)),
            button: format!("Disable {name}"),
            cancel: "/transports".to_owned(),
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct OptionsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    options: String,
}

pub(crate) async fn options(
    State(state): St,
    console: Console,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<OptionsForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let parsed = parse_options(&f.options).map_err(OpError::Invalid);
    let outcome = match parsed {
        Ok(map) => {
            let change = PolicyChange {
                options: Some(map),
                ..PolicyChange::default()
            };
            ops::change_policy(&state.gw, &name, change, &console.actor()).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(_) => console.back(
            &state,
            "/transports",
            Ok(format!("The options of {name} are saved.")),
        ),
        Err(OpError::Invalid(error)) => {
            let draft = Draft {
                name,
                text: f.options,
                error,
            };
            show(&state, &console, Some(draft)).await
        }
        Err(e) => console.back(&state, "/transports", Err(e)),
    }
}

#[derive(Deserialize)]
pub(crate) struct AnnounceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

pub(crate) async fn announce(
    State(state): St,
    console: Console,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<AnnounceForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let outcome = ops::announce(&state.gw, &name, &f.text, &console.actor())
        .await
        .map(|n| format!("Announcement sent to {n} user(s) of {name}."));
    console.back(&state, "/transports", outcome)
}
