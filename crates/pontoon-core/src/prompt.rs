//! XEP-0100 `jabber:iq:gateway`: turns a legacy address typed by the user into a JID.

use minidom::Element;

use crate::escape;
use crate::service::Service;
use crate::stanza::Refusal;

const NS: &str = "jabber:iq:gateway";

impl Service {
    pub(crate) fn on_gateway_prompt(
        &self,
        payload: &Element,
        is_get: bool,
    ) -> Result<Option<Element>, Refusal> {
        if is_get {
            return Ok(Some(
                Element::builder("query", NS)
                    .append(
                        Element::builder("desc", NS)
                            .append(self.transport.descriptor().prompt.as_str())
                            .build(),
                    )
                    .append(Element::builder("prompt", NS).append("Address").build())
                    .build(),
            ));
        }
        let typed = payload
            .get_child("prompt", NS)
            .map(|p| p.text())
            .unwrap_or_default();
        let id = self
            .transport
            .normalize_contact(typed.trim())
            .map_err(|e| Refusal::modify("jid-malformed", e.0))?;
        let jid = escape::legacy_jid(&id, &self.cfg.domain, None).map_err(|e| {
            Refusal::modify(
                "jid-malformed",
                format!("{typed:?} gives no valid JID: {e}"),
            )
        })?;
        Ok(Some(
            Element::builder("query", NS)
                .append(Element::builder("jid", NS).append(jid.to_string()).build())
                .build(),
        ))
    }
}
