//! `/access`, the Policy page: who may use each transport (public registration, manual
//! registration only, allowed servers, allow list), how much history its message archive
//! keeps, and who stays online while away.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Console, Layout, St, render, unavailable};
use crate::ops::{self, PolicyChange};
use crate::web::lines;

struct Section {
    name: String,
    domain: String,
    public_registration: bool,
    manual_registration_only: bool,
    allowed_servers: String,
    allow_list: String,
    history_days: u32,
    history_per_room: u32,
    always_online_default: bool,
    always_online_limit: u32,
}

#[derive(Template)]
#[template(path = "access.html")]
struct Access {
    layout: Layout,
    sections: Vec<Section>,
}

pub(crate) async fn page(State(state): St, console: Console) -> Response {
    let views = match ops::transports(&state.gw).await {
        Ok(v) => v,
        Err(e) => return unavailable(&e),
    };
    let sections = views
        .into_iter()
        .map(|t| Section {
            public_registration: t.policy.public_registration,
            manual_registration_only: t.policy.manual_registration_only,
            allowed_servers: t.policy.allowed_servers.join("\n"),
            allow_list: t.policy.allow_list.join("\n"),
            history_days: t.policy.history_days,
            history_per_room: t.policy.history_per_room,
            always_online_default: t.policy.always_online_default,
            always_online_limit: t.policy.always_online_limit,
            name: t.name,
            domain: t.domain,
        })
        .collect();
    render(
        StatusCode::OK,
        &Access {
            layout: console.layout(&state, "Policy"),
            sections,
        },
    )
}

/// Unchecked checkboxes are absent from the form. An absent number field (history,
/// always-online limit) keeps the stored value.
#[derive(Deserialize)]
pub(crate) struct AccessForm {
    #[serde(default)]
    csrf: String,
    public_registration: Option<String>,
    manual_registration_only: Option<String>,
    #[serde(default)]
    allowed_servers: String,
    #[serde(default)]
    allow_list: String,
    history_days: Option<String>,
    history_per_room: Option<String>,
    always_online_default: Option<String>,
    always_online_limit: Option<String>,
}

pub(crate) async fn save(
    State(state): St,
    console: Console,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<AccessForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    // The numbers are read as `pontoon policy set` reads them.
    let numbers: BTreeMap<String, String> = [
        ("history_days", f.history_days),
        ("history_per_room", f.history_per_room),
        ("always_online_limit", f.always_online_limit),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_owned(), v?)))
    .collect();
    let outcome = match PolicyChange::from_pairs(&numbers, &BTreeMap::new()) {
        Ok(numbers) => {
            let change = PolicyChange {
                public_registration: Some(f.public_registration.is_some()),
                manual_registration_only: Some(f.manual_registration_only.is_some()),
                allowed_servers: Some(lines(&f.allowed_servers)),
                allow_list: Some(lines(&f.allow_list)),
                history_days: numbers.history_days,
                history_per_room: numbers.history_per_room,
                always_online_default: Some(f.always_online_default.is_some()),
                always_online_limit: numbers.always_online_limit,
                ..PolicyChange::default()
            };
            ops::change_policy(&state.gw, &name, change, &console.actor())
                .await
                .map(|_| format!("The policy of {name} is saved."))
        }
        Err(e) => Err(e.into()),
    };
    console.back(&state, "/access", outcome)
}
