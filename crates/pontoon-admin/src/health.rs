//! `GET /healthz` (the process answers) and `GET /readyz` (the store answers and every
//! enabled transport's component link is up). Both are plain text, without login, for
//! load balancers and supervisors.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::Shared;

async fn healthz() -> &'static str {
    "ok\n"
}

/// Why the gateway is not ready, if it is not.
pub(crate) async fn not_ready(state: &Shared) -> Vec<String> {
    let policies = match state.gw.store.transport_policies().await {
        Ok(p) => p,
        Err(e) => return vec![format!("the store does not answer: {e}")],
    };
    state
        .gw
        .services
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
        .collect()
}

async fn readyz(State(state): State<Shared>) -> impl IntoResponse {
    let reasons = not_ready(&state).await;
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
