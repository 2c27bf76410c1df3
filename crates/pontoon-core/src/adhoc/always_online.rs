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
/// The form's one field.
const FIELD: &str = "always_online";

impl Service {
    /// Runs the command: the form first, then the choice.
    pub(crate) async fn on_always_online_command(&mut self, el: &Element, header: &Header) {
        let user = header.user();
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
                        let instructions = format!(
                            "When your last client goes offline, stay connected to {} and in your rooms? What is said there waits in the rooms' history, direct messages wait with your server.",
                            self.cfg.display_name
                        );
                        let f = form(DataFormType::Form, NAME, Some(&instructions), vec![switch]);
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

fn refusal(el: &Element, e: &OpsError) -> Option<Element> {
    let r = match e {
        OpsError::NotFound(t) => Refusal::auth("registration-required", t.clone()),
        OpsError::Invalid(t) => Refusal::cancel("not-allowed", t.clone()),
        other => Refusal::wait("internal-server-error", other.to_string()),
    };
    command_error(el, &r, None)
}
