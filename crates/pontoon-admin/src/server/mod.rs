//! The console's HTTP/1.1 server: an accept loop with a bound on open connections, a time
//! limit on reading each request's headers and on each request as a whole, and a graceful
//! stop.
//!
//! `axum::serve` has neither limit (hyper's header timeout needs a timer it does not set),
//! so one client opening connections and sending nothing, or sending headers a byte at a
//! time, could hold the console's sockets and memory for ever. A request whose headers
//! are too slow is answered 408 ([`half_read`]), an idle keep-alive connection closed.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, warn};

mod half_read;

/// Limits of the server.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Most connections open at once; further clients wait in the kernel's backlog until
    /// one closes.
    pub(crate) max_connections: usize,
    /// Longest time a client may take to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    pub(crate) header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Longest time one request may take, from its headers to its answer (the body included);
/// then it is answered 408.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stop waits for the requests in flight.
const DRAIN: Duration = Duration::from_secs(5);

/// Middleware answering 408 when a request takes longer than `limit`.
pub(crate) async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            warn!(
                ?limit,
                "admin console: a request took too long and was cut off"
            );
            (
                StatusCode::REQUEST_TIMEOUT,
                "the request took too long; try again\n",
            )
                .into_response()
        }
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then lets the requests in
/// flight finish (for a bounded time). Each request carries the peer's address as
/// `ConnectInfo<SocketAddr>`.
pub(crate) async fn serve(
    mut listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let connections = TaskTracker::new();
    loop {
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        // axum's accept retries and logs errors (EMFILE waits a second).
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
        };
        let app = app.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            let (stream, spare) = match half_read::watch(stream) {
                Ok(pair) => pair,
                Err(e) => {
                    debug!(%peer, error = %e, "admin console connection could not be set up");
                    return;
                }
            };
            let service = app.map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut conn = pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            match result {
                Err(e) if e.is_timeout() => {
                    debug!(%peer, "admin console: request headers too slow");
                    spare.answer_timeout().await;
                }
                Err(e) => debug!(%peer, error = %e, "admin console connection ended with an error"),
                Ok(()) => {}
            }
        });
    }
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait())
        .await
        .is_err()
    {
        warn!("admin console: requests still in flight at shutdown were cut off");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use axum::routing::get;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn start(limits: Limits) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                format!("hello {}", peer.ip())
            }),
        );
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, app, limits, stop.clone()));
        (addr, stop, task)
    }

    /// Sends one request on a new connection; the answer (the connection closes after it).
    async fn get_root(addr: SocketAddr) -> String {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn answers_with_the_peer_address_and_stops() {
        let (addr, stop, task) = start(Limits::default()).await;
        let answer = get_root(addr).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("hello 127.0.0.1"), "{answer}");
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("stops")
            .unwrap();
    }

    #[tokio::test]
    async fn slow_headers_are_cut_off() {
        let (addr, _stop, _task) = start(Limits {
            header_timeout: Duration::from_millis(300),
            ..Limits::default()
        })
        .await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost:").await.unwrap();
        let mut buf = Vec::new();
        // The server answers 408 and closes the connection instead of waiting for ever.
        let closed = tokio::time::timeout(Duration::from_secs(3), c.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "still open");
        let answer = String::from_utf8_lossy(&buf);
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
        assert!(answer.ends_with("slowly; bye\r\n"), "{answer:?}");
    }

    #[tokio::test]
    async fn idle_keep_alive_connections_are_closed_in_silence() {
        let (addr, _stop, _task) = start(Limits {
            header_timeout: Duration::from_millis(300),
            ..Limits::default()
        })
        .await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(3), c.read_to_end(&mut buf)).await;
        assert!(closed.is_ok(), "still open");
        let answer = String::from_utf8_lossy(&buf);
        // One answer, to the one request; nothing after it.
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
        assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer:?}");
    }

    #[tokio::test]
    async fn connections_are_capped() {
        let (addr, _stop, _task) = start(Limits {
            max_connections: 1,
            header_timeout: Duration::from_millis(800),
        })
        .await;
        // One idle connection takes the only slot...
        let idle = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // ...so another client waits until the idle one is closed for its silence.
        let started = tokio::time::Instant::now();
        let answer = get_root(addr).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "served while the slot was taken"
        );
        drop(idle);
    }

    #[tokio::test]
    async fn slow_requests_get_408() {
        let app = Router::new()
            .route(
                "/",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .layer(axum::middleware::from_fn(|req, next| {
                request_timeout(Duration::from_millis(100), req, next)
            }));
        let res = app
            .oneshot(Request::get("/").body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    }
}
