//! Contacts as their profiles show them: the display name and the avatar (as the reference
//! of its thumbnail, `crate::media::THUMBNAIL`, which the core fetches and shows as an
//! XEP-0153 vCard avatar). Read from the profile API for the contact list, and from the
//! contact's member events in the direct chat when they change either.

use pontoon_core::legacy::{Contact, LegacyEvent};
use ruma::OwnedUserId;
use ruma::api::client::profile::get_profile;

use super::Session;
use super::directory::{LIST_TIMEOUT, clean};
use crate::ids;
use crate::media::avatar_reference;

/// The most contacts whose profiles are asked at once.
const MAX_NAMED: usize = 200;

/// An `mxc://` URI as a homeserver gave it, if it looks like one (bounded).
fn avatar(url: Option<&str>) -> Option<String> {
    url.filter(|u| u.starts_with("mxc://") && u.len() <= 512)
        .map(avatar_reference)
}

impl Session {
    /// The user's contacts (those with a direct chat), with their profiles' names and
    /// avatars.
    pub(super) async fn contacts_with_names(&self) -> Vec<Contact> {
        let mut contacts = Vec::new();
        for (i, user) in self.rooms.direct_users().enumerate() {
            let (name, avatar) = if i < MAX_NAMED {
                self.profile(user).await
            } else {
                (None, None)
            };
            contacts.push(Contact {
                id: ids::contact(user),
                name,
                avatar,
            });
        }
        contacts
    }

    /// `user`'s display name and avatar reference, as their profile gives them.
    async fn profile(&self, user: &str) -> (Option<String>, Option<String>) {
        let Ok(id) = OwnedUserId::try_from(user) else {
            return (None, None);
        };
        let Ok(answer) = self
            .call(get_profile::v3::Request::new(id), LIST_TIMEOUT)
            .await
        else {
            return (None, None);
        };
        let field = |name: &str| answer.get(name).and_then(|v| v.as_str());
        (
            clean(field("displayname").map(str::to_owned)),
            avatar(field("avatar_url")),
        )
    }

    /// A member event of `user` in the direct chat `room_id` with them: their name and
    /// avatar as they now show them there (the core shows only what changed).
    pub(super) async fn on_contact_member(
        &self,
        room_id: &str,
        user: &str,
        display: Option<&str>,
        avatar_url: Option<&str>,
    ) {
        if self.rooms.dm_user(room_id) != Some(user) {
            return;
        }
        let contact = Contact {
            id: ids::contact(user),
            name: clean(display.map(str::to_owned)),
            avatar: avatar(avatar_url),
        };
        self.emit(LegacyEvent::ContactUpdated { contact }).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mxc_uris_are_avatars() {
        assert_eq!(
            avatar(Some("mxc://example.org/abc")).as_deref(),
            Some("mxc+thumbnail:mxc://example.org/abc")
        );
        assert_eq!(avatar(Some("https://example.org/a.png")), None);
        assert_eq!(avatar(Some(&format!("mxc://{}", "a".repeat(600)))), None);
        assert_eq!(avatar(None), None);
    }
}
