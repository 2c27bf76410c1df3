//! `GET /transports`, `GET|PATCH /transports/{name}`, `POST /transports/{name}/announce`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, State};
use serde::{Deserialize, Serialize};

use super::{Actor, ApiJson, ApiPath, ApiResult};
use crate::Shared;
use crate::ops::{self, PolicyChange, TransportView};

/// A transport and its policy.
#[derive(Serialize)]
pub(crate) struct Transport {
    name: String,
    domain: String,
    display_name: String,
    enabled: bool,
    link_up: bool,
    debug_logging: bool,
    public_registration: bool,
    manual_registration_only: bool,
    allowed_servers: Vec<String>,
    allow_list: Vec<String>,
    options: BTreeMap<String, String>,
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
        }
    }
}

pub(crate) async fn list(State(state): State<Shared>) -> ApiResult<Json<Vec<Transport>>> {
    Ok(Json(
        ops::transports(&state.gw)
            .await?
            .into_iter()
            .map(Transport::from)
            .collect(),
    ))
}

pub(crate) async fn get(
    State(state): State<Shared>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Transport>> {
    Ok(Json(ops::transport(&state.gw, &name).await?.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Patch {
    enabled: Option<bool>,
    debug_logging: Option<bool>,
    public_registration: Option<bool>,
    manual_registration_only: Option<bool>,
    allowed_servers: Option<Vec<String>>,
    allow_list: Option<Vec<String>>,
    options: Option<BTreeMap<String, String>>,
}

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
    };
    Ok(Json(
        ops::change_policy(&state.gw, &name, change, &actor.0)
            .await?
            .into(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Announce {
    text: String,
}

#[derive(Serialize)]
pub(crate) struct Sent {
    sent: usize,
}

pub(crate) async fn announce(
    State(state): State<Shared>,
    Extension(actor): Extension<Actor>,
    ApiPath(name): ApiPath<String>,
    ApiJson(a): ApiJson<Announce>,
) -> ApiResult<Json<Sent>> {
    let sent = ops::announce(&state.gw, &name, &a.text, &actor.0).await?;
    Ok(Json(Sent { sent }))
}
