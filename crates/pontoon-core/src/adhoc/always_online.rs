//! The user's ad-hoc command *Stay online while away* (`always-online`) at the transport's
//! domain: a form with one switch, showing the user's current choice; the submitted choice
//! is kept by [`crate::ops::always_online`] and told to the running session.

use minidom::Element;
use xmpp_parsers::data_forms::{DataFormType, FieldType};

use super::NS_COMMANDS;
use super::wire::{command_error, completed, executing, field, first, form, submitted};
use crate::ops::OpsError;
use crate::service::Service;
use crate::session::SessionInput;
use crate::stanza::{Header, Refusal};

/// Node of the command.
pub const NODE: &str = "always-online";
/// Its name in command lists.
pub const NAME: &str = "Stay online while away";
/// The form's switch.
const FIELD: &str = "always_online";
/// Where direct messages go while away (component mode): `send` or `keep`.
const MESSAGES_FIELD: &str = "away_messages";

impl Service {
    /// Runs the command: the form first, then the choice.
    pub(crate) async fn on_always_online_command(&mut self, el: &Element, header: &Header) {
        let user = header.user().clone();
        let transport = self.cfg.transport_name.clone();
        let policy = self.policy.clone();
        let values = el.get_child("command", NS_COMMANDS).and_then(submitted);
        let reply = match values {
            None => {
                match crate::ops::always_online::get(
                    &self.store,
                    (&transport, &policy),
                    user.as_str(),
                )
                .await
                {
                    Ok(on) => {
                        let mut switch = field(FIELD, FieldType::Boolean, NAME, false);
                        switch.values = vec![if on { "1" } else { "0" }.to_owned()];
                        let mut fields = vec![switch];
                        if self.mode.registrations_log_in() {
                            let keep = crate::ops::always_online::keeps_messages(
                                &self.store,
                                &transport,
                                user.as_str(),
                            )
                            .await
                            .unwrap_or(false);
                            fields.push(messages_field(keep));
                        }
                        let instructions = format!(
                            "When your last client goes offline, stay connected to {} and in your rooms? What is said there waits in the rooms' history; direct messages go to your server, which keeps them for you, or wait here until a client of yours is back, as you choose.",
                            self.cfg.display_name
                        );
                        let f = form(DataFormType::Form, NAME, Some(&instructions), fields);
                        Some(crate::stanza::iq_result_to(
                            el,
                            Some(executing(NODE, NODE, f)),
                        ))
                    }
                    Err(e) => refusal(el, &e),
                }
            }
            Some(values) => {
                let on = matches!(first(&values, FIELD), "1" | "true");
                let keep = match first(&values, MESSAGES_FIELD) {
                    "keep" => Some(true),
                    "send" => Some(false),
                    _ => None,
                };
                if let Some(keep) = keep.filter(|_| self.mode.registrations_log_in())
                    && let Err(e) = crate::ops::always_online::set_keeps_messages(
                        &self.store,
                        &transport,
                        user.as_str(),
                        keep,
                    )
                    .await
                {
                    if let Some(reply) = refusal(el, &e) {
                        self.send(reply).await;
                    }
                    return;
                }
                match crate::ops::always_online::set(
                    &self.store,
                    (&transport, &policy),
                    user.as_str(),
                    on,
                )
                .await
                {
                    Ok(text) => {
                        // A running session follows at once; a new one reads the choice.
                        let _ = self.offer(&user, SessionInput::AlwaysOnline { on });
                        Some(completed(el, NODE, NODE, &text, false))
                    }
                    Err(e) => refusal(el, &e),
                }
            }
        };
        if let Some(reply) = reply {
            self.send(reply).await;
        }
    }
}

/// The choice of where direct messages go while away.
fn messages_field(keep: bool) -> xmpp_parsers::data_forms::Field {
    let mut f = field(
        MESSAGES_FIELD,
        FieldType::ListSingle,
        "Direct messages while away",
        false,
    );
    f.options = vec![
        xmpp_parsers::data_forms::Option_ {
            label: Some("Send them to my server now (it keeps them for my clients)".to_owned()),
            value: "send".to_owned(),
        },
        xmpp_parsers::data_forms::Option_ {
            label: Some("Keep them here until a client of mine is back".to_owned()),
            value: "keep".to_owned(),
        },
    ];
    f.values = vec![if keep { "keep" } else { "send" }.to_owned()];
    f
}

fn refusal(el: &Element, e: &OpsError) -> Option<Element> {
    let r = match e {
        OpsError::NotFound(t) => Refusal::auth("registration-required", t.clone()),
        OpsError::Invalid(t) => Refusal::cancel("not-allowed", t.clone()),
        other => Refusal::wait("internal-server-error", other.to_string()),
    };
    command_error(el, &r, None)
}
