//! `/sessions`: who is connected through which transport, the legacy state, rooms, since
//! when; end a session.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Console, Layout, St, TokenForm, render, segment};
use crate::ops;
use crate::web::utc;

struct Row {
    transport: String,
    user: String,
    legacy_id: String,
    state: &'static str,
    resources: String,
    rooms: String,
    since: String,
    action: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct Sessions {
    layout: Layout,
    rows: Vec<Row>,
    problems: Vec<String>,
    transports: Vec<String>,
    transport: String,
}

impl Sessions {
    fn is_transport(&self, t: &str) -> bool {
        t == self.transport
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct SessionsQuery {
    #[serde(default)]
    transport: String,
}

pub(crate) async fn page(
    State(state): St,
    console: Console,
    Query(q): Query<SessionsQuery>,
) -> Response {
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    // One transport at a time, so a busy one does not hide the others.
    for c in state
        .gw
        .services
        .iter()
        .filter(|c| q.transport.is_empty() || c.transport() == q.transport)
    {
        match ops::sessions(&state.gw, Some(c.transport())).await {
            Ok(list) => rows.extend(list.into_iter().map(|(transport, s)| Row {
                action: format!(
                    "/sessions/{}/{}/disconnect",
                    segment(&transport),
                    segment(s.user.as_str())
                ),
                user: s.user.to_string(),
                legacy_id: s.legacy_id.unwrap_or_default(),
                state: s.state.as_str(),
                resources: s.resources.join(", "),
                rooms: s.rooms.join(", "),
                since: utc(s.since),
                transport,
            })),
            Err(e) => problems.push(format!("{}: {e}", c.transport())),
        }
    }
    render(
        StatusCode::OK,
        &Sessions {
            layout: console.layout(&state, "Sessions"),
            rows,
            problems,
            transports: state
                .gw
                .services
                .iter()
                .map(|c| c.transport().to_owned())
                .collect(),
            transport: q.transport,
        },
    )
}

pub(crate) async fn disconnect(
    State(state): St,
    console: Console,
    Path((transport, jid)): Path<(String, String)>,
    axum::Form(f): axum::Form<TokenForm>,
) -> Response {
    if let Err(r) = console.check_csrf(&f.csrf) {
        return r.into_response();
    }
    let outcome = ops::disconnect(&state.gw, &transport, &jid, &console.actor())
        .await
        .map(|()| format!("The session of {jid} on {transport} is ending."));
    console.back(&state, "/sessions", outcome)
}
