//! `GET /healthz` (the process answers) and `GET /readyz` (the store answers, every
//! enabled transport's component link is up, and no loop every user depends on, a
//! service's or server mode's client router, has been stuck on one event for longer than
//! `pontoon_core::watchdog::STALL_AFTER`). Both are plain text, without login, for load
//! balancers and supervisors.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::Shared;
use pontoon_core::ServiceControl;
use pontoon_core::watchdog::LoopWatch;

async fn healthz() -> &'static str {
    "ok\n"
}

/// Why the gateway is not ready, if it is not: the store answers, the component link of
/// every transport enabled in `store` is up (server mode: always), and none of the
/// `services`' loops nor the other `loops` is stalled. What `/readyz` answers, and what
/// `pontoon run` waits on before it tells the service manager it is ready. The answer goes
/// to anyone (no login), so a store failure is told without its details (they may name
/// hosts, users or paths); the details go to the log.
pub async fn not_ready(
    store: &pontoon_store::Store,
    services: &[ServiceControl],
    loops: &[LoopWatch],
) -> Vec<String> {
    let stalled = stalled(services.iter().map(|c| c.watch()).chain(loops));
    let policies = match crate::policies_within(store).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: the store does not answer");
            return [vec!["store unavailable".to_owned()], stalled].concat();
        }
    };
    let mut reasons: Vec<String> = services
        .iter()
        .filter(|c| {
            policies
                .iter()
                .any(|(name, p)| name == c.transport() && p.enabled)
        })
        .filter(|c| !c.stats().link_up)
        .map(|c| {
            format!(
                "transport {}: the component link to the XMPP server is down",
                c.transport()
            )
        })
        .collect();
    reasons.extend(stalled);
    reasons
}

/// A reason for each loop stalled on one event (see `pontoon_core::watchdog`).
fn stalled<'a>(loops: impl Iterator<Item = &'a LoopWatch>) -> Vec<String> {
    loops
        .filter_map(|w| {
            w.stalled_for().map(|d| {
                format!(
                    "{}: no progress for {} s (users are not being served)",
                    w.name(),
                    d.as_secs()
                )
            })
        })
        .collect()
}

async fn readyz(State(state): State<Shared>) -> impl IntoResponse {
    let gw = &state.gw;
    let reasons = not_ready(&gw.store, &gw.services, &gw.loops).await;
    if reasons.is_empty() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready:\n{}\n", reasons.join("\n")),
        )
    }
}

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    /// A loop busy with one event for too long makes the gateway not ready; an idle one
    /// does not.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_loop_is_not_ready() {
        let idle = LoopWatch::new("service irc");
        let stuck = LoopWatch::new("client router");
        let _busy = stuck.busy();
        tokio::time::advance(std::time::Duration::from_secs(7)).await;
        assert_eq!(
            stalled([&idle, &stuck].into_iter()),
            vec!["client router: no progress for 7 s (users are not being served)".to_owned()]
        );
    }

    /// A store failure's details (here: the database file's path) stay in the log.
    #[tokio::test]
    async fn readyz_hides_store_errors() {
        let dir = tempfile::tempdir().unwrap();
        let key = pontoon_store::StoreKey::load_or_create(&dir.path().join("key")).unwrap();
        let url = format!("sqlite://{}", dir.path().join("secret-name.db").display());
        let store = pontoon_store::Store::open(&url, key).await.unwrap();
        store.close().await;
        let gw = crate::Gateway {
            store,
            services: vec![],
            loops: vec![],
            clients: None,
            validate_options: std::sync::Arc::new(|_, _| Ok(())),
            option_specs: std::sync::Arc::new(|_| &[]),
            test_connection: std::sync::Arc::new(|_, _| Box::pin(async { Err("no".to_owned()) })),
            account_from_form: std::sync::Arc::new(|_, _, _| Err("no".to_owned())),
            backend_processes: std::sync::Arc::new(|_| Vec::new()),
            logs: crate::logs::LogBuffer::default(),
            log_filter: crate::logs::LogFilter::new("info").unwrap(),
            mode: "component".into(),
            version: "0",
        };
        let app = crate::router(crate::AdminConfig::default(), gw);
        let res = app
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(res.into_body(), 4096).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(body, "not ready:\nstore unavailable\n");
    }
}
