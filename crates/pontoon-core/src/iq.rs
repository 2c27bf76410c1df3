//! IQ dispatch: each payload namespace goes to the feature module that owns it; anything
//! else gets `service-unavailable`, never silence.

use minidom::Element;

use crate::inbound::{moderate, muc_admin, search};
use crate::legacy::{ChatId, Verbs};
use crate::service::{Service, Target};
use crate::settings::Scope;
use crate::stanza::{self, Header, Refusal};
use crate::{adhoc, disco};

const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const NS_DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
const NS_REGISTER: &str = "jabber:iq:register";
const NS_GATEWAY: &str = "jabber:iq:gateway";
const NS_VERSION: &str = "jabber:iq:version";
const NS_PING: &str = "urn:xmpp:ping";
const NS_VCARD: &str = "vcard-temp";
const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";

impl Service {
    /// disco#items of the commands node at the JID of `local` (a network or a room), as
    /// `items` lists them.
    fn command_items_of(
        &self,
        local: &str,
        items: fn(&Service, &jid::Jid) -> Vec<xmpp_parsers::disco::Item>,
    ) -> Option<Result<Element, Refusal>> {
        let jid = crate::escape::legacy_jid(local, self.domain().domain().as_str(), None).ok()?;
        Some(Ok(xmpp_parsers::disco::DiscoItemsResult {
            node: Some(adhoc::NS_COMMANDS.to_owned()),
            items: items(self, &jid),
            rsm: None,
        }
        .into()))
    }

    pub(crate) async fn on_iq(&mut self, el: Element, header: Header, target: Target) {
        let is_get = match header.kind.as_str() {
            "get" => true,
            "set" => false,
            // Answers: to the gateway's roster IQs (`crate::privilege`), or to nothing;
            // never replied to.
            "result" | "error" => return self.on_iq_answer(el, header).await,
            _ => return,
        };
        let Some(payload) = el.children().next().cloned() else {
            self.refuse(
                &el,
                Refusal::modify("bad-request", "An IQ needs a payload."),
            )
            .await;
            return;
        };
        if !self.policy.enabled {
            self.reload_policy().await;
        }
        let user = header.user().clone();
        // Admins reach the domain even while the transport is disabled (to enable it).
        let admin = matches!(target, Target::Domain) && self.is_admin(&user);
        // A disabled transport answers nothing; other refusals are left to each feature,
        // so disco still works for users who may not register.
        if !admin
            && let Err(refusal) = self.check(&user, crate::policy::Action::Use)
            && refusal.condition == "service-unavailable"
        {
            self.refuse(&el, refusal).await;
            return;
        }
        let ns = payload.ns();
        if ns == adhoc::NS_COMMANDS {
            // The user's settings commands (`crate::settings::adhoc`) at a network's JID,
            // or at the domain beside the operator's.
            let node = payload.attr("node").unwrap_or_default();
            let user_node = crate::settings::adhoc::COMMANDS
                .iter()
                .any(|(n, _)| *n == node);
            match &target {
                Target::Network(n) => {
                    let scope = Scope::Network(n.clone());
                    self.on_user_command(&el, &header, &payload, scope, is_get)
                        .await;
                    return;
                }
                Target::Domain if user_node && self.settings_at_domain() => {
                    let scope = Scope::Network(crate::settings::ONLY_NETWORK.to_owned());
                    self.on_user_command(&el, &header, &payload, scope, is_get)
                        .await;
                    return;
                }
                Target::Room(room, None)
                    if !self.transport.descriptor().room_settings.is_empty() =>
                {
                    let scope = Scope::Room(room.clone());
                    self.on_user_command(&el, &header, &payload, scope, is_get)
                        .await;
                    return;
                }
                Target::Domain if adhoc::user::is_user_command(node) => {
                    self.on_user_domain_command(&el, &header, is_get).await;
                    return;
                }
                Target::Domain => {
                    self.on_adhoc(&el, &header, &payload, is_get).await;
                    return;
                }
                _ => {}
            }
        }
        let node = payload.attr("node");
        let commands_info = match (ns.as_str(), is_get, &target, node) {
            (NS_DISCO_INFO, true, Target::Domain, Some(n)) if adhoc::user::is_user_command(n) => {
                self.user_domain_command_info(n).map(Ok)
            }
            (NS_DISCO_INFO, true, Target::Domain, Some(n)) => {
                self.commands_info(&user, n).or_else(|| {
                    self.settings_at_domain()
                        .then(|| self.user_command_info(n).map(Ok))
                        .flatten()
                })
            }
            (NS_DISCO_INFO, true, Target::Network(_), Some(n)) => self.user_command_info(n).map(Ok),
            (NS_DISCO_INFO, true, Target::Room(_, None), Some(n))
                if n == crate::settings::adhoc::SETTINGS =>
            {
                self.room_command_info()
            }
            (NS_DISCO_ITEMS, true, Target::Room(room, None), Some(adhoc::NS_COMMANDS)) => {
                self.command_items_of(room.as_ref(), Self::room_command_items)
            }
            (NS_DISCO_ITEMS, true, Target::Network(n), Some(adhoc::NS_COMMANDS)) => {
                self.command_items_of(n, Self::user_command_items)
            }
            _ => None,
        };
        let result: Result<Option<Element>, Refusal> = if let Some(answer) = commands_info {
            answer.map(Some)
        } else {
            match (ns.as_str(), is_get, &target) {
                (NS_DISCO_ITEMS, true, Target::Domain) if node == Some(adhoc::NS_COMMANDS) => {
                    Ok(Some(self.commands_items(&user)))
                }
                (NS_DISCO_INFO, true, Target::Domain) => {
                    let node = node.map(str::to_owned);
                    match &node {
                        Some(n) if !disco::is_caps_node(n) => Err(Refusal::cancel(
                            "item-not-found",
                            format!("No such node {n:?}."),
                        )),
                        _ => {
                            let mut info = disco::domain_info(
                                &self.transport.descriptor().gateway_type,
                                &self.cfg.display_name,
                                node.clone(),
                            );
                            if node.is_none() {
                                self.mode.extend_domain_info(&mut info);
                            }
                            Ok(Some(info.into()))
                        }
                    }
                }
                // No nodes on rooms and contacts (a XEP-0045 reserved-nick query included:
                // no nick is reserved), but for a contact's entity caps node.
                (NS_DISCO_INFO, true, Target::Contact(_) | Target::Room(_, None))
                    if node.is_some_and(|n| {
                        !(disco::is_caps_node(n) && matches!(target, Target::Contact(_)))
                    }) =>
                {
                    Err(Refusal::cancel("item-not-found", "No such node here."))
                }
                (NS_DISCO_INFO, true, Target::Contact(id)) => {
                    let chat = ChatId::Contact(id.clone());
                    if self.offer_chat_iq(&user, chat, &el).await {
                        return;
                    }
                    // No session: what any network of this transport takes.
                    let name = self.transport.contact_name(id);
                    let mut info = disco::contact_info(&name, Verbs::default());
                    info.node = node.map(str::to_owned);
                    Ok(Some(info.into()))
                }
                (NS_DISCO_ITEMS, true, Target::Domain | Target::Network(_)) => {
                    let network = match &target {
                        Target::Network(n) => Some(n.clone()),
                        _ => None,
                    };
                    // The room directory comes from the user's legacy session, which answers.
                    let input = crate::session::SessionInput::ListRooms {
                        network: network.clone(),
                        search: None,
                        stanza: el.clone(),
                    };
                    match self.offer(header.user(), input) {
                        crate::service::Offer::Taken => return,
                        crate::service::Offer::Busy(_) => {
                            self.refuse(&el, crate::service::busy()).await;
                            return;
                        }
                        crate::service::Offer::NoSession(_) => {}
                    }
                    match network {
                        None => Ok(Some(disco::domain_items(
                            payload.attr("node").map(str::to_owned),
                        ))),
                        Some(n) => Err(Refusal::wait(
                            "recipient-unavailable",
                            format!(
                                "Log in or join a room on {n} first: its room list comes through your connection."
                            ),
                        )),
                    }
                }
                (search::NS, true, Target::Domain | Target::Network(_)) => {
                    let name = match &target {
                        Target::Network(n) => n.clone(),
                        _ => self.cfg.display_name.clone(),
                    };
                    Ok(Some(search::form(&name)))
                }
                (search::NS, false, Target::Domain | Target::Network(_)) => {
                    match search::term(&payload) {
                        Err(refusal) => Err(refusal),
                        Ok(term) => {
                            let network = match &target {
                                Target::Network(n) => Some(n.clone()),
                                _ => None,
                            };
                            let input = crate::session::SessionInput::ListRooms {
                                network,
                                search: Some(term),
                                stanza: el.clone(),
                            };
                            match self.offer(&user, input) {
                                crate::service::Offer::Taken => return,
                                crate::service::Offer::Busy(_) => Err(crate::service::busy()),
                                crate::service::Offer::NoSession(_) => Err(Refusal::wait(
                                    "recipient-unavailable",
                                    "Log in first: the search goes through your connection.",
                                )),
                            }
                        }
                    }
                }
                (NS_DISCO_INFO, true, Target::Network(n)) => {
                    let mut info = disco::network_info(n);
                    // Clients show ad-hoc commands only where disco#info lists them.
                    if !self.transport.descriptor().network_settings.is_empty() {
                        info.features.insert(adhoc::NS_COMMANDS.to_owned());
                    }
                    Ok(Some(info.into()))
                }
                (NS_DISCO_ITEMS, true, Target::Contact(_)) => Ok(Some(disco::domain_items(None))),
                // A contact's XEP-0084 picture (`crate::avatar::pep`), from the session.
                (NS_PUBSUB, true, Target::Contact(id)) => {
                    if self
                        .offer_chat_iq(&user, ChatId::Contact(id.clone()), &el)
                        .await
                    {
                        return;
                    }
                    Err(Refusal::cancel(
                        "item-not-found",
                        "No picture known: log in first.",
                    ))
                }
                (NS_VCARD, true, Target::Contact(id)) => {
                    // The session knows the contact's name and picture; without one, the
                    // name the address gives.
                    if self
                        .offer_chat_iq(&user, ChatId::Contact(id.clone()), &el)
                        .await
                    {
                        return;
                    }
                    let name = self.transport.contact_name(id);
                    Ok(Some(crate::avatar::vcard(&name, None)))
                }
                // An occupant's vCard: what the network says of them, through the session
                // (`crate::lookup`); without one, the nick.
                (NS_VCARD, true, Target::Room(room, Some(nick))) => {
                    if self
                        .offer_chat_iq(&user, ChatId::Room(room.clone()), &el)
                        .await
                    {
                        return;
                    }
                    Ok(Some(crate::avatar::vcard(nick, None)))
                }
                (NS_DISCO_INFO, true, Target::Room(room, None)) => {
                    if self
                        .offer_chat_iq(&user, ChatId::Room(room.clone()), &el)
                        .await
                    {
                        return;
                    }
                    let commands = !self.transport.descriptor().room_settings.is_empty();
                    Ok(Some(
                        disco::room_info(
                            room,
                            Verbs::default(),
                            (commands, self.session_ctx.archive.is_on()),
                        )
                        .into(),
                    ))
                }
                // Kicks, bans and roles (set) and the outcast list (get), and the room's
                // configuration, in the session.
                (muc_admin::NS | crate::muc::config::NS, _, Target::Room(room, None)) => {
                    if self
                        .offer_chat_iq(&user, ChatId::Room(room.clone()), &el)
                        .await
                    {
                        return;
                    }
                    Err(Refusal::cancel(
                        "not-acceptable",
                        "Join the room before kicking or banning in it.",
                    ))
                }
                (moderate::NS, false, Target::Room(room, None)) => {
                    if self
                        .offer_chat_iq(&user, ChatId::Room(room.clone()), &el)
                        .await
                    {
                        return;
                    }
                    Err(Refusal::cancel(
                        "not-acceptable",
                        "Join the room before moderating it.",
                    ))
                }
                (NS_DISCO_ITEMS, true, Target::Room(_, None)) => {
                    Ok(Some(disco::domain_items(None)))
                }
                (NS_REGISTER, _, Target::Domain) => {
                    self.on_register(&el, &header, &payload, is_get).await
                }
                (crate::upload::NS, true, Target::Domain) => match self.mode.uploads() {
                    Some(policy) => {
                        let desk = crate::upload::Desk {
                            policy,
                            store: self.store.clone(),
                            out: self.out.clone(),
                            transport: self.cfg.transport_name.clone(),
                            domain: self.domain_jid.clone(),
                        };
                        crate::upload::request_slot(desk, el, header, payload);
                        return;
                    }
                    None => Err(Refusal::cancel(
                        "service-unavailable",
                        "This server offers no file upload: its operator has not set one up.",
                    )),
                },
                (crate::archive::mam::NS, _, Target::Room(room, None)) => {
                    match self.room_archive(&user, room, &el, &payload, is_get) {
                        Ok(None) => return,
                        other => other,
                    }
                }
                (NS_GATEWAY, _, Target::Domain) => self.on_gateway_prompt(&payload, is_get),
                (NS_VERSION, true, Target::Domain) => Ok(Some(crate::version::version())),
                (NS_PING, true, Target::Domain) => Ok(None),
                _ => Err(Refusal::cancel(
                    "service-unavailable",
                    format!("{ns} is not supported here."),
                )),
            }
        };
        match result {
            Ok(payload) => {
                let to = el
                    .attr("to")
                    .and_then(|t| jid::Jid::new(t).ok())
                    .unwrap_or_else(|| self.domain_jid.clone());
                self.send(stanza::iq_result(&to, &header, payload)).await;
            }
            Err(refusal) => self.refuse(&el, refusal).await,
        }
        self.flush_after_reply().await;
    }
}

impl Service {
    /// A MAM request on a room's JID (`crate::archive`): the form (get), or a query (set),
    /// answered by a task of its own (`Ok(None)`: nothing to answer here).
    fn room_archive(
        &self,
        user: &jid::BareJid,
        room: &crate::legacy::LegacyId,
        iq: &Element,
        payload: &Element,
        is_get: bool,
    ) -> Result<Option<Element>, Refusal> {
        let archive = &self.session_ctx.archive;
        if !archive.is_on() {
            return Err(Refusal::cancel(
                "service-unavailable",
                "This transport keeps no archive: its operator turned history off.",
            ));
        }
        self.check(user, crate::policy::Action::Use)?;
        if is_get {
            return Ok(Some(crate::archive::mam::form()));
        }
        let Some(room_jid) = iq.attr("to").and_then(|t| jid::Jid::new(t).ok()) else {
            return Err(Refusal::modify("bad-request", "The query names no room."));
        };
        let query = crate::archive::query::Query {
            archive: archive.clone(),
            out: crate::archive::query::Answers::Link(self.out.clone()),
            whose: crate::archive::query::Whose::Room {
                room: room.to_string(),
                user: user.clone(),
            },
            jid: jid::Jid::from(room_jid.to_bare()),
        };
        crate::archive::query::serve(query, iq.clone(), payload);
        Ok(None)
    }

    /// Hands an IQ to `chat` to `user`'s session, which knows what the network carries;
    /// true when it took it (or it was refused as busy), false without a session.
    async fn offer_chat_iq(&mut self, user: &jid::BareJid, chat: ChatId, iq: &Element) -> bool {
        let input = crate::session::SessionInput::ChatIq {
            chat,
            stanza: iq.clone(),
        };
        match self.offer(user, input) {
            crate::service::Offer::Taken => true,
            crate::service::Offer::Busy(_) => {
                self.refuse(iq, crate::service::busy()).await;
                true
            }
            crate::service::Offer::NoSession(_) => false,
        }
    }
}
