//! `GET /metrics`: the Prometheus text exposition, computed at scrape time from each
//! service's counters ([`pontoon_core::ServiceControl::stats`]) and the stored policies.
//!
//! The values live in the services' atomics; this module copies them into a private
//! `PrometheusRecorder` (not installed globally: nothing else in the process records
//! through the `metrics` facade) and renders it. Counters are set with `absolute`, gauges
//! with `set`. The latency histograms and the `process_*` metrics are appended as text
//! (`crate::exposition` says why).

use std::sync::Mutex;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use pontoon_core::SessionState;

use crate::Shared;

/// The private recorder and its handle.
pub(crate) struct Exporter {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// One scrape at a time, so a rendering never mixes two snapshots.
    scrape: Mutex<()>,
}

impl Exporter {
    pub(crate) fn new() -> Exporter {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe_gauge!(
                "pontoon_sessions",
                "Legacy sessions by transport and state."
            );
            describe_counter!(
                "pontoon_messages_total",
                "Messages passed, by transport and direction (to_legacy, to_xmpp)."
            );
            describe_counter!(
                "pontoon_errors_total",
                "Error stanzas sent to users (refusals and bounces)."
            );
            describe_counter!("pontoon_login_failures_total", "Legacy logins that failed.");
            describe_counter!(
                "pontoon_reconnects_total",
                "Reconnections, of legacy connections (link=legacy) and of the component link (link=xmpp)."
            );
            describe_gauge!(
                "pontoon_queue_depth",
                "Stanzas waiting in a queue (queue=xmpp_out: towards the XMPP server)."
            );
            describe_gauge!(
                "pontoon_link_up",
                "Whether the transport's component link is up (1) or down (0)."
            );
            describe_gauge!(
                "pontoon_transport_enabled",
                "Whether the operator enabled the transport (1) or not (0)."
            );
            describe_gauge!(
                "pontoon_uptime_seconds",
                "Seconds since the gateway started."
            );
            describe_gauge!(
                "pontoon_loop_busy_seconds",
                "How long a loop every user depends on (loop=\"service irc\", \"client router\") has been busy with its current event; 0 while it waits. Above 5 the loop is stalled and /readyz fails."
            );
            describe_gauge!("pontoon_build_info", "Always 1; the version is a label.");
            describe_gauge!(
                "pontoon_ready",
                "Whether GET /readyz answers ready (1) or not (0)."
            );
            describe_gauge!(
                "pontoon_client_connections",
                "Server mode: client streams bound to a resource (including ones waiting to be resumed, XEP-0198)."
            );
            describe_gauge!(
                "pontoon_client_users",
                "Server mode: users with at least one bound client stream."
            );
        });
        Exporter {
            recorder,
            handle,
            scrape: Mutex::new(()),
        }
    }
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Renders the exposition now.
pub(crate) async fn render(state: &Shared) -> String {
    // The enabled flags need the store; a failing store leaves them at their last value
    // (readiness reports the store itself).
    let enabled = state.gw.policies_now().await.ok();
    let gw = &state.gw;
    let ready = crate::health::not_ready(&gw.store, &gw.services, &gw.loops)
        .await
        .is_empty();
    // /proc reads block: off the runtime's threads.
    let process = tokio::task::spawn_blocking(crate::exposition::collect_process)
        .await
        .unwrap_or_default();
    let ex = &state.metrics;
    let _one = ex.scrape.lock().unwrap_or_else(|e| e.into_inner());
    // Read once, so a histogram's count is the messages counter of the same scrape.
    let stats: Vec<(String, pontoon_core::ServiceStats)> = state
        .gw
        .services
        .iter()
        .map(|c| (c.transport().to_owned(), c.stats()))
        .collect();
    metrics::with_local_recorder(&ex.recorder, || {
        for (t, s) in &stats {
            for (i, st) in SessionState::ALL.iter().enumerate() {
                gauge!("pontoon_sessions", "transport" => t.clone(), "state" => st.as_str())
                    .set(s.sessions[i] as f64);
            }
            counter!("pontoon_messages_total", "transport" => t.clone(), "direction" => "to_legacy")
                .absolute(s.messages_to_legacy);
            counter!("pontoon_messages_total", "transport" => t.clone(), "direction" => "to_xmpp")
                .absolute(s.messages_to_xmpp);
            counter!("pontoon_errors_total", "transport" => t.clone()).absolute(s.errors);
            counter!("pontoon_login_failures_total", "transport" => t.clone())
                .absolute(s.login_failures);
            counter!("pontoon_reconnects_total", "transport" => t.clone(), "link" => "legacy")
                .absolute(s.legacy_reconnects);
            counter!("pontoon_reconnects_total", "transport" => t.clone(), "link" => "xmpp")
                .absolute(s.link_reconnects);
            gauge!("pontoon_queue_depth", "transport" => t.clone(), "queue" => "xmpp_out")
                .set(s.link_queue_depth as f64);
            gauge!("pontoon_link_up", "transport" => t.clone()).set(flag(s.link_up));
            if let Some(policies) = &enabled {
                let on = policies.iter().any(|(name, p)| *name == *t && p.enabled);
                gauge!("pontoon_transport_enabled", "transport" => t.clone()).set(flag(on));
            }
        }
        for w in state.gw.all_loops() {
            gauge!("pontoon_loop_busy_seconds", "loop" => w.name().to_owned())
                .set(w.busy_for().as_secs_f64());
        }
        gauge!("pontoon_uptime_seconds").set(state.uptime().as_secs_f64().floor());
        gauge!("pontoon_build_info", "version" => state.gw.version).set(1.0);
        gauge!("pontoon_ready").set(flag(ready));
        if let Some(clients) = &state.gw.clients {
            #[allow(clippy::cast_precision_loss)] // counts far below 2^53
            {
                gauge!("pontoon_client_connections").set(clients.connections() as f64);
                gauge!("pontoon_client_users").set(clients.users() as f64);
            }
        }
    });
    let mut out = ex.handle.render();
    let mut series = Vec::with_capacity(2 * stats.len());
    for (t, s) in &stats {
        series.push((
            vec![("transport", t.as_str()), ("direction", "to_legacy")],
            s.latency_to_legacy,
        ));
        series.push((
            vec![("transport", t.as_str()), ("direction", "to_xmpp")],
            s.latency_to_xmpp,
        ));
    }
    crate::exposition::histogram(
        &mut out,
        "pontoon_message_latency_seconds",
        "How long messages took through the gateway, by transport and direction: to_legacy from the stanza read from the XMPP side to the message handed to the legacy session; to_xmpp from the legacy session handing the message over (right after reading it) to the stanza built for the XMPP side.",
        &series,
    );
    crate::exposition::process(&mut out, &process);
    out
}

async fn metrics_page(State(state): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state).await,
    )
}

pub(crate) fn routes() -> Router<Shared> {
    Router::new().route("/metrics", get(metrics_page))
}
