//! Files both ways.
//!
//! - **Matrix to XMPP**: an `m.image`/`m.file`/`m.video`/`m.audio` becomes an attachment
//!   named by its `mxc://` URI ([`attachment`]). Matrix media downloads need the user's
//!   token (authenticated media, spec v1.11), so an XMPP client cannot fetch that URI: the
//!   core turns it into a link to Pontoon's HTTP listener, which asks
//!   [`fetch`] for the bytes, streamed from the homeserver as they come.
//! - **XMPP to Matrix**: a file the user's client sent as a link (XEP-0066, an XEP-0363
//!   upload) is fetched, bounded in size, uploaded to the homeserver's media repository
//!   and sent as the matching message type ([`Session::send_files`](crate::session)).
//!
//! Files in encrypted rooms carry their own key (`MediaSource::Encrypted`): the reference
//! is then the file's whole encryption info (key, IV, hash) after [`ENCRYPTED`], which the
//! core seals into the link like any reference, and [`fetch`] downloads the ciphertext,
//! checks its hash and decrypts it (AES-256-CTR, matrix-sdk-crypto's
//! `AttachmentDecryptor`) before anything is served.

use ruma::api::client::authenticated_media::{get_content, get_content_thumbnail};
use ruma::api::client::media::create_content;
use ruma::events::room::message::{
    AudioInfo, AudioMessageEventContent, FileInfo, FileMessageEventContent, MessageType, VideoInfo,
    VideoMessageEventContent,
};
use ruma::events::room::{EncryptedFile, ImageInfo, MediaSource, ThumbnailInfo};
use ruma::{OwnedMxcUri, UInt};

use pontoon_core::legacy::{Attachment, Thumbnail};
use pontoon_core::media::{FetchError, Media};

use crate::http::{Http, HttpError};
use crate::login::Credentials;

/// What a media message carries: the file as an attachment, and its caption (the body,
/// where the spec's `filename` says the body is not the name), or a line saying why the
/// file cannot be passed on.
pub(crate) enum Carried {
    /// A file and its caption (maybe empty).
    File(Attachment, String),
    /// Not passed on: the text to show instead.
    Said(String),
}

/// The file of a media message, if `msgtype` is one.
pub(crate) fn attachment(msgtype: &MessageType) -> Option<Carried> {
    let thumbnail = match msgtype {
        MessageType::Image(c) => c
            .info
            .as_ref()
            .and_then(|i| preview(i.thumbnail_source.as_ref(), i.thumbnail_info.as_deref())),
        MessageType::Video(c) => c
            .info
            .as_ref()
            .and_then(|i| preview(i.thumbnail_source.as_ref(), i.thumbnail_info.as_deref())),
        _ => None,
    };
    let (body, filename, source, mimetype, size) = match msgtype {
        MessageType::Image(c) => (
            &c.body,
            &c.filename,
            &c.source,
            c.info.as_ref().and_then(|i| i.mimetype.clone()),
            c.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::File(c) => (
            &c.body,
            &c.filename,
            &c.source,
            c.info.as_ref().and_then(|i| i.mimetype.clone()),
            c.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::Video(c) => (
            &c.body,
            &c.filename,
            &c.source,
            c.info.as_ref().and_then(|i| i.mimetype.clone()),
            c.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::Audio(c) => (
            &c.body,
            &c.filename,
            &c.source,
            c.info.as_ref().and_then(|i| i.mimetype.clone()),
            c.info.as_ref().and_then(|i| i.size),
        ),
        _ => return None,
    };
    // Spec "media captions": with a filename that differs, the body is a caption.
    let (name, caption) = match filename {
        Some(f) if f != body => (f.clone(), body.clone()),
        _ => (body.clone(), String::new()),
    };
    let url = match source {
        MediaSource::Plain(mxc) => mxc.to_string(),
        MediaSource::Encrypted(file) => match serde_json::to_string(file) {
            Ok(info) => format!("{ENCRYPTED}{info}"),
            Err(_) => {
                return Some(Carried::Said(format!(
                    "[{name}: an encrypted file whose key could not be read]"
                )));
            }
        },
    };
    Some(Carried::File(
        Attachment {
            url,
            name: Some(name),
            media_type: mimetype,
            size: size.map(u64::from),
            thumbnail,
        },
        caption,
    ))
}

/// A media message's thumbnail, when it has an unencrypted one.
fn preview(source: Option<&MediaSource>, info: Option<&ThumbnailInfo>) -> Option<Thumbnail> {
    let Some(MediaSource::Plain(mxc)) = source else {
        return None;
    };
    let px = |n: Option<UInt>| n.and_then(|n| u32::try_from(u64::from(n)).ok());
    Some(Thumbnail {
        url: mxc.to_string(),
        media_type: info.and_then(|i| i.mimetype.clone()),
        width: px(info.and_then(|i| i.width)),
        height: px(info.and_then(|i| i.height)),
    })
}

/// The prefix of the reference of an encrypted file, before its encryption info (JSON).
pub(crate) const ENCRYPTED: &str = "mxc+encrypted:";

/// The reference prefix of a picture's thumbnail ([`THUMBNAIL_SIZE`] pixels square,
/// cropped): what contacts' avatars are fetched as (a few KiB, not the uploaded original).
pub(crate) const THUMBNAIL: &str = "mxc+thumbnail:";

/// Side of avatar thumbnails, one of the sizes homeservers make in advance (Synapse's
/// default `thumbnail_sizes`).
const THUMBNAIL_SIZE: u32 = 96;

/// The reference of the avatar `mxc`'s thumbnail.
pub(crate) fn avatar_reference(mxc: &str) -> String {
    format!("{THUMBNAIL}{mxc}")
}

/// Fetches the file `reference` (`mxc://server/id`, or an encrypted file's [`ENCRYPTED`]
/// info) as the user of `creds`, reading at most `max_bytes`.
pub(crate) async fn fetch(
    http: &Http,
    creds: &Credentials,
    reference: &str,
    max_bytes: u64,
) -> Result<Media, FetchError> {
    if let Some(info) = reference.strip_prefix(ENCRYPTED) {
        let file: EncryptedFile = serde_json::from_str(info).map_err(|_| FetchError::NotFound)?;
        let media = fetch_plain(http, creds, file.url.as_str(), max_bytes).await?;
        return decrypt(media, file, max_bytes).await;
    }
    if let Some(mxc) = reference.strip_prefix(THUMBNAIL) {
        let (server, id) = parts(mxc)?;
        let side = UInt::from(THUMBNAIL_SIZE);
        let mut request = get_content_thumbnail::v1::Request::new(id, server, side, side);
        request.method = Some(ruma::media::Method::Crop);
        return fetch_streamed(http, creds, request, max_bytes).await;
    }
    fetch_plain(http, creds, reference, max_bytes).await
}

/// The server and media id of `mxc://server/id`.
fn parts(reference: &str) -> Result<(ruma::OwnedServerName, String), FetchError> {
    let mxc = OwnedMxcUri::from(reference);
    let (server, id) = mxc.parts().map_err(|_| FetchError::NotFound)?;
    Ok((server.to_owned(), id.to_owned()))
}

/// An encrypted file's bytes, read whole (at most `max_bytes`: the hash is checked at the
/// end, and nothing unchecked may reach the client), decrypted on a blocking thread.
async fn decrypt(media: Media, file: EncryptedFile, max_bytes: u64) -> Result<Media, FetchError> {
    let cipher = media.read_all(max_bytes).await?;
    let plain = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut input = std::io::Cursor::new(cipher);
        let mut decryptor = matrix_sdk_crypto::AttachmentDecryptor::new(&mut input, file.into())
            .map_err(|e| e.to_string())?;
        let mut plain = Vec::new();
        decryptor
            .read_to_end(&mut plain)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(plain)
    })
    .await
    .map_err(|_| FetchError::Unavailable("the file could not be decrypted".to_owned()))?
    .map_err(|e| FetchError::Unavailable(format!("the file could not be decrypted: {e}")))?;
    let length = plain.len() as u64;
    Ok(Media {
        // The ciphertext's type says nothing; the link carries the event's.
        media_type: None,
        length: Some(length),
        body: Box::pin(futures::stream::once(async move {
            Ok(bytes::Bytes::from(plain))
        })),
    })
}

/// Fetches the unencrypted file `reference` (`mxc://server/id`), streamed.
async fn fetch_plain(
    http: &Http,
    creds: &Credentials,
    reference: &str,
    max_bytes: u64,
) -> Result<Media, FetchError> {
    let (server, id) = parts(reference)?;
    let request = get_content::v1::Request::new(id, server);
    fetch_streamed(http, creds, request, max_bytes).await
}

/// Sends a media `request` (a file or a thumbnail) and streams its answer, cut off at
/// `max_bytes`.
async fn fetch_streamed<R>(
    http: &Http,
    creds: &Credentials,
    request: R,
    max_bytes: u64,
) -> Result<Media, FetchError>
where
    R: ruma::api::OutgoingRequest,
    R::Authentication: crate::http::Auth,
    R::PathBuilder: crate::http::Path,
    R::IncomingResponse: ruma::api::IncomingResponse<EndpointError = ruma::api::error::Error>,
{
    let response = http
        .open(&creds.homeserver, Some(&creds.access_token), request)
        .await
        .map_err(|e| match e {
            HttpError::Refused { status: 404, .. } => FetchError::NotFound,
            HttpError::UnknownToken { .. } => {
                FetchError::Unavailable("the user's Matrix login is no longer valid".to_owned())
            }
            other => FetchError::Unavailable(format!("Matrix: {other}")),
        })?;
    let length = response.content_length();
    if length.is_some_and(|n| n > max_bytes) {
        return Err(FetchError::TooLarge(max_bytes));
    }
    let media_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The body as it comes, cut off at the limit (a homeserver that said no length, or
    // lied about it).
    let body = futures::stream::unfold((response, 0u64), move |(mut response, read)| async move {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let read = read.saturating_add(chunk.len() as u64);
                if read > max_bytes {
                    let e = std::io::Error::other("the file is larger than allowed");
                    return Some((Err(e), (response, u64::MAX)));
                }
                Some((Ok(chunk), (response, read)))
            }
            Ok(None) => None,
            Err(_) if read == u64::MAX => None,
            Err(e) => Some((Err(std::io::Error::other(e)), (response, u64::MAX))),
        }
    });
    Ok(Media {
        media_type,
        length,
        body: Box::pin(body),
    })
}

/// Uploads `file` (named `name`, of type `media_type`) to the homeserver; answers its URI.
pub(crate) async fn upload(
    http: &Http,
    creds: &Credentials,
    file: Vec<u8>,
    name: &str,
    media_type: &str,
) -> Result<OwnedMxcUri, HttpError> {
    let mut request = create_content::v3::Request::new(file);
    request.filename = Some(name.to_owned());
    request.content_type = Some(media_type.to_owned());
    let answer = http
        .send(
            &creds.homeserver,
            Some(&creds.access_token),
            request,
            UPLOAD_TIMEOUT,
        )
        .await?;
    Ok(answer.content_uri)
}

/// How long an upload to the homeserver may take.
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The message for an uploaded file: `m.image`, `m.video`, `m.audio` or `m.file` by its
/// type, named `name`.
pub(crate) fn message_type(
    mxc: OwnedMxcUri,
    name: &str,
    media_type: &str,
    size: u64,
) -> MessageType {
    let size = UInt::try_from(size).ok();
    let mime = Some(media_type.to_owned());
    let major = media_type.split('/').next().unwrap_or_default();
    match major {
        "image" => {
            let mut info = ImageInfo::new();
            info.mimetype = mime;
            info.size = size;
            MessageType::Image(
                ruma::events::room::message::ImageMessageEventContent::plain(name.to_owned(), mxc)
                    .info(Box::new(info)),
            )
        }
        "video" => {
            let mut info = VideoInfo::new();
            info.mimetype = mime;
            info.size = size;
            MessageType::Video(
                VideoMessageEventContent::plain(name.to_owned(), mxc).info(Box::new(info)),
            )
        }
        "audio" => {
            let mut info = AudioInfo::new();
            info.mimetype = mime;
            info.size = size;
            MessageType::Audio(
                AudioMessageEventContent::plain(name.to_owned(), mxc).info(Box::new(info)),
            )
        }
        _ => {
            let mut info = FileInfo::new();
            info.mimetype = mime;
            info.size = size;
            MessageType::File(
                FileMessageEventContent::plain(name.to_owned(), mxc).info(Box::new(info)),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn media_messages_carry_their_file_and_caption() {
        let mxc = OwnedMxcUri::from("mxc://hs.example/abc");
        let t = message_type(mxc.clone(), "cat.png", "image/png", 3);
        let Some(Carried::File(a, caption)) = attachment(&t) else {
            panic!("no file");
        };
        assert_eq!(a.url, "mxc://hs.example/abc");
        assert_eq!(a.name.as_deref(), Some("cat.png"));
        assert_eq!(a.media_type.as_deref(), Some("image/png"));
        assert_eq!(a.size, Some(3));
        assert_eq!(caption, "");
        let MessageType::File(mut f) = message_type(mxc, "notes.txt", "text/plain", 9) else {
            panic!("not a file");
        };
        f.filename = Some("notes.txt".into());
        f.body = "see these".into();
        let Some(Carried::File(a, caption)) = attachment(&MessageType::File(f)) else {
            panic!("no file");
        };
        assert_eq!(
            (a.name.as_deref(), caption.as_str()),
            (Some("notes.txt"), "see these")
        );
        assert!(attachment(&MessageType::text_plain("hi")).is_none());
    }
}
