//! `GET /media/{token}/{name}`: a network's file behind a media link
//! (`pontoon_core::media`). The token says which transport fetches what with whose
//! credentials; the bytes go through as they come, never kept.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pontoon_core::media::{FetchError, LinkError};

use super::upload::answer;
use super::{FileService, headers};

/// How long the network may take to start sending the file.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Cache lifetime: the link is the user's, and expires.
const CACHE: &str = "private, max-age=3600";

pub(crate) async fn get(
    State(svc): State<FileService>,
    Path((token, name)): Path<(String, String)>,
) -> Response {
    let not_found = || answer(StatusCode::NOT_FOUND, "no such file");
    let Some(links) = &svc.0.links else {
        return not_found();
    };
    let target = match links.open(&token) {
        Ok(t) => t,
        Err(LinkError::Unknown) => return not_found(),
        Err(LinkError::Expired) => return answer(StatusCode::GONE, "this link has expired"),
    };
    let Some(network) = svc.0.networks.get(&target.transport) else {
        return not_found();
    };
    let Ok(user) = jid::BareJid::new(&target.account) else {
        return not_found();
    };
    // The user's state as their session has it: in server mode it is sealed by their
    // login's password, so their files are served while they are logged in.
    let state = match network.control.transport_state(&user).await {
        Ok(Some(state)) => state,
        Ok(None) => {
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "this file can be fetched while its recipient is logged in",
            );
        }
        Err(_) => return answer(StatusCode::SERVICE_UNAVAILABLE, "try again later"),
    };
    let transport = &network.transport;
    let max = svc.0.cfg.max_media_bytes;
    let fetch = transport.fetch_media(state, target.reference, max);
    let media = match tokio::time::timeout(FETCH_TIMEOUT, fetch).await {
        Err(_) => {
            return answer(
                StatusCode::GATEWAY_TIMEOUT,
                "the network did not send the file in time",
            );
        }
        Ok(Err(FetchError::NotFound | FetchError::Unsupported)) => return not_found(),
        Ok(Err(FetchError::TooLarge(n))) => {
            return answer(
                StatusCode::BAD_GATEWAY,
                &format!("the file is larger than this gateway passes on ({n} bytes)"),
            );
        }
        Ok(Err(FetchError::Unavailable(why))) => {
            return answer(StatusCode::BAD_GATEWAY, &why);
        }
        Ok(Ok(m)) => m,
    };
    let media_type = media
        .media_type
        .or(target.media_type)
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let mut h = headers::for_file(&media_type, &name, CACHE);
    if let Some(n) = media.length {
        h.insert(header::CONTENT_LENGTH, n.into());
    }
    (h, Body::from_stream(media.body)).into_response()
}
