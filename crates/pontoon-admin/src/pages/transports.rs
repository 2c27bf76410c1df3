//! `/transports`: enable or disable each transport, edit its options, announce a message
//! to its users.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Confirm, ConfirmForm, Console, Layout, St, TokenForm, render, segment, unavailable};
use std::collections::BTreeMap;

use pontoon_core::transport::{OptionKind, OptionSpec};

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
    /// A backend's processes.
    processes: Vec<pontoon_backend::pool::ProcessView>,
    options: String,
    /// The typed form, one field per option the transport describes.
    fields: Vec<Field>,
    error: Option<String>,
}

/// One field of the typed options form.
struct Field {
    name: &'static str,
    /// `bool`, `number` or `text`.
    input: &'static str,
    min: String,
    max: String,
    /// The value set (empty: the default applies).
    value: String,
    /// The default, shown as the placeholder (empty when there is none).
    default: String,
    help: &'static str,
}

/// The typed form's fields for `specs`, filled from `options`.
fn fields(specs: &[OptionSpec], options: &BTreeMap<String, String>) -> Vec<Field> {
    specs
        .iter()
        .map(|s| {
            let (input, min, max) = match s.kind {
                OptionKind::Bool => ("bool", String::new(), String::new()),
                OptionKind::Number { min, max } => ("number", min.to_string(), max.to_string()),
                OptionKind::Text | OptionKind::Host | OptionKind::List => {
                    ("text", String::new(), String::new())
                }
            };
            Field {
                name: s.name,
                input,
                min,
                max,
                value: options.get(s.name).cloned().unwrap_or_default(),
                default: s.default.unwrap_or_default().to_owned(),
                help: s.help,
            }
        })
        .collect()
}

/// Prefix of the typed form's field names (`opt.connect_port`).
const FIELD: &str = "opt.";

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
    /// The options as submitted (either form), for the typed form.
    map: BTreeMap<String, String>,
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
            let specs = (state.gw.option_specs)(&t.name);
            Section {
                fields: fields(specs, mine.map_or(&t.policy.options, |d| &d.map)),
                enabled: t.policy.enabled,
                link_up: t.stats.link_up,
                online: t.stats.sessions[1],
                processes: t.processes,
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

/// Saves the options of a transport from either form: the text form (`options`, one
/// `key = value` a line) or the typed form (`opt.<key>` fields, an empty one leaving the
/// default). Both replace the whole options map through the same operation.
pub(crate) async fn options(
    State(state): St,
    console: Console,
    Path(name): Path<String>,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> Response {
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map_or("", |(_, v)| v);
    if let Err(r) = console.check_csrf(csrf) {
        return r.into_response();
    }
    let parsed = match pairs.iter().find(|(k, _)| k == "options") {
        Some((_, text)) => parse_options(text).map(|map| (text.clone(), map)),
        None => {
            let map = typed_options(&pairs);
            Ok((format_options(&map), map))
        }
    };
    let (text, map) = match parsed {
        Ok(v) => v,
        Err(error) => {
            let text = pairs
                .iter()
                .find(|(k, _)| k == "options")
                .map(|(_, v)| v.clone());
            let draft = Draft {
                name,
                text: text.unwrap_or_default(),
                map: BTreeMap::new(),
                error,
            };
            return show(&state, &console, Some(draft)).await;
        }
    };
    let change = PolicyChange {
        options: Some(map.clone()),
        ..PolicyChange::default()
    };
    match ops::change_policy(&state.gw, &name, change, &console.actor()).await {
        Ok(_) => console.back(
            &state,
            "/transports",
            Ok(format!("The options of {name} are saved.")),
        ),
        Err(OpError::Invalid(error)) => {
            let draft = Draft {
                name,
                text,
                map,
                error,
            };
            show(&state, &console, Some(draft)).await
        }
        Err(e) => console.back(&state, "/transports", Err(e)),
    }
}

/// The options map of a typed form submission: each non-empty `opt.<key>` field.
fn typed_options(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(FIELD)?, v.trim())))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// "Test connection": runs the transport's test and shows its answer.
pub(crate) async fn test(
    State(state): St,
    console: Console,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let outcome = ops::test_connection(&state.gw, &name, &console.actor()).await;
    console.back(&state, "/transports", outcome)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn typed_fields_leave_empty_ones_to_the_default() {
        let pairs: Vec<(String, String)> = [
            ("csrf", "x"),
            ("opt.connect_port", " 7000 "),
            ("opt.tls", ""),
            ("other", "1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let map = typed_options(&pairs);
        assert_eq!(map.len(), 1);
        assert_eq!(map["connect_port"], "7000");
    }

    #[test]
    fn fields_follow_the_specs() {
        let specs = [
            OptionSpec {
                name: "n",
                kind: OptionKind::Number { min: 1.0, max: 9.5 },
                default: Some("3"),
                help: "h",
            },
            OptionSpec {
                name: "b",
                kind: OptionKind::Bool,
                default: None,
                help: "",
            },
        ];
        let set = BTreeMap::from([("b".to_owned(), "true".to_owned())]);
        let f = fields(&specs, &set);
        assert_eq!(
            (f[0].input, f[0].min.as_str(), f[0].max.as_str()),
            ("number", "1", "9.5")
        );
        assert_eq!((f[0].value.as_str(), f[0].default.as_str()), ("", "3"));
        assert_eq!((f[1].input, f[1].value.as_str()), ("bool", "true"));
    }
}
