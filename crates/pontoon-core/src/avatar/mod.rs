//! Legacy contacts' avatars for XMPP clients, as XEP-0153 vCard-based avatars: a contact's
//! presence carries the SHA-1 of their picture (`vcard-temp:x:update`), and a client that
//! does not have that picture asks the contact's vCard (XEP-0054), whose `PHOTO` holds it.
//!
//! XEP-0153 first: vCard avatars need nothing from the server, in component mode and in
//! server mode alike, and every major client reads them. The same pictures are offered as
//! XEP-0084 too ([`pep`]): the contacts' JIDs are the component's, so it answers for their
//! PEP nodes itself.
//!
//! The transport names a contact's picture by a reference ([`crate::legacy::Contact`]),
//! fetched like a network's files ([`Transport::fetch_media`]) with the user's login. The
//! hash needs the bytes, so each picture is fetched once when a contact shows it, bounded
//! in size and type, and kept in a cache the service's sessions share
//! ([`AvatarCache`]), by reference: a picture many users see is fetched once, and a
//! session keeps only the reference and the hash of each contact's.

pub mod pep;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minidom::Element;
use sha1::{Digest, Sha1};
use xmpp_parsers::vcard_update::{Photo as PhotoHash, VCardUpdate};

use crate::media::FetchError;
use crate::state::TransportState;
use crate::transport::Transport;

/// Largest picture passed on (bytes). Transports ask their network for a small version
/// (Matrix: a 96x96 thumbnail, a few KiB); a larger one is not shown.
pub const MAX_AVATAR_BYTES: u64 = 128 * 1024;

/// How long a picture may take to come.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Pictures fetched at once per service: a login wave of many contacts must not open a
/// connection per contact at the same time.
const CONCURRENT_FETCHES: usize = 4;

/// Tasks that may wait for a picture at once, per service.
const WAITING: usize = 256;

/// Most pictures the cache keeps, and most bytes in all.
const CACHE_ENTRIES: usize = 512;
const CACHE_BYTES: usize = 8 * 1024 * 1024;

/// The picture types passed on: raster images only (an SVG can carry script).
const TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A contact's picture, fetched.
#[derive(Debug)]
pub struct Avatar {
    /// SHA-1 of the bytes, as XEP-0153 names a picture.
    pub sha1: [u8; 20],
    /// Its media type (one of the raster types).
    pub media_type: &'static str,
    /// The picture.
    pub data: bytes::Bytes,
}

/// Pictures fetched by the sessions of one service, by the transport's reference: at most
/// [`CACHE_ENTRIES`] and [`CACHE_BYTES`], the oldest dropped first.
#[derive(Debug)]
pub struct AvatarCache {
    entries: Mutex<Entries>,
    fetching: tokio::sync::Semaphore,
    /// Background work waiting for a picture (a fetch for a contact's presence, a vCard
    /// answer): beyond [`WAITING`], a picture is not fetched for a presence and a vCard is
    /// answered at once without it, so neither a flood of avatar changes from a network nor
    /// a client asking again and again costs a task each.
    waiting: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, Default)]
struct Entries {
    by_reference: HashMap<Box<str>, Arc<Avatar>>,
    order: VecDeque<Box<str>>,
    bytes: usize,
}

impl Default for AvatarCache {
    fn default() -> Self {
        AvatarCache {
            entries: Mutex::default(),
            fetching: tokio::sync::Semaphore::new(CONCURRENT_FETCHES),
            waiting: Arc::new(tokio::sync::Semaphore::new(WAITING)),
        }
    }
}

impl AvatarCache {
    /// A turn for a task to wait for a picture, if one is free.
    pub(crate) fn waiting_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.waiting.clone().try_acquire_owned().ok()
    }

    /// The picture `reference` names, if fetched and still kept.
    pub fn get(&self, reference: &str) -> Option<Arc<Avatar>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.by_reference.get(reference).cloned()
    }

    fn insert(&self, reference: &str, avatar: Arc<Avatar>) {
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if e.by_reference.contains_key(reference) {
            return;
        }
        e.bytes += avatar.data.len();
        e.by_reference.insert(reference.into(), avatar);
        e.order.push_back(reference.into());
        while e.order.len() > CACHE_ENTRIES || e.bytes > CACHE_BYTES {
            let Some(oldest) = e.order.pop_front() else {
                break;
            };
            if let Some(gone) = e.by_reference.remove(&oldest) {
                e.bytes -= gone.data.len();
            }
        }
    }

    /// The picture `reference` names: from the cache, or fetched by `transport` with the
    /// user's `state` (bounded in time, size and type) and kept.
    pub async fn fetch(
        &self,
        transport: &dyn Transport,
        state: TransportState,
        reference: &str,
    ) -> Result<Arc<Avatar>, FetchError> {
        if let Some(avatar) = self.get(reference) {
            return Ok(avatar);
        }
        let _turn = self
            .fetching
            .acquire()
            .await
            .map_err(|_| FetchError::Unavailable("stopping".to_owned()))?;
        // Another session may have fetched it while this one waited its turn.
        if let Some(avatar) = self.get(reference) {
            return Ok(avatar);
        }
        let fetch = async {
            let media = transport
                .fetch_media(state, reference.to_owned(), MAX_AVATAR_BYTES)
                .await?;
            let media_type = media
                .media_type
                .as_deref()
                .and_then(|t| {
                    let t = t.split(';').next().unwrap_or("").trim();
                    TYPES.iter().find(|known| t.eq_ignore_ascii_case(known))
                })
                .copied()
                .ok_or_else(|| FetchError::Unavailable("not a picture".to_owned()))?;
            let data = media.read_all(MAX_AVATAR_BYTES).await?;
            if data.is_empty() || data.len() as u64 > MAX_AVATAR_BYTES {
                return Err(FetchError::TooLarge(MAX_AVATAR_BYTES));
            }
            Ok(Avatar {
                sha1: Sha1::digest(&data).into(),
                media_type,
                data: data.into(),
            })
        };
        let avatar = tokio::time::timeout(FETCH_TIMEOUT, fetch)
            .await
            .map_err(|_| {
                FetchError::Unavailable("the picture did not come in time".to_owned())
            })??;
        let avatar = Arc::new(avatar);
        self.insert(reference, avatar.clone());
        Ok(avatar)
    }
}

/// What a session knows of a contact's picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Shown {
    /// The network said they have none.
    None,
    /// They have one, not fetched yet (or it could not be).
    Pending(Box<str>),
    /// Fetched: its reference and hash.
    Known(Box<str>, [u8; 20]),
}

impl Shown {
    /// What a contact's `avatar` reference from the network makes of `self`; `None` when
    /// nothing changed.
    pub(crate) fn after(current: Option<&Shown>, avatar: Option<&str>) -> Option<Shown> {
        let next = match avatar {
            None => Shown::None,
            Some(r) => match current {
                Some(Shown::Pending(old) | Shown::Known(old, _)) if old.as_ref() == r => {
                    return None;
                }
                _ => Shown::Pending(r.into()),
            },
        };
        (current != Some(&next)).then_some(next)
    }

    /// The reference of the picture, if any.
    pub(crate) fn reference(&self) -> Option<&str> {
        match self {
            Shown::None => None,
            Shown::Pending(r) | Shown::Known(r, _) => Some(r),
        }
    }

    /// The XEP-0153 element for the contact's presence: the hash, an empty `<photo/>`
    /// (no picture), or no `<photo/>` at all (not known yet, section 4.1).
    pub(crate) fn update_element(&self) -> Element {
        let photo = match self {
            Shown::None => Some(PhotoHash { data: None }),
            Shown::Pending(_) => None,
            Shown::Known(_, sha1) => Some(PhotoHash { data: Some(*sha1) }),
        };
        VCardUpdate { photo }.into()
    }
}

/// A contact's vCard (XEP-0054): the name the network shows, and their picture if any.
pub(crate) fn vcard(name: &str, avatar: Option<&Avatar>) -> Element {
    use xmpp_parsers::vcard::{Binval, Photo, Type, VCard};
    let mut payloads = Vec::new();
    for field in ["FN", "NICKNAME"] {
        payloads.push(
            Element::builder(field, xmpp_parsers::ns::VCARD)
                .append(name)
                .build(),
        );
    }
    let photo = avatar.map(|a| Photo {
        type_: Type {
            data: a.media_type.to_owned(),
        },
        binval: Binval {
            data: a.data.to_vec(),
        },
    });
    VCard { photo, payloads }.into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_reference_changes_what_is_shown_only_when_it_changes() {
        let pending = Shown::Pending("mxc://a/1".into());
        assert_eq!(Shown::after(None, Some("mxc://a/1")), Some(pending.clone()));
        assert_eq!(Shown::after(Some(&pending), Some("mxc://a/1")), None);
        let known = Shown::Known("mxc://a/1".into(), [1; 20]);
        assert_eq!(Shown::after(Some(&known), Some("mxc://a/1")), None);
        assert_eq!(
            Shown::after(Some(&known), Some("mxc://a/2")),
            Some(Shown::Pending("mxc://a/2".into()))
        );
        assert_eq!(Shown::after(Some(&known), None), Some(Shown::None));
        assert_eq!(Shown::after(Some(&Shown::None), None), None);
    }

    #[test]
    fn presence_says_hash_none_or_not_yet() {
        let hash = Shown::Known("r".into(), [0xab; 20]).update_element();
        assert_eq!(hash.ns(), "vcard-temp:x:update");
        assert_eq!(
            hash.get_child("photo", "vcard-temp:x:update")
                .unwrap()
                .text(),
            "ab".repeat(20)
        );
        let none = Shown::None.update_element();
        assert_eq!(
            none.get_child("photo", "vcard-temp:x:update")
                .unwrap()
                .text(),
            ""
        );
        let pending = Shown::Pending("r".into()).update_element();
        assert!(pending.get_child("photo", "vcard-temp:x:update").is_none());
    }

    #[test]
    fn the_cache_drops_the_oldest_beyond_its_bounds() {
        let cache = AvatarCache::default();
        let big = |n: u8| {
            Arc::new(Avatar {
                sha1: [n; 20],
                media_type: "image/png",
                data: vec![n; CACHE_BYTES / 4].into(),
            })
        };
        for n in 0..5u8 {
            cache.insert(&n.to_string(), big(n));
        }
        assert!(cache.get("0").is_none());
        assert!(cache.get("4").is_some());
        for n in 0..(CACHE_ENTRIES + 1) {
            cache.insert(
                &format!("small{n}"),
                Arc::new(Avatar {
                    sha1: [0; 20],
                    media_type: "image/png",
                    data: vec![0; 1].into(),
                }),
            );
        }
        assert!(cache.get("small0").is_none());
        assert!(cache.get(&format!("small{CACHE_ENTRIES}")).is_some());
    }

    #[test]
    fn a_vcard_carries_the_picture() {
        let avatar = Avatar {
            sha1: [0; 20],
            media_type: "image/png",
            data: vec![1, 2, 3].into(),
        };
        let card = xmpp_parsers::vcard::VCard::try_from(vcard("Bob", Some(&avatar))).unwrap();
        let photo = card.photo.unwrap();
        assert_eq!(
            (photo.type_.data.as_str(), photo.binval.data),
            ("image/png", vec![1, 2, 3])
        );
        assert_eq!(card.payloads.len(), 2);
    }
}
