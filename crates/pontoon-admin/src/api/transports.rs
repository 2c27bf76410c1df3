//! `GET /transports`, `GET|PATCH /transports/{name}`, `POST /transports/{name}/announce`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Actor, ApiJson, ApiPath, ApiResult};
use crate::Shared;
use crate::ops::{self, PolicyChange, TransportView};

/// A transport and its policy.
/// A transport and its policy.
#[derive(Serialize, ToSchema)]
pub(crate) struct Transport {
    name: String,
    domain: String,
    display_name: String,
    enabled: bool,
    link_up: bool,
    debug_logging: bool,
    /// false: only JIDs and domains on allow_list may register themselves.
    public_registration: bool,
    /// true: nobody registers themselves; operators register users.
    manual_registration_only: bool,
    /// XMPP server domains whose users may use the transport; empty: any.
    allowed_servers: Vec<String>,
    /// Bare JIDs or domains; empty: everyone the servers rule allows.
    allow_list: Vec<String>,
    /// The transport's options (connect host and port, TLS, flood limits...).
    options: BTreeMap<String, String>,
    /// Days the message archive (MAM, history on joining a room) keeps; 0: nothing is
    /// archived.
    history_days: u32,
    /// Messages the archive keeps per room, at most; 0: no count limit.
    history_per_room: u32,
    /// true: users stay online while away (their legacy session stays connected and in its
    /// rooms while no XMPP client of theirs is online) unless they say otherwise.
    always_online_default: bool,
    /// At most this many users are kept online while away at once; 0: nobody is.
    always_online_limit: u32,
    /// A backend transport's processes; empty for a transport built in.
    processes: Vec<BackendProcess>,
}

/// One process of a backend transport.
#[derive(Serialize, ToSchema)]
pub(crate) struct BackendProcess {
    /// `running (pid N)`, or `restarting in Ns: ` and why it stopped.
    state: String,
    /// Restarts so far.
    restarts: u32,
    /// Sessions it serves.
    sessions: usize,
    /// Its last lines on stderr, oldest first.
    stderr: Vec<String>,
}

impl From<TransportView> for Transport {
    fn from(t: TransportView) -> Self {
        let p = t.policy;
        Transport {
            name: t.name,
            domain: t.domain,
            display_name: t.display_name,
            enabled: p.enabled,
            link_up: t.stats.link_up,
            debug_logging: p.debug_logging,
            public_registration: p.public_registration,
            manual_registration_only: p.manual_registration_only,
            allowed_servers: p.allowed_servers,
            allow_list: p.allow_list,
            options: p.options,
            history_days: p.history_days,
            history_per_room: p.history_per_room,
            always_online_default: p.always_online_default,
            always_online_limit: p.always_online_limit,
            processes: t
                .processes
                .into_iter()
                .map(|v| BackendProcess {
                    state: v.state,
                    restarts: v.restarts,
                    sessions: v.sessions,
                    stderr: v.stderr,
                })
                .collect(),
        }
    }
}

/// Every configured transport with its policy
#[utoipa::path(get, path = "/transports", operation_id = "listTransports",
    responses((status = 200, description = "The transports, in configuration order", body = Vec<Transport>)))]
pub(crate) async fn list(State(state): State<Shared>) -> ApiResult<Json<Vec<Transport>>> {
    Ok(Json(
        ops::transports(&state.gw)
            .await?
            .into_iter()
            .map(Transport::from)
            .collect(),
    ))
}

/// One transport with its policy
#[utoipa::path(get, path = "/transports/{name}", operation_id = "getTransport",
    params(("name" = String, Path, description = "Transport name, e.g. `irc`.")),
    responses(
        (status = 200, description = "The transport", body = Transport),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such transport"),
    ))]
pub(crate) async fn get(
    State(state): State<Shared>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Transport>> {
    Ok(Json(ops::transport(&state.gw, &name).await?.into()))
}

/// Any subset of the policy's fields; the others are kept.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TransportPatch)]
pub(crate) struct Patch {
    enabled: Option<bool>,
    debug_logging: Option<bool>,
    public_registration: Option<bool>,
    manual_registration_only: Option<bool>,
    allowed_servers: Option<Vec<String>>,
    allow_list: Option<Vec<String>>,
    /// Replaces the whole map.
    options: Option<BTreeMap<String, String>>,
    /// At most 36500; 0 turns archiving off.
    history_days: Option<u32>,
    /// At most 10000000; 0: no count limit.
    history_per_room: Option<u32>,
    /// Users stay online while away unless they say otherwise.
    always_online_default: Option<bool>,
    /// At most 1000000; 0: nobody is kept online while away.
    always_online_limit: Option<u32>,
}

/// Change a transport's policy
///
/// Any subset of the fields; others are kept. `options` replaces the whole map and is
/// checked by the transport (422 when refused; nothing is stored), as are `history_days`
/// (at most 36500), `history_per_room` (at most 10000000) and `always_online_limit` (at
/// most 1000000). Changing `enabled` to false ends the transport's sessions.
/// `debug_logging` switches debug events of this transport on or off in the log at once.
#[utoipa::path(patch, path = "/transports/{name}", operation_id = "patchTransport",
    params(("name" = String, Path, description = "Transport name, e.g. `irc`.")),
    request_body = Patch,
    responses(
        (status = 200, description = "The transport after the change", body = Transport),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such transport"),
        (status = 413, description = "Too large"),
        (status = 422, description = "Refused"),
    ))]
pub(crate) async fn patch(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath(name): ApiPath<String>,
    ApiJson(p): ApiJson<Patch>,
) -> ApiResult<Json<Transport>> {
    let change = PolicyChange {
        enabled: p.enabled,
        debug_logging: p.debug_logging,
        public_registration: p.public_registration,
        manual_registration_only: p.manual_registration_only,
        allowed_servers: p.allowed_servers,
        allow_list: p.allow_list,
        options: p.options,
        history_days: p.history_days,
        history_per_room: p.history_per_room,
        always_online_default: p.always_online_default,
        always_online_limit: p.always_online_limit,
    };
    Ok(Json(
        ops::change_policy(&state.gw, &name, change, &actor.0)
            .await?
            .into(),
    ))
}

/// The text to send.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Announcement)]
pub(crate) struct Announce {
    text: String,
}

/// How many users the message went to.
#[derive(Serialize, ToSchema)]
pub(crate) struct Sent {
    sent: usize,
}

/// Send a message from the transport to every user with a session
#[utoipa::path(post, path = "/transports/{name}/announce", operation_id = "announce",
    params(("name" = String, Path, description = "Transport name, e.g. `irc`.")),
    request_body = Announce,
    responses(
        (status = 200, description = "How many users it was sent to", body = Sent),
        (status = 400, description = "Bad request"),
        (status = 404, description = "No such transport"),
        (status = 413, description = "Too large"),
        (status = 422, description = "An empty or too long announcement"),
    ))]
pub(crate) async fn announce(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath(name): ApiPath<String>,
    ApiJson(a): ApiJson<Announce>,
) -> ApiResult<Json<Sent>> {
    let sent = ops::announce(&state.gw, &name, &a.text, &actor.0).await?;
    Ok(Json(Sent { sent }))
}
