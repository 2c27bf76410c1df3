//! `/logs`: recent events (filtered by transport and level, paged older and newer, each
//! naming its user) and the debug switch per transport.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Console, Layout, St, render, segment, unavailable};
use crate::logs::LogQuery;
use crate::ops::{self, OpError, PolicyChange};

/// Events a page.
const SHOWN: usize = 100;

struct Row {
    time: String,
    level: &'static str,
    transport: String,
    user: String,
    target: String,
    message: String,
}

struct Switch {
    name: String,
    debug: bool,
}

#[derive(Template)]
#[template(path = "logs.html")]
struct Logs {
    layout: Layout,
    rows: Vec<Row>,
    switches: Vec<Switch>,
    transport: String,
    level: String,
    levels: [&'static str; 5],
    older: Option<String>,
    newer: Option<String>,
}

impl Logs {
    fn is_transport(&self, t: &str) -> bool {
        t == self.transport
    }

    fn is_level(&self, l: &str) -> bool {
        l == self.level
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct LogsQuery {
    #[serde(default)]
    transport: String,
    #[serde(default)]
    level: String,
    before: Option<u64>,
    after: Option<u64>,
}

impl LogsQuery {
    /// The link to the same filter with `cursor` (`before=N` or `after=N`).
    fn href(&self, cursor: &str) -> String {
        format!(
            "/logs?transport={}&level={}&{cursor}",
            segment(&self.transport),
            segment(&self.level)
        )
    }
}

fn time_of(ms: i64) -> String {
    let full = crate::web::utc(ms.div_euclid(1000));
    // `YYYY-MM-DD HH:MM:SS.mmm UTC`
    match full.strip_suffix(" UTC") {
        Some(t) => format!("{t}.{:03} UTC", ms.rem_euclid(1000)),
        None => full,
    }
}

pub(crate) async fn page(
    State(state): St,
    console: Console,
    Query(q): Query<LogsQuery>,
) -> Response {
    let views = match ops::transports(&state.gw).await {
        Ok(v) => v,
        Err(e) => return unavailable(&e),
    };
    let query = LogQuery {
        transport: Some(q.transport.clone()).filter(|t| !t.is_empty()),
        min_level: q.level.parse().ok(),
        limit: SHOWN,
        before: q.before,
        after: q.after,
    };
    let page = state.gw.logs.page(&query);
    let older = page
        .entries
        .last()
        .filter(|_| page.older)
        .map(|e| q.href(&format!("before={}", e.seq)));
    let newer = page
        .entries
        .first()
        .filter(|_| page.newer)
        .map(|e| q.href(&format!("after={}", e.seq)))
        // An empty page past the oldest event: back to the newest.
        .or_else(|| (page.entries.is_empty() && page.newer).then(|| q.href("")));
    let rows = page
        .entries
        .into_iter()
        .map(|e| Row {
            time: time_of(e.time_ms),
            level: e.level.as_str(),
            transport: e.transport.unwrap_or_default(),
            user: e.user.unwrap_or_default(),
            target: e.target,
            message: e.message,
        })
        .collect();
    render(
        StatusCode::OK,
        &Logs {
            layout: console.layout(&state, "Logs"),
            rows,
            switches: views
                .into_iter()
                .map(|t| Switch {
                    debug: t.policy.debug_logging,
                    name: t.name,
                })
                .collect(),
            transport: q.transport,
            level: q.level.to_ascii_uppercase(),
            levels: ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"],
            older,
            newer,
        },
    )
}

#[derive(Deserialize)]
pub(crate) struct DebugForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
}

pub(crate) async fn debug(
    State(state): St,
    console: Console,
    Path(name): Path<String>,
    axum::Form(f): axum::Form<DebugForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let on = match f.enabled.as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(OpError::BadRequest(format!(
            "enabled must be on or off, not {other:?}"
        ))),
    };
    let outcome = match on {
        Ok(on) => {
            let change = PolicyChange {
                debug_logging: Some(on),
                ..PolicyChange::default()
            };
            ops::change_policy(&state.gw, &name, change, &console.actor())
                .await
                .map(|_| {
                    format!(
                        "Debug logging of {name} is {}.",
                        if on { "on" } else { "off" }
                    )
                })
        }
        Err(e) => Err(e),
    };
    console.back(&state, "/logs", outcome)
}
