//! The rich network's verbs on earlier messages: edits, reactions, deletions (by the
//! author or a room's owner), read markers and typing, in rooms and direct chats, told to
//! everyone concerned as a network would (the author included, as an echo the core does
//! not show twice).

use pontoon_core::legacy::{ChatId, LegacyCommand, LegacyEvent, Receipt};

use super::rooms::Out;
use super::{Me, State};

/// Applies `cmd` if it is a verb (`None`: it is not, a room command maybe).
pub(super) fn apply(me: &Me, cmd: &LegacyCommand) -> Option<Out> {
    let Ok(net) = me.network.lock() else {
        return Some(Vec::new());
    };
    // A verb on a message of a direct chat with someone not on the network is refused, as
    // a network would (the core tells the user).
    if let Some((chat @ ChatId::Contact(contact), target)) = on_message(cmd)
        && !net.users.contains_key(contact.as_str())
    {
        let refused = LegacyEvent::VerbRefused {
            chat: chat.clone(),
            target: target.to_owned(),
            reason: format!("{contact} is not on the test network"),
        };
        return Some(vec![(me.events.clone(), refused)]);
    }
    let out = match cmd.clone() {
        LegacyCommand::Correct {
            chat,
            target,
            body,
            kind,
        } => to_chat(&net, me, &chat, true, |author| LegacyEvent::Corrected {
            chat: author.chat.clone(),
            author: author.name.clone(),
            target: target.clone(),
            body: body.clone(),
            kind,
        }),
        LegacyCommand::Retract { chat, target } => {
            to_chat(&net, me, &chat, true, |author| LegacyEvent::Retracted {
                chat: author.chat.clone(),
                author: author.name.clone(),
                target: target.clone(),
                moderator: None,
                reason: None,
            })
        }
        LegacyCommand::Moderate {
            room,
            target,
            reason,
        } => {
            let members = net.members(&room);
            let owner = members.first().filter(|m| m.to.same_channel(&me.events));
            match (owner, net.authors.get(&target)) {
                (Some(owner), Some(author)) => members
                    .iter()
                    .map(|m| {
                        let event = LegacyEvent::Retracted {
                            chat: ChatId::Room(room.clone()),
                            author: author.clone(),
                            target: target.clone(),
                            moderator: Some(owner.nick.clone()),
                            reason: reason.clone(),
                        };
                        (m.to.clone(), event)
                    })
                    .collect(),
                _ => vec![(
                    me.events.clone(),
                    LegacyEvent::VerbRefused {
                        chat: ChatId::Room(room.clone()),
                        target: target.clone(),
                        reason: "only a room's owner deletes others' messages, and only known ones"
                            .to_owned(),
                    },
                )],
            }
        }
        LegacyCommand::MarkDisplayed { chat, target } => {
            to_chat(&net, me, &chat, false, |author| LegacyEvent::Receipt {
                chat: author.chat.clone(),
                author: author.name.clone(),
                target: target.clone(),
                receipt: Receipt::Displayed,
            })
        }
        LegacyCommand::React {
            chat,
            target,
            added,
            removed,
        } => {
            let changes: Vec<(String, bool)> = added
                .into_iter()
                .map(|e| (e, false))
                .chain(removed.into_iter().map(|e| (e, true)))
                .collect();
            let mut out = Vec::new();
            for (emoji, removed) in changes {
                out.extend(to_chat(&net, me, &chat, true, |author| {
                    LegacyEvent::Reaction {
                        chat: author.chat.clone(),
                        author: author.name.clone(),
                        target: target.clone(),
                        emoji: emoji.clone(),
                        removed,
                    }
                }));
            }
            out
        }
        LegacyCommand::SetChatState { chat, state } => {
            to_chat(&net, me, &chat, false, |author| LegacyEvent::ChatState {
                chat: author.chat.clone(),
                author: author.name.clone(),
                state,
            })
        }
        _ => return None,
    };
    Some(out)
}

/// The chat and message a verb on an earlier message is about.
fn on_message(cmd: &LegacyCommand) -> Option<(&ChatId, &str)> {
    match cmd {
        LegacyCommand::Correct { chat, target, .. }
        | LegacyCommand::Retract { chat, target }
        | LegacyCommand::React { chat, target, .. } => Some((chat, target)),
        _ => None,
    }
}

/// `me` as the others in a chat see them: where (a direct chat is the one with `me`), and
/// by which name.
struct Author {
    chat: ChatId,
    name: String,
}

/// The event `make` builds, to everyone else in `chat` (and to `me` too when `echo`):
/// a room's members, or the contact of a direct chat.
fn to_chat(
    net: &State,
    me: &Me,
    chat: &ChatId,
    echo: bool,
    make: impl Fn(&Author) -> LegacyEvent,
) -> Out {
    match chat {
        ChatId::Room(room) => {
            let Some(nick) = net.nick_in(room, me) else {
                return Vec::new();
            };
            let author = Author {
                chat: chat.clone(),
                name: nick,
            };
            net.members(room)
                .into_iter()
                .filter(|m| echo || !m.to.same_channel(&me.events))
                .map(|m| (m.to, make(&author)))
                .collect()
        }
        ChatId::Contact(contact) => {
            let Some(peer) = net.users.get(contact.as_str()).cloned() else {
                return Vec::new();
            };
            let author = Author {
                chat: ChatId::Contact(super::id(&me.id)),
                name: me.id.clone(),
            };
            vec![(peer, make(&author))]
        }
    }
}
