//! Presence badges on the public listener, for status pages:
//!
//! - `GET /presence/{transport}/{bare-jid}.svg|.json`: a user's presence on a transport
//!   (online, away, busy, offline), for users who turned their badge on
//!   (`pontoon_core::ops::badges`; off by default). A user who did not, an unknown user and
//!   a malformed address get one and the same answer, byte for byte, so a badge tells
//!   nothing about who uses the gateway.
//! - `GET /status/{transport}.svg|.json`: the transport itself: up or down, users online.
//!
//! Answers are public and cacheable for a minute; each client address may ask at the
//! rate of `limit` (beyond: 429). Every answer carries the listener's common headers
//! (`nosniff`, a CSP that allows nothing and sandboxes the document).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pontoon_core::control::SessionState;
use pontoon_core::{ServiceControl, Shown, UserPresence};
use pontoon_store::Store;
use serde::Serialize;

mod limit;
mod svg;

#[cfg(test)]
mod tests;

use crate::files::headers::add_common;
use svg::Colour;

/// Cache lifetime of every answer but refusals of the rate limit.
const CACHE: &str = "public, max-age=60";

/// The one answer for every badge that is not shown.
const NOT_FOUND: &str = "no such badge\n";

/// What the routes share.
struct Shared {
    store: Store,
    services: HashMap<String, ServiceControl>,
    limiter: limit::Limiter,
}

/// The presence routes' state: build it with [`PresenceService::new`] and merge
/// [`PresenceService::router`] into the listener's router.
#[derive(Clone)]
pub struct PresenceService(Arc<Shared>);

impl std::fmt::Debug for PresenceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceService")
            .field("transports", &self.0.services.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl PresenceService {
    /// Badges of `services`' transports (by name), reading the users' choices from `store`.
    pub fn new(store: Store, services: impl IntoIterator<Item = ServiceControl>) -> Self {
        Self::with_rate(store, services, limit::RATE)
    }

    fn with_rate(
        store: Store,
        services: impl IntoIterator<Item = ServiceControl>,
        rate: limit::Rate,
    ) -> Self {
        PresenceService(Arc::new(Shared {
            store,
            services: services
                .into_iter()
                .map(|c| (c.transport().to_owned(), c))
                .collect(),
            limiter: limit::Limiter::new(rate),
        }))
    }

    /// The routes, with the rate limit and the server's time limit and framing checks.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/presence/{transport}/{file}", get(user))
            .route("/status/{file}", get(transport))
            .layer(axum::middleware::from_fn_with_state(self.clone(), limited))
            .layer(axum::middleware::from_fn(|req, next| {
                crate::server::request_timeout(crate::server::REQUEST_TIMEOUT, req, next)
            }))
            .layer(axum::middleware::from_fn(crate::server::framing))
            .with_state(self.clone())
    }
}

/// What is asked for: the image or the document.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Svg,
    Json,
}

/// `name.svg` or `name.json`, split.
fn split(file: &str) -> Option<(&str, Format)> {
    if let Some(name) = file.strip_suffix(".svg") {
        return Some((name, Format::Svg));
    }
    file.strip_suffix(".json").map(|name| (name, Format::Json))
}

/// An answer with the listener's common headers.
fn answer(
    status: StatusCode,
    content_type: &'static str,
    body: String,
    cache: &'static str,
) -> Response {
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    add_common(h);
    res
}

fn not_found() -> Response {
    answer(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        NOT_FOUND.to_owned(),
        CACHE,
    )
}

fn unavailable() -> Response {
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        "text/plain; charset=utf-8",
        "the gateway cannot answer now; try again later\n".to_owned(),
        "no-store",
    )
}

fn shown_as<T: Serialize>(
    format: Format,
    doc: &T,
    label: &str,
    value: &str,
    colour: Colour,
) -> Response {
    match format {
        Format::Svg => answer(
            StatusCode::OK,
            "image/svg+xml",
            svg::badge(label, value, colour),
            CACHE,
        ),
        Format::Json => match serde_json::to_string(doc) {
            Ok(mut body) => {
                body.push('\n');
                answer(StatusCode::OK, "application/json", body, CACHE)
            }
            Err(_) => unavailable(),
        },
    }
}

/// The rate limit, per client address (the TCP peer: a reverse proxy in front makes its
/// clients share one; forwarded headers are not trusted).
async fn limited(State(svc): State<PresenceService>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    if !svc.0.limiter.allow(ip) {
        let mut res = answer(
            StatusCode::TOO_MANY_REQUESTS,
            "text/plain; charset=utf-8",
            "too many requests; try again in a minute\n".to_owned(),
            "no-store",
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
        return res;
    }
    next.run(req).await
}

/// A user's badge document.
#[derive(Serialize)]
struct UserDoc<'a> {
    transport: &'a str,
    user: &'a str,
    presence: &'static str,
    status: Option<&'a str>,
}

/// `GET /presence/{transport}/{bare-jid}.svg|.json`.
async fn user(
    State(svc): State<PresenceService>,
    Path((transport, file)): Path<(String, String)>,
) -> Response {
    let Some((name, format)) = split(&file) else {
        return not_found();
    };
    let Some(service) = svc.0.services.get(&transport) else {
        return not_found();
    };
    let Ok(jid) = pontoon_core::control::user_jid(name) else {
        return not_found();
    };
    let presence: UserPresence =
        match pontoon_core::ops::badges::shown(&svc.0.store, service, &jid).await {
            Ok(Some(p)) => p,
            Ok(None) => return not_found(),
            Err(e) => {
                tracing::warn!(error = %e, "presence badge: the store did not answer");
                return unavailable();
            }
        };
    let colour = match presence.shown {
        Shown::Online => Colour::Green,
        Shown::Away => Colour::Yellow,
        Shown::Busy => Colour::Red,
        Shown::Offline => Colour::Grey,
    };
    let doc = UserDoc {
        transport: service.transport(),
        user: jid.as_str(),
        presence: presence.shown.as_str(),
        status: presence.status.as_deref(),
    };
    shown_as(
        format,
        &doc,
        service.display_name(),
        presence.shown.as_str(),
        colour,
    )
}

/// A transport's status document.
#[derive(Serialize)]
struct TransportDoc<'a> {
    transport: &'a str,
    name: &'a str,
    status: &'static str,
    users_online: u64,
}

/// `GET /status/{transport}.svg|.json`: up while the operator has it enabled, its link to
/// the XMPP side is up and its loop makes progress; users online are those whose session
/// is logged in (or connecting again).
async fn transport(State(svc): State<PresenceService>, Path(file): Path<String>) -> Response {
    let Some((name, format)) = split(&file) else {
        return not_found();
    };
    let Some(service) = svc.0.services.get(name) else {
        return not_found();
    };
    let enabled = match svc.0.store.transport_policy(name).await {
        Ok(p) => p.is_some_and(|p| p.enabled),
        Err(e) => {
            tracing::warn!(error = %e, "transport status: the store did not answer");
            return unavailable();
        }
    };
    let stats = service.stats();
    let up = enabled && stats.link_up && service.watch().stalled_for().is_none();
    let users_online = stats.sessions[SessionState::Online.index()]
        + stats.sessions[SessionState::Reconnecting.index()];
    let doc = TransportDoc {
        transport: service.transport(),
        name: service.display_name(),
        status: if up { "up" } else { "down" },
        users_online,
    };
    let (value, colour) = if up {
        (format!("up, {users_online} online"), Colour::Green)
    } else {
        ("down".to_owned(), Colour::Red)
    };
    shown_as(format, &doc, service.display_name(), &value, colour)
}
