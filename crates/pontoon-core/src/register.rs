//! In-band registration (XEP-0077 with XEP-0004 forms) following XEP-0100.
//!
//! The form comes from the transport (each network asks for its own fields); old clients
//! get the same fields as XEP-0077 legacy elements. A new registration makes the transport
//! ask for the user's presence subscription, so it appears in the roster and learns when the
//! user is online.

use std::collections::BTreeMap;

use jid::Jid;
use minidom::Element;
use pontoon_store::{Registration, StoreError};
use tracing::{Instrument, error, info};
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use xmpp_parsers::presence::Presence;

use crate::ops::OpsError;
use crate::ops::registrations as ops;
use crate::policy::Action;

/// How long a transport's goodbye to the network may take after an unregistration.
const GOODBYE_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);
use crate::service::Service;
use crate::stanza::{Header, Refusal};
use crate::transport::{FieldKind, RegistrationField};

const NS: &str = "jabber:iq:register";
const NS_DATA: &str = "jabber:x:data";

/// Field names XEP-0077 also defines as plain elements, for clients without data forms.
const LEGACY_ELEMENTS: &[&str] = &["username", "password", "nick", "email"];

/// The registration form, with the current values of an existing registration.
pub fn form(
    instructions: &str,
    fields: &[RegistrationField],
    current: Option<&Registration>,
) -> Element {
    let mut q = Element::builder("query", NS)
        .append(
            Element::builder("instructions", NS)
                .append(instructions)
                .build(),
        )
        .build();
    if current.is_some() {
        q.append_child(Element::builder("registered", NS).build());
    }
    let current_value = |var: &str| -> Option<String> {
        let reg = current?;
        match var {
            "username" => Some(reg.legacy_id.clone()),
            "password" => None,
            other => reg.options.get(other).cloned(),
        }
    };
    for f in fields
        .iter()
        .filter(|f| LEGACY_ELEMENTS.contains(&f.var.as_str()))
    {
        let mut el = Element::builder(f.var.as_str(), NS).build();
        if let Some(v) = current_value(&f.var) {
            el.append_text_node(v);
        }
        q.append_child(el);
    }
    let form_fields = fields
        .iter()
        .map(|f| {
            let mut field = Field::new(
                &f.var,
                match f.kind {
                    FieldKind::Text => FieldType::TextSingle,
                    FieldKind::Password => FieldType::TextPrivate,
                    FieldKind::Boolean => FieldType::Boolean,
                },
            );
            field.label = Some(f.label.to_owned());
            field.required = f.required;
            if let Some(v) = current_value(&f.var) {
                field.values = vec![v];
            }
            field
        })
        .collect();
    let mut data = DataForm::new(DataFormType::Form, NS, form_fields);
    data.title = Some("Registration".to_owned());
    data.instructions = Some(instructions.to_owned());
    q.append_child(crate::explicit::form(data));
    q
}

/// The values a user submitted, from a data form if there is one, else from legacy elements.
pub fn submitted_values(payload: &Element) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if let Some(x) = payload.get_child("x", NS_DATA) {
        for field in x.children().filter(|c| c.name() == "field") {
            let Some(var) = field.attr("var") else {
                continue;
            };
            if var == "FORM_TYPE" {
                continue;
            }
            let value = field
                .children()
                .find(|c| c.name() == "value")
                .map(|v| v.text())
                .unwrap_or_default();
            values.insert(var.to_owned(), value);
        }
        return values;
    }
    for child in payload.children() {
        if child.ns() == NS && !matches!(child.name(), "instructions" | "registered" | "remove") {
            values.insert(child.name().to_owned(), child.text());
        }
    }
    values
}

impl Service {
    pub(crate) async fn on_register(
        &mut self,
        _el: &Element,
        header: &Header,
        payload: &Element,
        is_get: bool,
    ) -> Result<Option<Element>, Refusal> {
        self.reload_policy().await;
        let user = header.user().clone();
        let existing = self
            .store
            .registration(user.as_str(), &self.cfg.transport_name)
            .await
            .map_err(|e| self.store_failure(e))?;
        // A registered user may see, change and remove their registration while the transport
        // lets them use it; a new registration needs the stricter registration rules.
        let action = if existing.is_some() {
            Action::Use
        } else {
            Action::Register
        };
        if is_get {
            self.check(&user, action)?;
            return Ok(Some(form(
                &self.transport.descriptor().registration_instructions,
                &self.transport.descriptor().registration_fields,
                existing.as_ref(),
            )));
        }
        if payload.get_child("remove", NS).is_some() {
            if existing.is_none() {
                return Err(Refusal::auth(
                    "registration-required",
                    format!(
                        "You are not registered with the {} transport.",
                        self.cfg.display_name
                    ),
                ));
            }
            self.unregister(&user).await?;
            return Ok(None);
        }
        self.check(&user, action)?;
        let details = ops::Details::from_form(submitted_values(payload));
        let transport = &self.transport;
        let reg = ops::prepare(
            &self.cfg.transport_name,
            &user,
            details,
            ops::Requester::User,
            |values| transport.account_from_form(values).map_err(|e| e.0),
        )
        .map_err(|e| self.ops_refusal(e))?;
        ops::save(&self.store, &reg, &self.cfg.display_name)
            .await
            .map_err(|e| self.ops_refusal(e))?;
        let account = reg;
        let user_jid = Jid::from(user.clone());
        if existing.is_none() {
            info!(user = %user, legacy_id = %account.legacy_id, "registered");
            // XEP-0100: the gateway asks for the user's presence, which puts it in the roster.
            let sub = Presence::subscribe()
                .with_from(self.domain_jid.clone())
                .with_to(user_jid);
            self.after_reply.push(sub.into());
            // Bounded: past it, a probe may race the subscription (as before this map).
            if self.subscribing.len() < 4096 {
                self.subscribing
                    .insert(user.clone(), std::time::Instant::now());
            }
        } else {
            info!(user = %user, legacy_id = %account.legacy_id, "registration changed");
            if self.sessions.contains_key(&user) {
                self.end_session(&user, "Registration changed; logging in again", true)
                    .await;
            }
        }
        Ok(None)
    }

    /// Deletes the registration of `user`, logs them out and leaves their roster; the
    /// transport says goodbye to the network in the background (`Transport::forget`).
    pub(crate) async fn unregister(&mut self, user: &jid::BareJid) -> Result<(), Refusal> {
        let state = crate::state::TransportState::new(
            self.store.clone(),
            &self.cfg.transport_name,
            user.as_str(),
        );
        let goodbye = self.transport.forget(state).await;
        let removed = self
            .store
            .delete_registration(user.as_str(), &self.cfg.transport_name)
            .await
            .map_err(|e| self.store_failure(e))?;
        self.relogin.remove(user);
        self.contacts.remove(user);
        self.end_session(user, "Unregistered", false).await;
        if let Some(goodbye) = goodbye.filter(|_| removed) {
            tokio::spawn(
                async move {
                    if tokio::time::timeout(GOODBYE_WITHIN, goodbye).await.is_err() {
                        tracing::warn!("the network did not take the goodbye in time");
                    }
                }
                .in_current_span(),
            );
        }
        if removed {
            info!(user = %user, "unregistered");
            self.forget_roster(user).await;
            let to = Jid::from(user.clone());
            for p in [
                Presence::unsubscribe(),
                Presence::new(xmpp_parsers::presence::Type::Unsubscribed),
                Presence::unavailable(),
            ] {
                self.after_reply.push(
                    p.with_from(self.domain_jid.clone())
                        .with_to(to.clone())
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// An operation's refusal as the XMPP error a client shows.
    pub(crate) fn ops_refusal(&self, e: OpsError) -> Refusal {
        match e {
            OpsError::Invalid(text) => Refusal::modify("not-acceptable", text),
            OpsError::Conflict(text) => Refusal::cancel("conflict", text),
            OpsError::NotFound(text) => Refusal::cancel("item-not-found", text),
            OpsError::Store(e) => self.store_failure(e),
        }
    }

    pub(crate) fn store_failure(&self, e: StoreError) -> Refusal {
        error!(error = %e, "store failure");
        match e {
            StoreError::Full(_) => Refusal::wait(
                "resource-constraint",
                "The gateway's storage is full; try again later.",
            ),
            _ => Refusal::wait(
                "internal-server-error",
                "The gateway could not reach its storage; try again later.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<RegistrationField> {
        vec![
            RegistrationField::new("username", "Nick", FieldKind::Text, true),
            RegistrationField::new("network", "Network", FieldKind::Text, false),
        ]
    }

    #[test]
    fn form_offers_data_form_and_legacy_fields() {
        let q = form("Hello", &fields(), None);
        assert!(q.get_child("username", NS).is_some());
        assert!(q.get_child("network", NS).is_none());
        assert!(q.get_child("x", NS_DATA).is_some());
        assert!(q.get_child("registered", NS).is_none());
    }

    #[test]
    fn values_from_form_or_legacy_elements() {
        let legacy: Element =
            "<query xmlns='jabber:iq:register'><username>bob</username><password>pw</password></query>"
                .parse()
                .unwrap();
        let v = submitted_values(&legacy);
        assert_eq!(v.get("username").map(String::as_str), Some("bob"));
        let with_form: Element =
            "<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE'><value>jabber:iq:register</value></field>\
            <field var='username'><value>al</value></field></x></query>"
                .parse()
                .unwrap();
        let v = submitted_values(&with_form);
        assert_eq!(v.len(), 1);
        assert_eq!(v.get("username").map(String::as_str), Some("al"));
    }
}
