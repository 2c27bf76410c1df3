//! A room's configuration (XEP-0045 §10.2, `muc#owner`) where the network keeps settings
//! of its rooms ([`Verbs::room_config`](crate::legacy::Verbs::room_config): IRC's channel
//! modes): the form shows the network's answer (moderated, members only, who may change the
//! subject, the password), and a submitted form changes what it names. Only fields the
//! network has are offered; anything else in a submitted form is left alone.

use minidom::Element;
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};

use crate::legacy::{LegacyCommand, LegacyId, Role, RoomConfig};
use crate::session::Session;
use crate::stanza::Refusal;

/// XEP-0045's owner namespace.
pub const NS: &str = "http://jabber.org/protocol/muc#owner";
const FORM_TYPE: &str = "http://jabber.org/protocol/muc#roomconfig";
const MODERATED: &str = "muc#roomconfig_moderatedroom";
const MEMBERS_ONLY: &str = "muc#roomconfig_membersonly";
const CHANGE_SUBJECT: &str = "muc#roomconfig_changesubject";
const PROTECTED: &str = "muc#roomconfig_passwordprotectedroom";
const SECRET: &str = "muc#roomconfig_roomsecret";

/// The form showing `config`.
pub fn form(config: &RoomConfig) -> Element {
    let boolean = |var: &str, label: &str, value: Option<bool>| {
        let mut f = Field::new(var, FieldType::Boolean);
        f.label = Some(label.to_owned());
        f.values = value
            .map(|v| vec![if v { "1" } else { "0" }.to_owned()])
            .unwrap_or_default();
        f
    };
    let mut secret = Field::new(SECRET, FieldType::TextPrivate);
    secret.label = Some("Password".to_owned());
    secret.values = config.password.iter().cloned().collect();
    let fields = vec![
        boolean(
            MODERATED,
            "Only occupants with voice may speak",
            config.moderated,
        ),
        boolean(
            MEMBERS_ONLY,
            "Only invited people may join",
            config.members_only,
        ),
        boolean(
            CHANGE_SUBJECT,
            "Everyone may change the subject",
            config.subject_locked.map(|l| !l),
        ),
        boolean(
            PROTECTED,
            "A password is needed to join",
            config.password_protected,
        ),
        secret,
    ];
    let form = DataForm::new(DataFormType::Form, FORM_TYPE, fields);
    let mut query = Element::builder("query", NS).build();
    query.append_child(crate::explicit::form(DataForm {
        title: Some("Room settings".to_owned()),
        ..form
    }));
    query
}

/// What a submitted form changes; `None` for a canceled one.
pub fn read_submit(query: &Element) -> Result<Option<RoomConfig>, Refusal> {
    let Some(x) = query.get_child("x", crate::adhoc::NS_DATA) else {
        return Err(Refusal::modify(
            "bad-request",
            "Send the room's configuration as a form.",
        ));
    };
    if x.attr("type") == Some("cancel") {
        return Ok(None);
    }
    let values = crate::adhoc::wire::submitted(query).unwrap_or_default();
    let flag = |var: &str| {
        values
            .get(var)
            .and_then(|v| v.first())
            .map(|v| matches!(v.trim(), "1" | "true"))
    };
    let password = values
        .get(SECRET)
        .and_then(|v| v.first())
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    // One IRC middle parameter: no spaces, commas or controls, no leading ':'.
    let bad = |p: &str| {
        p.len() > 64
            || p.starts_with(':')
            || p.contains(|c: char| c.is_control() || c == ' ' || c == ',')
    };
    if password.as_deref().is_some_and(bad) {
        return Err(Refusal::modify(
            "not-acceptable",
            "A room password is one word of at most 64 bytes, without commas, not starting with ':'.",
        ));
    }
    Ok(Some(RoomConfig {
        moderated: flag(MODERATED),
        members_only: flag(MEMBERS_ONLY),
        subject_locked: flag(CHANGE_SUBJECT).map(|change| !change),
        password_protected: flag(PROTECTED),
        password,
    }))
}

impl Session {
    /// An owner IQ (get: the form; set: the submitted form) to `room`.
    pub(crate) async fn room_config(&mut self, room: LegacyId, iq: Element) {
        let refusal = match self.rooms.get(&room).filter(|r| r.joined) {
            None => Some(Refusal::cancel(
                "not-acceptable",
                "Join the room before configuring it.",
            )),
            Some(_) if !self.verbs_for(&room).room_config => Some(Refusal::cancel(
                "feature-not-implemented",
                "This network keeps no room settings the gateway can show.",
            )),
            Some(r)
                if iq.attr("type") == Some("set")
                    && r.role_of(&r.nick) != Some(Role::Moderator) =>
            {
                Some(Refusal::auth(
                    "forbidden",
                    "Only the room's moderators may change its settings.",
                ))
            }
            Some(_) => None,
        };
        if let Some(r) = refusal {
            return self.bounce(&iq, r).await;
        }
        if iq.attr("type") != Some("set") {
            return self.ask_room_config(room, iq).await;
        }
        let Some(query) = iq.children().next() else {
            return;
        };
        match read_submit(query) {
            Ok(None) => self.send(crate::stanza::iq_result_to(&iq, None)).await,
            Ok(Some(config)) => {
                let command = LegacyCommand::SetRoomConfig { room, config };
                if self.to_legacy(command, &iq).await {
                    self.send(crate::stanza::iq_result_to(&iq, None)).await;
                }
            }
            Err(r) => self.bounce(&iq, r).await,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_form_and_what_a_submit_changes() {
        let shown = form(&RoomConfig {
            moderated: Some(true),
            members_only: Some(false),
            subject_locked: Some(true),
            password_protected: Some(false),
            password: None,
        });
        let xml = String::from(&shown);
        assert!(xml.contains(FORM_TYPE) && xml.contains(MODERATED), "{xml}");
        let submit: Element = format!(
            "<query xmlns='{NS}'><x xmlns='jabber:x:data' type='submit'>\
             <field var='{MODERATED}'><value>0</value></field>\
             <field var='{CHANGE_SUBJECT}'><value>1</value></field>\
             <field var='{PROTECTED}'><value>true</value></field>\
             <field var='{SECRET}'><value>s3cret</value></field></x></query>"
        )
        .parse()
        .unwrap();
        assert_eq!(
            read_submit(&submit).unwrap(),
            Some(RoomConfig {
                moderated: Some(false),
                members_only: None,
                subject_locked: Some(false),
                password_protected: Some(true),
                password: Some("s3cret".into()),
            })
        );
        let cancel: Element =
            format!("<query xmlns='{NS}'><x xmlns='jabber:x:data' type='cancel'/></query>")
                .parse()
                .unwrap();
        assert_eq!(read_submit(&cancel).unwrap(), None);
        let bad: Element = format!(
            "<query xmlns='{NS}'><x xmlns='jabber:x:data' type='submit'>\
             <field var='{SECRET}'><value>a b</value></field></x></query>"
        )
        .parse()
        .unwrap();
        assert_eq!(read_submit(&bad).unwrap_err().condition, "not-acceptable");
    }
}
