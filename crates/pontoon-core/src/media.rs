//! Legacy media for XMPP clients. Some networks' files cannot be fetched by a client
//! (Matrix media downloads need the user's token): the transport names them by a legacy
//! reference (`mxc://server/id`) instead of an http(s) URL, and the core hands the XMPP
//! client a link to Pontoon's HTTP listener instead, `{public_url}/media/{token}/{name}`.
//! The token is sealed with the store key (`Store::seal_link`): unguessable, expiring,
//! naming the transport, the user and the reference, and nothing is stored per link.
//! `pontoon-http` opens it and asks the transport for the bytes
//! ([`Transport::fetch_media`](crate::transport::Transport::fetch_media)).

use std::time::Duration;

use pontoon_store::Store;

use crate::legacy::Attachment;

/// The bytes of a file, as they come.
pub type MediaBody =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send>>;

/// A file a transport fetched from its network for a client.
pub struct Media {
    /// Its media type, as the network says.
    pub media_type: Option<String>,
    /// Its length in bytes, where known before the body.
    pub length: Option<u64>,
    /// The bytes (the transport stops at the size limit it was given).
    pub body: MediaBody,
}

impl Media {
    /// The whole file, read into memory (the transport stopped at its size limit: a body
    /// cut there is [`FetchError::TooLarge`] of `max_bytes`), for a file that must be
    /// checked before any of it is used (a picture's hash, an encrypted file's).
    pub async fn read_all(self, max_bytes: u64) -> Result<Vec<u8>, FetchError> {
        use futures::TryStreamExt;
        self.body
            .try_fold(Vec::new(), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await
            .map_err(|_| FetchError::TooLarge(max_bytes))
    }
}

impl std::fmt::Debug for Media {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Media")
            .field("media_type", &self.media_type)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// Why a transport could not fetch a file.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The network has no such file (or no longer).
    #[error("the network has no such file")]
    NotFound,
    /// Larger than the limit it was fetched with.
    #[error("the file is larger than {0} bytes")]
    TooLarge(u64),
    /// The network could not be asked now, or the user's login there is gone; in words.
    #[error("{0}")]
    Unavailable(String),
    /// This transport names no files by reference.
    #[error("this transport serves no files")]
    Unsupported,
}

/// A transport's answer to a fetch ([`Transport::fetch_media`](crate::transport::Transport::fetch_media)).
pub type MediaFetch =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Media, FetchError>> + Send>>;

/// Path of legacy media under the public URL.
pub const MEDIA_PATH: &str = "media";

/// The purpose links are sealed for.
const PURPOSE: &str = "media v1";

/// Mints and opens media links.
#[derive(Clone, Debug)]
pub struct MediaLinks {
    store: Store,
    public_url: String,
    lifetime: Duration,
}

/// What a media link names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaTarget {
    /// The transport that can fetch it.
    pub transport: String,
    /// The user whose credentials fetch it (bare JID).
    pub account: String,
    /// The transport's reference (`mxc://...`).
    pub reference: String,
    /// The media type the network announced, if any.
    pub media_type: Option<String>,
}

/// Why a media link does not open.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link Pontoon made (or made with another key).
    #[error("no such file")]
    Unknown,
    /// Made, but its time is over.
    #[error("this link has expired")]
    Expired,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl MediaLinks {
    /// Links under `public_url` (no trailing slash), valid for `lifetime`, sealed with
    /// `store`'s key.
    pub fn new(store: Store, public_url: &str, lifetime: Duration) -> Self {
        MediaLinks {
            store,
            public_url: public_url.trim_end_matches('/').to_owned(),
            lifetime,
        }
    }

    /// The listener's public URL, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// A link to `reference` of `transport`, fetched with `account`'s credentials;
    /// `None` when the reference cannot be carried (a NUL in it) or sealing failed.
    pub fn mint(
        &self,
        transport: &str,
        account: &str,
        reference: &str,
        name: Option<&str>,
        media_type: Option<&str>,
    ) -> Option<String> {
        let expires = now().saturating_add(self.lifetime.as_secs());
        let fields = [
            transport,
            account,
            reference,
            media_type.unwrap_or_default(),
        ];
        if fields.iter().any(|f| f.contains('\0')) {
            return None;
        }
        let payload = format!("{expires}\0{}", fields.join("\0"));
        let token = self.store.seal_link(PURPOSE, payload.as_bytes()).ok()?;
        let name = name
            .and_then(crate::upload::clean_name)
            .unwrap_or_else(|| "file".to_owned());
        Some(format!(
            "{}/{MEDIA_PATH}/{token}/{}",
            self.public_url,
            percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
        ))
    }

    /// What the link token `token` names, if it is one of ours and still valid.
    pub fn open(&self, token: &str) -> Result<MediaTarget, LinkError> {
        let bytes = self
            .store
            .open_link(PURPOSE, token)
            .map_err(|_| LinkError::Unknown)?;
        let text = String::from_utf8(bytes).map_err(|_| LinkError::Unknown)?;
        let mut parts = text.split('\0');
        let mut next = || parts.next().ok_or(LinkError::Unknown);
        let expires: u64 = next()?.parse().map_err(|_| LinkError::Unknown)?;
        let (transport, account, reference, media_type) = (next()?, next()?, next()?, next()?);
        if expires < now() {
            return Err(LinkError::Expired);
        }
        Ok(MediaTarget {
            transport: transport.to_owned(),
            account: account.to_owned(),
            reference: reference.to_owned(),
            media_type: (!media_type.is_empty()).then(|| media_type.to_owned()),
        })
    }
}

/// Makes `attachments` fetchable by an XMPP client and `body` name them: each one the
/// transport named by a legacy reference (not http or https) gets a media link, or, with
/// no HTTP listener configured, is replaced by a line saying so; then the body ends with
/// every URL it does not already say (clients show a message whose body is a file's URL as
/// that file, XEP-0066).
pub(crate) fn expose(
    links: Option<&MediaLinks>,
    transport: &str,
    account: &str,
    attachments: &mut Vec<Attachment>,
    body: &mut String,
) {
    if attachments.is_empty() {
        return;
    }
    attachments.retain_mut(|a| {
        // A preview the client cannot fetch either gets a link of its own, or is dropped.
        if let Some(t) = &mut a.thumbnail
            && !is_web_url(&t.url)
        {
            let link = links.and_then(|l| {
                l.mint(transport, account, &t.url, Some("thumbnail"), t.media_type.as_deref())
            });
            match link {
                Some(url) => t.url = url,
                None => a.thumbnail = None,
            }
        }
        if is_web_url(&a.url) {
            return true;
        }
        let link = links.and_then(|l| {
            l.mint(
                transport,
                account,
                &a.url,
                a.name.as_deref(),
                a.media_type.as_deref(),
            )
        });
        match link {
            Some(url) => {
                a.url = url;
                true
            }
            None => {
                let name = a.name.as_deref().unwrap_or("a file");
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(&format!(
                    "[{name}: Pontoon cannot pass this file on: its operator has set no public HTTP address]"
                ));
                false
            }
        }
    });
    *body = crate::verbs::degrade::with_urls(body, attachments);
}

fn is_web_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pontoon_store::StoreKey;

    async fn links(lifetime: u64) -> MediaLinks {
        let store = Store::open("sqlite::memory:", StoreKey::from_bytes([9; 32]))
            .await
            .unwrap();
        MediaLinks::new(
            store,
            "https://gw.example.org/",
            Duration::from_secs(lifetime),
        )
    }

    fn token(url: &str) -> &str {
        url.split('/').nth(4).unwrap()
    }

    #[tokio::test]
    async fn a_link_names_its_media_until_it_expires() {
        let l = links(60).await;
        let url = l
            .mint(
                "matrix",
                "alice@example.org",
                "mxc://hs/abc",
                Some("a b.png"),
                Some("image/png"),
            )
            .unwrap();
        assert!(url.starts_with("https://gw.example.org/media/"), "{url}");
        assert!(url.ends_with("/a%20b%2Epng"), "{url}");
        let target = l.open(token(&url)).unwrap();
        assert_eq!(target.reference, "mxc://hs/abc");
        assert_eq!(target.account, "alice@example.org");
        assert_eq!(target.media_type.as_deref(), Some("image/png"));
        assert_eq!(l.open("AAAA"), Err(LinkError::Unknown));
        let stale = MediaLinks::new(l.store.clone(), "https://gw", Duration::ZERO);
        let old = stale
            .mint("matrix", "a@b", "mxc://hs/x", None, None)
            .unwrap();
        // Expired once its second has passed.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(l.open(token(&old)), Err(LinkError::Expired));
        assert!(l.mint("m", "a@b", "mxc://x\0y", None, None).is_none());
    }

    #[tokio::test]
    async fn exposing_links_files_and_says_them_in_the_body() {
        let l = links(60).await;
        let mut files = vec![
            Attachment {
                url: "mxc://hs/abc".into(),
                name: Some("cat.png".into()),
                media_type: None,
                size: Some(3),
                thumbnail: None,
            },
            Attachment {
                url: "https://example.org/dog.png".into(),
                name: None,
                media_type: None,
                size: None,
                thumbnail: None,
            },
        ];
        let mut body = String::new();
        expose(
            Some(&l),
            "matrix",
            "alice@example.org",
            &mut files,
            &mut body,
        );
        assert!(files[0].url.starts_with("https://gw.example.org/media/"));
        assert_eq!(
            body,
            format!("{}\nhttps://example.org/dog.png", files[0].url)
        );
        // Without a listener: a line instead of a link nobody can open.
        let mut files = vec![Attachment {
            url: "mxc://hs/abc".into(),
            name: Some("cat.png".into()),
            media_type: None,
            size: None,
            thumbnail: None,
        }];
        let mut body = "look".to_owned();
        expose(None, "matrix", "alice@example.org", &mut files, &mut body);
        assert!(files.is_empty());
        assert!(
            body.starts_with("look\n[cat.png: Pontoon cannot pass this file on"),
            "{body}"
        );
    }
}
