//! `/sessions`: who is connected through which transport, the legacy state, resources,
//! rooms, since when and the last problem; searched and paged (thousands of users); end a
//! session.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pontoon_core::SessionState;
use serde::Deserialize;

use super::{Console, Layout, Pager, St, TokenForm, render, segment, unavailable};
use crate::ops::{self, OpError, SessionFilter};
use crate::web::utc;

/// Rows per page.
const PER_PAGE: u32 = 100;
/// Rooms named in a row at most (the API lists them all).
const ROOMS_SHOWN: usize = 5;

struct Row {
    transport: String,
    user: String,
    legacy_id: String,
    state: &'static str,
    resources: String,
    rooms: String,
    since: String,
    last_error: String,
    action: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
struct Sessions {
    layout: Layout,
    rows: Vec<Row>,
    problems: Vec<String>,
    transports: Vec<String>,
    states: [&'static str; 4],
    q: String,
    transport: String,
    state: String,
    pager: Pager,
}

impl Sessions {
    fn is_transport(&self, t: &str) -> bool {
        t == self.transport
    }

    fn is_state(&self, s: &str) -> bool {
        s == self.state
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct SessionsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    transport: String,
    #[serde(default)]
    state: String,
    page: Option<u32>,
}

/// The resources as their names only (the user's JID is in the row already).
fn resource_names(user: &str, resources: &[String]) -> String {
    resources
        .iter()
        .map(|r| {
            r.strip_prefix(user)
                .and_then(|rest| rest.strip_prefix('/'))
                .unwrap_or(r)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first rooms and how many more.
fn room_names(rooms: &[String]) -> String {
    let mut text = rooms
        .iter()
        .take(ROOMS_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if rooms.len() > ROOMS_SHOWN {
        text.push_str(&format!(" and {} more", rooms.len() - ROOMS_SHOWN));
    }
    text
}

pub(crate) async fn page(
    State(state): St,
    console: Console,
    Query(sq): Query<SessionsQuery>,
) -> Response {
    let page = sq.page.unwrap_or(1).max(1);
    let filter = SessionFilter {
        transport: Some(sq.transport.clone()).filter(|t| !t.is_empty()),
        // An unknown state (a hand-edited URL) shows every state.
        state: ops::state_named(&sq.state).ok(),
        search: Some(sq.q.clone()),
    };
    let offset = (page - 1).saturating_mul(PER_PAGE);
    let listed = match ops::sessions_page(&state.gw, &filter, PER_PAGE, offset).await {
        Ok(p) => p,
        Err(OpError::NotFound(_)) => ops::SessionsPage::default(),
        Err(e) => return unavailable(&e),
    };
    let rows = listed
        .items
        .into_iter()
        .map(|(transport, s)| Row {
            action: format!(
                "/sessions/{}/{}/disconnect",
                segment(&transport),
                segment(s.user.as_str())
            ),
            resources: resource_names(s.user.as_str(), &s.resources),
            rooms: room_names(&s.rooms),
            user: s.user.to_string(),
            legacy_id: s.legacy_id,
            state: s.state.as_str(),
            since: utc(s.since),
            last_error: s.last_error.unwrap_or_default(),
            transport,
        })
        .collect();
    let href = |p: u32| {
        format!(
            "/sessions?q={}&transport={}&state={}&page={p}",
            segment(&sq.q),
            segment(&sq.transport),
            segment(&sq.state)
        )
    };
    let pager = Pager::new(page, PER_PAGE, listed.total as u64, href);
    render(
        StatusCode::OK,
        &Sessions {
            layout: console.layout(&state, "Sessions"),
            rows,
            problems: listed
                .problems
                .into_iter()
                .map(|(t, e)| format!("{t}: {e}"))
                .collect(),
            transports: state
                .gw
                .services
                .iter()
                .map(|c| c.transport().to_owned())
                .collect(),
            states: SessionState::ALL.map(SessionState::as_str),
            q: sq.q,
            transport: sq.transport,
            state: sq.state,
            pager,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_rooms_are_shortened() {
        let r = vec!["a@x.org/phone".to_owned(), "a@x.org/desk top".to_owned()];
        assert_eq!(resource_names("a@x.org", &r), "phone, desk top");
        assert_eq!(
            resource_names("b@x.org", &r),
            "a@x.org/phone, a@x.org/desk top"
        );
        let rooms: Vec<String> = (1..=7).map(|i| format!("#r{i}")).collect();
        assert_eq!(room_names(&rooms), "#r1, #r2, #r3, #r4, #r5 and 2 more");
        assert_eq!(room_names(&rooms[..1]), "#r1");
    }
}
