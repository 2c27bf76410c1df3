//! `GET /status`: version, uptime and each transport's state and counters.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::ApiResult;
use crate::Shared;
use crate::ops;

#[derive(Serialize)]
pub(crate) struct Sessions {
    connecting: u64,
    online: u64,
    reconnecting: u64,
    ending: u64,
}

impl Sessions {
    /// From the counts in the order of `SessionState::ALL`.
    pub(crate) fn from_counts(c: [u64; 4]) -> Sessions {
        let [connecting, online, reconnecting, ending] = c;
        Sessions {
            connecting,
            online,
            reconnecting,
            ending,
        }
    }
}

#[derive(Serialize)]
struct TransportStatus {
    name: String,
    domain: String,
    enabled: bool,
    link_up: bool,
    sessions: Sessions,
    messages_to_legacy: u64,
    messages_to_xmpp: u64,
    messages_to_legacy_per_minute: f64,
    messages_to_xmpp_per_minute: f64,
    errors: u64,
    login_failures: u64,
    legacy_reconnects: u64,
    link_reconnects: u64,
    queue_depth: u64,
}

#[derive(Serialize)]
pub(crate) struct Status {
    version: &'static str,
    mode: String,
    uptime_seconds: u64,
    transports: Vec<TransportStatus>,
}

pub(crate) async fn get(State(state): State<Shared>) -> ApiResult<Json<Status>> {
    let transports = ops::transports(&state.gw)
        .await?
        .into_iter()
        .map(|t| {
            let s = t.stats;
            let rate = state
                .rates
                .observe(&t.name, s.messages_to_legacy, s.messages_to_xmpp);
            TransportStatus {
                enabled: t.policy.enabled,
                link_up: s.link_up,
                sessions: Sessions::from_counts(s.sessions),
                messages_to_legacy: s.messages_to_legacy,
                messages_to_xmpp: s.messages_to_xmpp,
                messages_to_legacy_per_minute: round1(rate.to_legacy),
                messages_to_xmpp_per_minute: round1(rate.to_xmpp),
                errors: s.errors,
                login_failures: s.login_failures,
                legacy_reconnects: s.legacy_reconnects,
                link_reconnects: s.link_reconnects,
                queue_depth: s.link_queue_depth,
                name: t.name,
                domain: t.domain,
            }
        })
        .collect();
    Ok(Json(Status {
        version: state.gw.version,
        mode: state.gw.mode.clone(),
        uptime_seconds: state.uptime().as_secs(),
        transports,
    }))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
