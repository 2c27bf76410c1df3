//! Messages from users: to a legacy contact they go to the user's session; to the transport
//! itself they are commands, answered with help rather than silence.

use crate::legacy::LegacyId;
use jid::Jid;
use minidom::Element;
use tokio::sync::mpsc::error::TrySendError;

use crate::inbound::Verb;
use crate::policy::Action;
use crate::service::{Service, Target};
use crate::session::SessionInput;
use crate::stanza::{self, Header, Refusal};
use pontoon_xmpp::handled::Handled;

/// Commands the core answers itself for every transport.
const CORE_COMMANDS: &[(&str, &str)] = &[
    ("help", "this text"),
    ("status", "whether you are registered and logged in"),
    (
        "badge on|off",
        "show your presence here on the web (a badge and JSON for status pages), or stop; off unless you turn it on",
    ),
    (
        "bookmarks off|on|autojoin",
        "whether the rooms you are in on the network go into your bookmarks, joined by your clients when they connect or not (where your server lets the gateway); on unless you change it",
    ),
    (
        "sync contacts",
        "put the network's contact list into your roster again",
    ),
];

impl Service {
    pub(crate) async fn on_message(
        &mut self,
        el: Element,
        header: Header,
        target: Target,
        handled: Option<Handled>,
    ) {
        // A host server's XEP-0356 advertisement (`crate::privilege`), never a user's message.
        if let Some(granted) = crate::privilege::Privileges::read(&el) {
            if !crate::privilege::may_grant(&header.from, &self.cfg.domain) {
                tracing::warn!(from = %header.from, "privileges (XEP-0356) advertised by a JID that is not a host server of this component: refused");
                if header.kind != "error" {
                    let r = Refusal::cancel("forbidden", "Only the host server grants privileges.");
                    self.refuse(&el, r).await;
                }
                return;
            }
            self.on_privileges(&header.from, granted);
            return;
        }
        // A message sent as the user (`crate::privilege::as_user`), routed by their server
        // to the contact, that is here: theirs already, not to send again.
        if crate::privilege::is_sent_as_user(&header.from, header.id.as_deref()) {
            if header.kind == "error" {
                tracing::warn!(from = %header.from, error = %String::from(&el), "the user's server refused a message sent as the user (XEP-0356)");
            }
            return;
        }
        if header.kind == "error" {
            tracing::debug!(from = %header.from, "error message from user ignored");
            return;
        }
        if !self.policy.enabled {
            self.reload_policy().await;
        }
        let user = header.user();
        if let Err(refusal) = self.check(user, Action::Use) {
            self.refuse(&el, refusal).await;
            return;
        }
        // Read once: what the message asks for (`crate::inbound`). Chat states, receipts and
        // markers alone come out as nothing, which needs no answer.
        let verb = match crate::inbound::read_message(&el) {
            Ok(verb) => verb,
            Err(refusal) => {
                self.refuse(&el, refusal).await;
                return;
            }
        };
        // Chat states and displayed markers are hints: for a user without a session,
        // nothing (not an error).
        let nothing = matches!(verb, Verb::Nothing)
            || (matches!(verb, Verb::ChatState(_) | Verb::Displayed { .. })
                && !self.sessions.contains_key(user));
        match target {
            Target::Room(room, None) => {
                // XEP-0045 invitations are normal messages; everything else is groupchat.
                if header.kind != "groupchat" && !matches!(verb, Verb::Invite(_)) {
                    self.refuse(
                        &el,
                        Refusal::modify(
                            "bad-request",
                            "Messages to a room must be of type groupchat.",
                        ),
                    )
                    .await;
                    return;
                }
                // The room's settings, typed in it (`crate::settings`), stay here: read
                // from the text as it would go out (a reply's quote left out), so that
                // none of it reaches the network, corrected or not.
                let typed = match &verb {
                    Verb::Text(t) | Verb::Correct { text: t, .. }
                        if t.kind == crate::legacy::MessageKind::Text =>
                    {
                        Some(t.body.as_str())
                    }
                    _ => None,
                };
                if !self.transport.descriptor().room_settings.is_empty()
                    && let Some(request) =
                        typed.and_then(crate::settings::commands::Request::parse_in_room)
                {
                    let scope = crate::settings::Scope::Room(room);
                    let reply = crate::settings::commands::Reply::Room(header.from.clone());
                    self.on_settings(&el, user, scope, request, reply).await;
                    return;
                }
                if !nothing {
                    self.route_room_message(el, header, room, verb, handled)
                        .await;
                }
            }
            Target::Room(room, Some(nick)) => {
                if nothing {
                    return;
                }
                match self.transport.occupant_contact(&room, &nick) {
                    Some(to) => {
                        let via = Some((room, nick));
                        self.route_message(el, header, to, verb, (via, handled))
                            .await
                    }
                    None => {
                        self.refuse(
                            &el,
                            Refusal::cancel(
                                "feature-not-implemented",
                                "Private messages to room occupants are not supported on this network.",
                            ),
                        )
                        .await
                    }
                }
            }
            Target::Network(n) => {
                if !nothing {
                    self.on_raw(&el, user, n).await;
                }
            }
            Target::Domain => {
                if let Some(body) = stanza::body_of(&el) {
                    self.on_command(&el, &header, body.trim()).await
                }
            }
            Target::Contact(to) => {
                if nothing {
                    return;
                }
                if header.kind == "groupchat" {
                    self.refuse(
                        &el,
                        Refusal::modify("bad-request", "Group chat messages go to rooms."),
                    )
                    .await;
                    return;
                }
                self.route_message(el, header, to, verb, (None, handled))
                    .await;
            }
        }
    }

    /// `via_room`: the room and nick written to, for a private message through a room.
    async fn route_message(
        &mut self,
        el: Element,
        header: Header,
        to: LegacyId,
        verb: Verb,
        (via_room, handled): (Option<(LegacyId, String)>, Option<Handled>),
    ) {
        let user = header.user().clone();
        // A session on its way out (unregistered, moved, logged out) takes nothing new: the
        // registration says which error the sender gets, as when it is gone.
        let Some(handle) = self.sessions.get(&user).filter(|h| !h.ending) else {
            let registered = self
                .store
                .registration(user.as_str(), &self.cfg.transport_name)
                .await;
            let refusal = match registered {
                Ok(Some(_)) => Refusal::wait(
                    "recipient-unavailable",
                    format!(
                        "You are not logged in to {}: accept the transport's presence subscription or send it your presence.",
                        self.cfg.display_name
                    ),
                ),
                Ok(None) => Refusal::auth(
                    "registration-required",
                    format!("Register with {} first.", self.cfg.domain),
                ),
                Err(e) => self.store_failure(e),
            };
            self.refuse(&el, refusal).await;
            return;
        };
        let input = SessionInput::Message {
            to,
            verb,
            via_room,
            stanza: el,
            read_at: header.read_at,
            handled,
        };
        let tx = handle.tx.clone();
        self.deliver(&tx, input, "Your legacy session just ended.")
            .await;
    }

    /// Hands a user's stanza to their session without waiting; a full inbox or a finished
    /// session bounces it to the sender instead of blocking every other user.
    async fn deliver(
        &self,
        tx: &crate::session::InboxSender,
        input: SessionInput,
        closed_text: &str,
    ) {
        let (refusal, input) = match tx.try_send(input) {
            Ok(()) => return,
            Err(TrySendError::Full(input)) => (
                Refusal::wait(
                    "resource-constraint",
                    "Too many messages at once; slow down.",
                ),
                input,
            ),
            Err(TrySendError::Closed(input)) => {
                (Refusal::wait("recipient-unavailable", closed_text), input)
            }
        };
        if let Some(stanza) = input.into_stanza() {
            self.refuse(&stanza, refusal).await;
        }
    }

    async fn route_room_message(
        &mut self,
        el: Element,
        header: Header,
        room: LegacyId,
        verb: Verb,
        handled: Option<Handled>,
    ) {
        let Some(handle) = self.sessions.get(header.user()) else {
            self.refuse(
                &el,
                Refusal::modify("not-acceptable", "You are not in this room; join it first."),
            )
            .await;
            return;
        };
        let input = SessionInput::RoomMessage {
            from: header.from.clone(),
            room,
            verb,
            stanza: el,
            read_at: header.read_at,
            handled,
        };
        let tx = handle.tx.clone();
        self.deliver(&tx, input, "You are not in this room; join it first.")
            .await;
    }

    async fn on_command(&mut self, el: &Element, header: &Header, text: &str) {
        let (name, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let name = name.to_ascii_lowercase();
        let user = header.user().clone();
        // A transport with one network takes its settings here (`crate::settings`).
        let descriptor = self.transport.descriptor();
        if descriptor.one_network
            && !descriptor.network_settings.is_empty()
            && let Some(request) =
                crate::settings::commands::Request::parse(&format!("{name} {args}"))
        {
            let network = crate::settings::ONLY_NETWORK.to_owned();
            let reply = crate::settings::commands::Reply::Chat;
            let scope = crate::settings::Scope::Network(network);
            self.on_settings(el, &user, scope, request, reply).await;
            return;
        }
        let reply = match name.as_str() {
            "status" => Some(self.status_text(&user).await),
            "badge" => Some(self.badge_command(&user, args.trim()).await),
            "bookmarks" => match args.trim() {
                "" => self.hand_to_session(&user, SessionInput::Bookmarks { choice: None }),
                word => match crate::session::BookmarkChoice::parse(word) {
                    Some(choice) => self.hand_to_session(
                        &user,
                        SessionInput::Bookmarks {
                            choice: Some(choice),
                        },
                    ),
                    None => Some(
                        "Send \"bookmarks off\", \"bookmarks on\" or \"bookmarks autojoin\"."
                            .to_owned(),
                    ),
                },
            },
            "sync" if args.trim().eq_ignore_ascii_case("contacts") => {
                self.hand_to_session(&user, SessionInput::SyncContacts)
            }
            _ if self
                .transport
                .descriptor()
                .commands
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(&name)) =>
            {
                let input = SessionInput::Command {
                    name,
                    args: args.trim().to_owned(),
                };
                self.hand_to_session(&user, input)
            }
            _ => Some(self.help_text()),
        };
        if let Some(reply) = reply {
            self.send(stanza::chat(
                self.domain_jid.clone(),
                header.from.clone(),
                &reply,
            ))
            .await;
        }
    }

    /// Hands a core command to the user's session; what to answer when it cannot.
    pub(crate) fn hand_to_session(
        &mut self,
        user: &jid::BareJid,
        input: SessionInput,
    ) -> Option<String> {
        if !self.sessions.contains_key(user) {
            return Some(format!(
                "You are not logged in to {}; that command needs a login.",
                self.cfg.display_name
            ));
        }
        match self.offer(user, input) {
            crate::service::Offer::Taken => None,
            _ => Some(crate::service::busy().text),
        }
    }

    /// What the host server `from` grants (it may: `privilege::may_grant`).
    fn on_privileges(&mut self, from: &Jid, granted: crate::privilege::Privileges) {
        let said = granted.describe();
        if self.privileges.take(from.domain().as_str(), granted) {
            tracing::info!(host = %from, privileges = %said, "host server privileges (XEP-0356)");
        } else {
            tracing::warn!(host = %from, "privileges from too many host servers: ignored");
        }
    }

    async fn status_text(&self, user: &jid::BareJid) -> String {
        let text = self.registration_status(user).await;
        if !matches!(self.mode, crate::service::Mode::Component) {
            return text;
        }
        let host = user.domain().as_str();
        match self.privileges.of(host) {
            Some(p) => format!(
                "{text}\nYour server ({host}) lets this gateway: {}.",
                p.describe()
            ),
            None => format!(
                "{text}\nYour server ({host}) has granted this gateway no privileges (XEP-0356)."
            ),
        }
    }

    async fn registration_status(&self, user: &jid::BareJid) -> String {
        match self
            .store
            .registration(user.as_str(), &self.cfg.transport_name)
            .await
        {
            Ok(Some(reg)) => {
                let state = if self.sessions.contains_key(user) {
                    "logged in (or logging in)"
                } else {
                    "not logged in"
                };
                format!(
                    "You are registered with {} as {:?} and {state}.",
                    self.cfg.display_name, reg.legacy_id
                )
            }
            Ok(None) => format!("You are not registered with {}.", self.cfg.display_name),
            Err(e) => self.store_failure(e).text,
        }
    }

    /// `badge`, `badge on`, `badge off`: the user's presence badge (`crate::ops::badges`).
    async fn badge_command(&self, user: &jid::BareJid, args: &str) -> String {
        let transport = &self.cfg.transport_name;
        // A store failure is logged and told as every other one; nothing else can fail.
        let failed = |e: crate::ops::OpsError| match e {
            crate::ops::OpsError::Store(e) => self.store_failure(e).text,
            other => other.to_string(),
        };
        let on = match args.to_ascii_lowercase().as_str() {
            "on" => true,
            "off" => false,
            "" => {
                return match crate::ops::badges::is_on(&self.store, transport, user).await {
                    Ok(true) => self.badge_text(user, "on"),
                    Ok(false) => "Your presence badge is off. Send \"badge on\" to show your presence on the web.".to_owned(),
                    Err(e) => failed(e),
                };
            }
            _ => return "Send \"badge on\" or \"badge off\".".to_owned(),
        };
        if on && !self.is_user(user).await {
            return format!("Register with {} first.", self.cfg.domain);
        }
        match crate::ops::badges::set(&self.store, transport, user, on).await {
            Ok(_) if on => {
                tracing::info!(user = %user, "user turned their presence badge on");
                self.badge_text(user, "now on")
            }
            Ok(_) => {
                tracing::info!(user = %user, "user turned their presence badge off");
                "Your presence badge is now off: nobody can see your presence on the web."
                    .to_owned()
            }
            Err(e) => failed(e),
        }
    }

    /// Says the badge is `state` (on), with its addresses when the gateway serves them.
    fn badge_text(&self, user: &jid::BareJid, state: &str) -> String {
        let name = &self.cfg.display_name;
        match &self.session_ctx.media {
            Some(links) => {
                let url =
                    crate::ops::badges::url(links.public_url(), &self.cfg.transport_name, user);
                format!(
                    "Your presence badge is {state}: anyone can see whether you are online on {name} at {url}.svg (and {url}.json). Send \"badge off\" to stop."
                )
            }
            None => format!(
                "Your presence badge is {state}, but this gateway serves no badges at the moment (its HTTP listener is off). Send \"badge off\" to stop."
            ),
        }
    }

    fn help_text(&self) -> String {
        let name = &self.cfg.display_name;
        let domain = &self.cfg.domain;
        let account = self.mode.account_help(name, domain);
        let mut text = format!(
            "This is the {name} transport ({domain}).\n{account}Commands you can send here:"
        );
        for (name, help) in CORE_COMMANDS {
            text.push_str(&format!("\n  {name} - {help}"));
        }
        for c in &self.transport.descriptor().commands {
            text.push_str(&format!("\n  {} - {}", c.name, c.help));
        }
        let descriptor = self.transport.descriptor();
        if descriptor.network_settings.is_empty() {
        } else if descriptor.one_network {
            for (name, help) in crate::settings::commands::HELP {
                text.push_str(&format!("\n  {name} - {help}"));
            }
        } else {
            text.push_str("\nYour settings per network (nick, passwords...): send \"settings\" to a network's own address, like network@");
            text.push_str(domain);
            text.push('.');
        }
        text
    }

    /// The JID the transport answers from.
    pub(crate) fn domain(&self) -> &Jid {
        &self.domain_jid
    }
}
