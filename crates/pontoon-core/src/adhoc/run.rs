//! The operator's commands themselves: the form each asks for and what each does, through
//! the operations every operator tool calls (`crate::ops`).

use std::collections::BTreeMap;

use xmpp_parsers::data_forms::{DataForm, DataFormType, FieldType};

use super::wire::{field, first, form, sentence};
use super::*;

impl Service {
    /// The form a command asks for.
    pub(super) fn command_form(&self, node: &str) -> DataForm {
        let jid = || field("jid", FieldType::JidSingle, "The user's JID", true);
        match node {
            ADD_REGISTRATION => {
                let mut fields = vec![jid()];
                fields.extend(
                    self.transport
                        .descriptor()
                        .registration_fields
                        .iter()
                        .map(|f| {
                            let type_ = match f.kind {
                                FieldKind::Text => FieldType::TextSingle,
                                FieldKind::Password => FieldType::TextPrivate,
                                FieldKind::Boolean => FieldType::Boolean,
                            };
                            field(&f.var, type_, &f.label, f.required)
                        }),
                );
                form(
                    DataFormType::Form,
                    "Add a registration",
                    Some(&format!(
                        "Register a user with the {} transport on their behalf (an existing registration is replaced).",
                        self.cfg.display_name
                    )),
                    fields,
                )
            }
            REMOVE_REGISTRATION => form(
                DataFormType::Form,
                "Remove a registration",
                Some("The user is logged out and the transport leaves their roster."),
                vec![jid()],
            ),
            DISCONNECT_SESSION => form(
                DataFormType::Form,
                "Disconnect a session",
                Some(
                    "The user is logged out of the legacy network; they log in again at their next presence.",
                ),
                vec![
                    jid(),
                    field(
                        "reason",
                        FieldType::TextSingle,
                        "Reason shown to the user",
                        false,
                    ),
                ],
            ),
            _ => form(
                DataFormType::Form,
                "Announce",
                Some(&format!(
                    "Send a message from {} to every user with a session.",
                    self.cfg.domain
                )),
                vec![field("body", FieldType::TextMulti, "Message", true)],
            ),
        }
    }

    /// Writes the audit entry of an action on this transport (`crate::ops::audit`).
    async fn audit(&self, actor: &str, action: &str, subject: Option<&str>, detail: &str) {
        let transport = &self.cfg.transport_name;
        audit::record(&self.store, actor, action, transport, subject, detail).await;
    }

    pub(super) async fn run_command(
        &mut self,
        node: &str,
        values: &BTreeMap<String, Vec<String>>,
        actor: &str,
    ) -> Outcome {
        match node {
            LIST_SESSIONS => self.cmd_list_sessions(),
            ENABLE_TRANSPORT => self.cmd_set_enabled(true, actor).await,
            DISABLE_TRANSPORT => self.cmd_set_enabled(false, actor).await,
            ANNOUNCE => {
                let body = values.get("body").map(|v| v.join("\n")).unwrap_or_default();
                if body.trim().is_empty() {
                    return Outcome::BadPayload("The field body is required.".to_owned());
                }
                let body = match crate::control::check_announcement(&body) {
                    Ok(b) => b,
                    Err(e) => return Outcome::BadPayload(sentence(&e)),
                };
                let n = self.announce(body).await;
                let detail = format!("sent to {n} user(s): {body}");
                self.audit(actor, action::ANNOUNCEMENT, None, &detail).await;
                info_note(format!("Sent to {n} user(s)."))
            }
            DISCONNECT_SESSION => {
                let user = match jid_value(values) {
                    Ok(u) => u,
                    Err(o) => return o,
                };
                if !self.sessions.contains_key(&user) {
                    return info_note(format!("{user} has no session."));
                }
                let reason = match first(values, "reason") {
                    "" => "Disconnected by the operator",
                    r => r,
                };
                self.end_session(&user, reason, false).await;
                self.audit(actor, action::SESSION_END, Some(user.as_str()), "")
                    .await;
                info_note(format!("{user} was disconnected."))
            }
            ADD_REGISTRATION => self.cmd_add_registration(values, actor).await,
            _ => self.cmd_remove_registration(values, actor).await,
        }
    }

    fn cmd_list_sessions(&self) -> Outcome {
        let mut list = self.session_infos();
        list.sort_by(|a, b| a.user.as_str().cmp(b.user.as_str()));
        let mut lines: Vec<String> = list
            .iter()
            .take(MAX_LISTED)
            .map(|s| {
                let rooms = if s.rooms.is_empty() {
                    "none".to_owned()
                } else {
                    s.rooms.join(", ")
                };
                format!(
                    "{} as {}: {}; rooms: {rooms}",
                    s.user,
                    s.legacy_id,
                    s.state.as_str()
                )
            })
            .collect();
        if list.len() > MAX_LISTED {
            lines.push(format!("... and {} more", list.len() - MAX_LISTED));
        }
        let mut count = field("count", FieldType::TextSingle, "Sessions", false);
        count.values = vec![list.len().to_string()];
        let mut sessions = field("sessions", FieldType::TextMulti, "Sessions", false);
        sessions.values = lines;
        Outcome::Completed {
            note: format!("{} session(s).", list.len()),
            note_type: "info",
            form: Some(form(
                DataFormType::Result_,
                "Sessions",
                None,
                vec![count, sessions],
            )),
        }
    }

    async fn cmd_set_enabled(&mut self, enabled: bool, actor: &str) -> Outcome {
        // One transaction: an operator changing another field meanwhile keeps their change.
        let (before, _) = match self
            .store
            .update_transport_policy(&self.cfg.transport_name, |p| p.enabled = enabled)
            .await
        {
            Ok(change) => change,
            Err(e) => return Outcome::Refused(self.store_failure(e)),
        };
        let word = if enabled { "enabled" } else { "disabled" };
        if before.enabled == enabled {
            return info_note(format!(
                "The {} transport was already {word}.",
                self.cfg.display_name
            ));
        }
        let detail = format!("enabled={enabled}");
        self.audit(actor, action::POLICY_CHANGE, None, &detail)
            .await;
        self.reconcile().await;
        info_note(format!(
            "The {} transport is now {word}.",
            self.cfg.display_name
        ))
    }

    async fn cmd_add_registration(
        &mut self,
        values: &BTreeMap<String, Vec<String>>,
        actor: &str,
    ) -> Outcome {
        let user = match jid_value(values) {
            Ok(u) => u,
            Err(o) => return o,
        };
        let fields: BTreeMap<String, String> = values
            .iter()
            .filter(|(k, _)| k.as_str() != "jid")
            .map(|(k, v)| (k.clone(), v.first().cloned().unwrap_or_default()))
            .collect();
        let transport = &self.transport;
        let prepared = ops::prepare(
            &self.cfg.transport_name,
            &user,
            ops::Details::from_form(fields),
            ops::Requester::Operator,
            |values| transport.account_from_form(values).map_err(|e| e.0),
        );
        let reg = match prepared {
            Ok(r) => r,
            Err(e) => return Outcome::BadPayload(e.to_string()),
        };
        let existing = match self
            .store
            .registration(user.as_str(), &self.cfg.transport_name)
            .await
        {
            Ok(r) => r,
            Err(e) => return Outcome::Refused(self.store_failure(e)),
        };
        if let Err(e) = ops::save(&self.store, &reg, &self.cfg.display_name).await {
            return Outcome::Refused(self.ops_refusal(e));
        }
        let account = reg;
        info!(user = %user, legacy_id = %account.legacy_id, "registration added by an admin");
        let what = if existing.is_some() {
            action::REGISTRATION_EDIT
        } else {
            action::REGISTRATION_ADD
        };
        let detail = audit::registration_detail(&account);
        self.audit(actor, what, Some(user.as_str()), &detail).await;
        if existing.is_none() {
            // As after in-band registration (XEP-0100): the transport asks for the user's
            // presence, which puts it in their roster and logs them in when they accept.
            let sub = Presence::subscribe()
                .with_from(self.domain().clone())
                .with_to(Jid::from(user.clone()));
            self.after_reply.push(sub.into());
        }
        // A changed registration of a user with a session logs them in again now.
        self.reconcile().await;
        let what = if existing.is_some() {
            "updated"
        } else {
            "added"
        };
        info_note(format!(
            "Registration of {user} as {:?} {what}.",
            account.legacy_id
        ))
    }

    async fn cmd_remove_registration(
        &mut self,
        values: &BTreeMap<String, Vec<String>>,
        actor: &str,
    ) -> Outcome {
        let user = match jid_value(values) {
            Ok(u) => u,
            Err(o) => return o,
        };
        match self
            .store
            .registration(user.as_str(), &self.cfg.transport_name)
            .await
        {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Outcome::Completed {
                    note: format!(
                        "{user} is not registered with the {} transport.",
                        self.cfg.display_name
                    ),
                    note_type: "error",
                    form: None,
                };
            }
            Err(e) => return Outcome::Refused(self.store_failure(e)),
        }
        if let Err(r) = self.unregister(&user).await {
            return Outcome::Refused(r);
        }
        let delete = action::REGISTRATION_DELETE;
        self.audit(actor, delete, Some(user.as_str()), "").await;
        self.reconcile().await;
        info_note(format!("Registration of {user} removed."))
    }
}
