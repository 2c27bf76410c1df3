//! XEP-0363's HTTP half: the PUT of a slot the XMPP side handed out
//! (`pontoon_core::upload`) and the GET of the stored file. The store's row is the slot:
//! the PUT must come in time, once, with exactly the declared size (and type, when it
//! says one); the file is written beside the others as `{id}.part`, scanned if the
//! operator asked, then renamed, so a GET never sees half a file.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::scan::Verdict;
use super::{FileService, headers, plausible_id};

/// Cache lifetime of an uploaded file: it never changes under its URL.
const CACHE: &str = "public, max-age=604800, immutable";

/// A plain-text answer with the listener's common headers.
pub(crate) fn answer(status: StatusCode, text: &str) -> Response {
    let mut res = (status, format!("{text}\n")).into_response();
    headers::add_common(res.headers_mut());
    res
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `PUT /upload/{id}/{name}`.
pub(crate) async fn put(
    State(svc): State<FileService>,
    Path((id, _name)): Path<(String, String)>,
    req_headers: HeaderMap,
    body: Body,
) -> Response {
    if !plausible_id(&id) {
        return answer(StatusCode::NOT_FOUND, "no such upload slot");
    }
    let slot = match svc.0.store.upload(&id).await {
        Ok(Some(s)) => s,
        Ok(None) => return answer(StatusCode::NOT_FOUND, "no such upload slot"),
        Err(e) => {
            tracing::warn!(error = %e, "upload: the store could not be read");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "try again later");
        }
    };
    if slot.stored_at.is_some() {
        return answer(StatusCode::CONFLICT, "this slot was used already");
    }
    if slot.slot_expires_at <= now() {
        return answer(
            StatusCode::GONE,
            "this upload slot has expired; ask for a new one",
        );
    }
    let length = req_headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        None => {
            return answer(
                StatusCode::LENGTH_REQUIRED,
                "the upload needs a Content-Length",
            );
        }
        Some(n) if n > slot.size => {
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the slot is for {} bytes", slot.size),
            );
        }
        Some(n) if n != slot.size => {
            return answer(
                StatusCode::BAD_REQUEST,
                &format!("the slot is for {} bytes, not {n}", slot.size),
            );
        }
        Some(_) => {}
    }
    if let Some(ty) = req_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let ty = ty.split(';').next().unwrap_or_default().trim();
        if !ty.eq_ignore_ascii_case(&slot.media_type) {
            return answer(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("the slot is for {}", slot.media_type),
            );
        }
    }
    let part = svc.0.cfg.dir.join(format!("{id}.part"));
    if let Err(status) = receive(&part, body, slot.size).await {
        let _ = tokio::fs::remove_file(&part).await;
        return status;
    }
    if let Some(scanner) = &svc.0.cfg.scanner
        && let Verdict::Refused(reason) = scanner.scan(&part).await
    {
        let _ = tokio::fs::remove_file(&part).await;
        let _ = svc.0.store.delete_upload(&id).await;
        return answer(StatusCode::FORBIDDEN, &reason);
    }
    let path = svc.path_of(&id);
    if let Err(e) = tokio::fs::rename(&part, &path).await {
        tracing::warn!(error = %e, "upload: the file could not be kept");
        let _ = tokio::fs::remove_file(&part).await;
        return answer(
            StatusCode::INSUFFICIENT_STORAGE,
            "the file could not be kept",
        );
    }
    match svc.0.store.finish_upload(&id).await {
        Ok(true) => {
            tracing::debug!(size = slot.size, "upload stored");
            answer(StatusCode::CREATED, "stored")
        }
        Ok(false) => {
            let _ = tokio::fs::remove_file(&path).await;
            answer(
                StatusCode::GONE,
                "this upload slot has expired; ask for a new one",
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "upload: the store could not be written");
            let _ = tokio::fs::remove_file(&path).await;
            answer(StatusCode::SERVICE_UNAVAILABLE, "try again later")
        }
    }
}

/// Writes `body` to a new file at `part`: exactly `size` bytes, synced to disk.
async fn receive(part: &std::path::Path, body: Body, size: u64) -> Result<(), Response> {
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(part)
        .await
        .map_err(|e| {
            // Another PUT of the same slot is under way.
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                answer(StatusCode::CONFLICT, "this slot is being used already")
            } else {
                tracing::warn!(error = %e, "upload: the file could not be created");
                answer(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "the file could not be kept",
                )
            }
        })?;
    let mut stream = body.into_data_stream();
    let mut got: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| answer(StatusCode::BAD_REQUEST, "the upload broke off"))?;
        got = got.saturating_add(chunk.len() as u64);
        if got > size {
            return Err(answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the slot is for {size} bytes"),
            ));
        }
        file.write_all(&chunk).await.map_err(|e| {
            tracing::warn!(error = %e, "upload: the file could not be written");
            answer(
                StatusCode::INSUFFICIENT_STORAGE,
                "the file could not be kept",
            )
        })?;
    }
    if got != size {
        return Err(answer(
            StatusCode::BAD_REQUEST,
            &format!("the slot is for {size} bytes, {got} came"),
        ));
    }
    file.sync_all().await.map_err(|e| {
        tracing::warn!(error = %e, "upload: the file could not be synced");
        answer(
            StatusCode::INSUFFICIENT_STORAGE,
            "the file could not be kept",
        )
    })?;
    Ok(())
}

/// `GET /upload/{id}/{name}` (and `HEAD`).
pub(crate) async fn get(
    State(svc): State<FileService>,
    Path((id, _name)): Path<(String, String)>,
) -> Response {
    let not_found = || answer(StatusCode::NOT_FOUND, "no such file");
    if !plausible_id(&id) {
        return not_found();
    }
    let upload = match svc.0.store.upload(&id).await {
        Ok(Some(u)) if u.stored_at.is_some() => u,
        Ok(_) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "upload: the store could not be read");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "try again later");
        }
    };
    let file = match tokio::fs::File::open(svc.path_of(&id)).await {
        Ok(f) => f,
        Err(_) => return not_found(),
    };
    let mut h = headers::for_file(&upload.media_type, &upload.name, CACHE);
    h.insert(header::CONTENT_LENGTH, upload.size.into());
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    (h, body).into_response()
}
