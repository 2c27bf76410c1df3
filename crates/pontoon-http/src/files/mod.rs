//! The public file listener: `PUT`/`GET /upload/{id}/{name}` (XEP-0363 uploads, `upload`)
//! and `GET /media/{token}/{name}` (network files behind media links, `media`), with the
//! headers that keep a browser from running a fetched file (`headers`), the operator's
//! scanner hook (`scan`) and the sweep that deletes expired slots and old files (`sweep`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use pontoon_core::media::MediaLinks;
use pontoon_core::{ServiceControl, Transport};
use pontoon_store::Store;
use tokio_util::sync::CancellationToken;

pub(crate) mod headers;
mod media;
mod scan;
mod sweep;
mod upload;

pub use scan::Scanner;

/// Longest time one request may take on this listener (an upload of a large file over a
/// slow link included); its headers still get the server's 10 s.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How the file listener runs.
#[derive(Clone, Debug)]
pub struct FileConfig {
    /// Where uploaded files are kept (created with mode 0700 if missing).
    pub dir: PathBuf,
    /// Files are deleted this long after upload; `None` keeps them.
    pub retention: Option<Duration>,
    /// A command every upload is handed to before it is served.
    pub scanner: Option<Scanner>,
    /// The largest network file served through a media link, in bytes.
    pub max_media_bytes: u64,
}

/// A transport whose files the listener serves through media links: the transport
/// fetches, its service says with whose state.
#[derive(Clone)]
pub struct Network {
    /// The transport.
    pub transport: Arc<dyn Transport>,
    /// Its service.
    pub control: ServiceControl,
}

/// What the listener's handlers share.
pub(crate) struct Shared {
    pub(crate) cfg: FileConfig,
    pub(crate) store: Store,
    pub(crate) links: Option<MediaLinks>,
    pub(crate) networks: HashMap<String, Network>,
}

/// The file listener's state: build it with [`FileService::new`], serve
/// [`FileService::router`] on [`crate::server::serve`], and run [`FileService::sweep`].
#[derive(Clone)]
pub struct FileService(pub(crate) Arc<Shared>);

impl std::fmt::Debug for FileService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileService")
            .field("cfg", &self.0.cfg)
            .finish_non_exhaustive()
    }
}

impl FileService {
    /// A file service keeping uploads under `cfg.dir`, believing `store`'s upload rows,
    /// opening media links with `links` and fetching their files from `networks` (by
    /// transport name). Creates the directory.
    pub fn new(
        cfg: FileConfig,
        store: Store,
        links: Option<MediaLinks>,
        networks: HashMap<String, Network>,
    ) -> std::io::Result<FileService> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&cfg.dir)?;
        Ok(FileService(Arc::new(Shared {
            cfg,
            store,
            links,
            networks,
        })))
    }

    /// The routes, with their limits (a request may take [`REQUEST_TIMEOUT`], chunked
    /// bodies are refused so every upload has a known length).
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/upload/{id}/{name}",
                get(upload::get).head(upload::get).put(upload::put),
            )
            .route("/media/{token}/{name}", get(media::get).head(media::get))
            .layer(axum::extract::DefaultBodyLimit::disable())
            .layer(axum::middleware::from_fn(|req, next| {
                crate::server::request_timeout(REQUEST_TIMEOUT, req, next)
            }))
            .layer(axum::middleware::from_fn(crate::server::framing))
            .with_state(self.clone())
    }

    /// Deletes expired slots and files past retention, now and then every few minutes,
    /// until `shutdown`.
    pub async fn sweep(self, shutdown: CancellationToken) {
        sweep::run(self, shutdown).await;
    }

    /// The path of upload `id`'s file (`id` is base64url: no path separators).
    pub(crate) fn path_of(&self, id: &str) -> PathBuf {
        self.0.cfg.dir.join(id)
    }
}

/// Whether `id` looks like an upload id (43 characters of base64url), checked before it
/// reaches the store or the file system.
pub(crate) fn plausible_id(id: &str) -> bool {
    id.len() == 43
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
