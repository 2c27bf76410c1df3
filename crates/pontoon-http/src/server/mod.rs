//! Pontoon's HTTP/1.1 server (the console's and the file listener's): an accept loop with a bound on open connections, a time
//! limit on reading each request's headers and on each request as a whole, and a graceful
//! stop.
//!
//! `axum::serve` has neither limit (hyper's header timeout needs a timer it does not set),
//! so one client opening connections and sending nothing, or sending headers a byte at a
//! time, could hold the listener's sockets and memory for ever. A request whose headers
//! are too slow is answered 408 ([`half_read`]), an idle keep-alive connection closed.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::{CONNECTION, TRANSFER_ENCODING};
use axum::http::{HeaderValue, StatusCode};
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
pub struct Limits {
    /// Most connections open at once; further clients wait in the kernel's backlog until
    /// one closes.
    pub max_connections: usize,
    /// Longest time a client may take to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    pub header_timeout: Duration,
    /// Largest request head (request line and headers) accepted; a longer one is answered
    /// 431 and the connection closed.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            max_header_bytes: MAX_HEADER_BYTES,
        }
    }
}

/// Largest request head accepted by default: 32 KiB, as much as nginx allows by default
/// (browsers send a few hundred bytes to the console). hyper's own default, about 400 KiB,
/// would let the 256 connections hold some 100 MiB of half-sent headers.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Longest time one request may take, from its headers to its answer (the body included);
/// then it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stop waits for the requests in flight.
const DRAIN: Duration = Duration::from_secs(5);

/// Middleware answering 408 when a request takes longer than `limit`.
pub async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            warn!(
                limit_secs = limit.as_secs_f64(),
                "HTTP: a request took too long and was cut off"
            );
            (
                StatusCode::REQUEST_TIMEOUT,
                "the request took too long; try again\n",
            )
                .into_response()
        }
    }
}

/// Middleware keeping every request's framing unambiguous: a request with a
/// `Transfer-Encoding` header is answered 400 (Pontoon takes bodies of a known
/// `Content-Length` only, so a request carrying both headers cannot be read one way by a
/// proxy in front and another by Pontoon: request smuggling), and that answer and a
/// 413 close the connection (a body left unread must not be taken for the next request).
/// hyper itself answers 400 and closes on a duplicate `Content-Length` with different
/// values, a `Transfer-Encoding` that does not end in `chunked`, an obsolete folded header
/// line.
pub async fn framing(req: Request, next: Next) -> Response {
    if req.headers().contains_key(TRANSFER_ENCODING) {
        debug!("HTTP: a request with Transfer-Encoding was refused");
        return closing(
            (
                StatusCode::BAD_REQUEST,
                "chunked request bodies are not accepted: send the body with a Content-Length\n",
            )
                .into_response(),
        );
    }
    let res = next.run(req).await;
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE {
        closing(res)
    } else {
        res
    }
}

/// `res`, after which hyper closes the connection.
fn closing(mut res: Response) -> Response {
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then lets the requests in
/// flight finish (for a bounded time). Each request carries the peer's address as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
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
                    debug!(%peer, error = %e, "HTTP connection could not be set up");
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
                .header_read_timeout(limits.header_timeout)
                .max_header_size(limits.max_header_bytes);
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
                    debug!(%peer, "HTTP: request headers too slow");
                    spare.answer_timeout().await;
                }
                Err(e) => debug!(%peer, error = %e, "HTTP connection ended with an error"),
                Ok(()) => {}
            }
        });
    }
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait())
        .await
        .is_err()
    {
        warn!("HTTP: requests still in flight at shutdown were cut off");
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
        let app = Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                format!("hello {}", peer.ip())
            }),
        );
        start_app(app, limits).await
    }

    async fn start_app(
        app: Router,
        limits: Limits,
    ) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
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
            ..Limits::default()
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

    /// Sends `bytes` on a new connection; everything answered until the server closes it
    /// (a test failure if it is still open after 3 s).
    async fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(bytes).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), c.read_to_end(&mut buf))
            .await
            .expect("the connection is closed")
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    }

    #[tokio::test]
    async fn long_request_heads_get_431() {
        let (addr, _stop, _task) = start(Limits {
            max_header_bytes: 8192,
            ..Limits::default()
        })
        .await;
        let fits = format!(
            "GET / HTTP/1.1\r\nhost: x\r\nx-pad: {}\r\nconnection: close\r\n\r\n",
            "a".repeat(7000)
        );
        assert!(
            exchange(addr, fits.as_bytes())
                .await
                .starts_with("HTTP/1.1 200 ")
        );
        let long = format!(
            "GET / HTTP/1.1\r\nhost: x\r\nx-pad: {}\r\n\r\n",
            "a".repeat(9000)
        );
        let answer = exchange(addr, long.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer:?}");
        assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer:?}");
    }

    /// A router counting the POSTs it served, behind [`framing`] and a 16-byte body limit.
    fn counting() -> (Router, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        let app = Router::new()
            .route(
                "/",
                axum::routing::post(move |body: axum::body::Bytes| async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    format!("got {}", body.len())
                }),
            )
            .layer(axum::extract::DefaultBodyLimit::max(16))
            .layer(axum::middleware::from_fn(framing));
        (app, served)
    }

    #[tokio::test]
    async fn chunked_bodies_are_refused_and_nothing_is_smuggled() {
        use std::sync::atomic::Ordering;
        let (app, served) = counting();
        let (addr, _stop, _task) = start_app(app, Limits::default()).await;
        let smuggled = "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi";
        // Content-Length and Transfer-Encoding both (in either order), and chunked alone:
        // one 400, the connection closed, the request after it never served.
        for head in [
            format!(
                "content-length: {}\r\ntransfer-encoding: chunked",
                5 + smuggled.len()
            ),
            format!(
                "transfer-encoding: chunked\r\ncontent-length: {}",
                5 + smuggled.len()
            ),
            "transfer-encoding: chunked".to_owned(),
        ] {
            let req = format!("POST / HTTP/1.1\r\nhost: x\r\n{head}\r\n\r\n0\r\n\r\n{smuggled}");
            let answer = exchange(addr, req.as_bytes()).await;
            assert!(answer.starts_with("HTTP/1.1 400 "), "{head}: {answer:?}");
            assert!(answer.contains("connection: close\r\n"), "{answer:?}");
            assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{head}: {answer:?}");
        }
        assert_eq!(served.load(Ordering::SeqCst), 0);
        // The same request with a Content-Length only is served, and the connection kept.
        let ok = format!("{smuggled}{smuggled}");
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(ok.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = String::new();
        while got.matches("got 2").count() < 2 {
            let n = tokio::time::timeout(Duration::from_secs(3), c.read(&mut buf))
                .await
                .expect("answered")
                .unwrap();
            assert!(n > 0, "closed: {got:?}");
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert_eq!(served.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_gets_413_and_the_connection_ends() {
        use std::sync::atomic::Ordering;
        let (app, served) = counting();
        let (addr, _stop, _task) = start_app(app, Limits::default()).await;
        // The whole body arrives (hyper could read past it), yet the connection ends after
        // the 413: the pipelined request after it is not served.
        let req = format!(
            "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 20\r\n\r\n{}POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
            "a".repeat(20)
        );
        let answer = exchange(addr, req.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 413 "), "{answer:?}");
        assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer:?}");
        assert_eq!(served.load(Ordering::SeqCst), 0);
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
