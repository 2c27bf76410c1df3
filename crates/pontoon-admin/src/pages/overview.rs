//! `/`: the overview. Per transport: state, sessions by state, message totals and rates,
//! errors, charts of the last 24 hours; the gateway's uptime, version and mode. The page
//! refreshes itself (a meta refresh: no script).

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Console, Layout, St, render, segment, unavailable};
use crate::history::sparkline;
use crate::ops;
use crate::web::human_duration;

struct Row {
    name: String,
    domain: String,
    display_name: String,
    enabled: bool,
    link_up: bool,
    sessions: [u64; 4],
    to_legacy: u64,
    to_xmpp: u64,
    rate_legacy: String,
    rate_xmpp: String,
    errors: u64,
    /// The Logs page showing what `errors` counts.
    errors_href: String,
    login_failures: u64,
    /// Inline SVG: sessions online over the last 24 hours.
    online_chart: String,
    /// Inline SVG: messages per minute over the last 24 hours.
    messages_chart: String,
}

/// Seconds between two automatic refreshes of the page.
const REFRESH_SECS: u32 = 30;

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    layout: Layout,
    rows: Vec<Row>,
    uptime: String,
    version: &'static str,
    mode: String,
    registrations: u64,
    /// Component mode: the link's state is shown.
    has_link: bool,
    refresh_secs: u32,
}

pub(crate) async fn page(axum::extract::State(state): St, console: Console) -> Response {
    let views = match ops::transports(&state.gw).await {
        Ok(v) => v,
        Err(e) => return unavailable(&e),
    };
    let registrations = state.gw.store.count_registrations(None).await.unwrap_or(0);
    let rows = views
        .into_iter()
        .map(|t| {
            let s = &t.stats;
            let rate = state
                .rates
                .observe(&t.name, s.messages_to_legacy, s.messages_to_xmpp);
            let online = s.sessions[pontoon_core::SessionState::Online.index()];
            let messages = s.messages_to_legacy.saturating_add(s.messages_to_xmpp);
            let chart = state.history.chart(&t.name, online, messages);
            Row {
                enabled: t.policy.enabled,
                link_up: s.link_up,
                sessions: s.sessions,
                to_legacy: s.messages_to_legacy,
                to_xmpp: s.messages_to_xmpp,
                rate_legacy: format!("{:.1}", rate.to_legacy),
                rate_xmpp: format!("{:.1}", rate.to_xmpp),
                errors: s.errors,
                // Each error sent is logged at info (see `pontoon_core::stanza`).
                errors_href: format!("/logs?transport={}&level=INFO", segment(&t.name)),
                login_failures: s.login_failures,
                online_chart: sparkline(&chart.online, "Sessions online"),
                messages_chart: sparkline(&chart.messages_per_minute, "Messages per minute"),
                name: t.name,
                domain: t.domain,
                display_name: t.display_name,
            }
        })
        .collect();
    render(
        StatusCode::OK,
        &Overview {
            layout: console.layout(&state, "Overview"),
            rows,
            uptime: human_duration(state.uptime().as_secs()),
            version: state.gw.version,
            mode: state.gw.mode.clone(),
            registrations,
            has_link: state.gw.has_link(),
            refresh_secs: REFRESH_SECS,
        },
    )
}
