//! `GET /status`: version, uptime and each transport's state and counters.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiResult;
use crate::Shared;
use crate::ops;

/// Sessions by state.
#[derive(Serialize, ToSchema)]
#[schema(as = SessionCounts)]
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

/// One transport's state and counters.
#[derive(Serialize, ToSchema)]
struct TransportStatus {
    name: String,
    domain: String,
    enabled: bool,
    /// Whether the component link to the XMPP server is up (always false in server mode,
    /// which has none).
    link_up: bool,
    sessions: Sessions,
    /// Since start.
    messages_to_legacy: u64,
    /// Since start.
    messages_to_xmpp: u64,
    /// Over the last minute.
    messages_to_legacy_per_minute: f64,
    /// Over the last minute.
    messages_to_xmpp_per_minute: f64,
    /// Error stanzas sent to users (logged as `error sent to a user`, 20 per 10 s at most).
    errors: u64,
    login_failures: u64,
    legacy_reconnects: u64,
    link_reconnects: u64,
    /// Stanzas waiting for the XMPP server.
    queue_depth: u64,
}

/// The gateway's version, mode, uptime and transports.
#[derive(Serialize, ToSchema)]
pub(crate) struct Status {
    #[schema(value_type = String)]
    version: &'static str,
    /// `component` or `server`.
    mode: String,
    uptime_seconds: u64,
    transports: Vec<TransportStatus>,
}

/// Version, uptime and each transport's state and counters
#[utoipa::path(get, path = "/status", operation_id = "getStatus",
    responses((status = 200, description = "The gateway's status", body = Status)))]
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
