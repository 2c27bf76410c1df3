//! What the reader remembers of the start tag of the current top-level element, to report
//! it if the element is skipped ([`super::Frame::Skipped`]).
//!
//! Every stanza's `from`, `to`, `id` and `type` are noted before the reader knows whether it
//! will skip it, so the texts are kept from one stanza to the next (cleared, not dropped):
//! they were four or five allocations a stanza, on every message. A text that grew past
//! [`KEEP_BYTES`] is let go when the next stanza begins, so one long attribute does not
//! stay with the stream.

/// The longest text kept for the next stanza.
const KEEP_BYTES: usize = 256;

/// Empties `text` for the next stanza, letting it go if it grew past [`KEEP_BYTES`].
fn recycle(text: &mut String) {
    if text.capacity() > KEEP_BYTES {
        *text = String::new();
    } else {
        text.clear();
    }
}

/// One remembered attribute: its text, kept between stanzas, and whether this stanza has it.
#[derive(Debug, Default)]
pub(super) struct Slot {
    text: String,
    set: bool,
}

impl Slot {
    fn set(&mut self, value: &str) {
        self.text.clear();
        self.text.push_str(value);
        self.set = true;
    }

    /// The value, if this stanza has the attribute.
    pub(super) fn get(&self) -> Option<&str> {
        self.set.then_some(self.text.as_str())
    }

    /// The value, taken out.
    pub(super) fn take(&mut self) -> Option<String> {
        std::mem::take(&mut self.set).then(|| std::mem::take(&mut self.text))
    }

    fn reset(&mut self) {
        self.set = false;
        recycle(&mut self.text);
    }
}

/// The start tag of the current top-level element, as far as a skip report needs it.
#[derive(Debug, Default)]
pub(super) struct StanzaHead {
    pub(super) prefix: Option<String>,
    pub(super) name: String,
    /// `xmlns='..'` declared on the element itself.
    pub(super) default_decl: Slot,
    /// `xmlns:prefix='..'` for the element's own prefix, declared on it.
    pub(super) prefix_decl: Slot,
    pub(super) from: Slot,
    pub(super) to: Slot,
    pub(super) id: Slot,
    pub(super) kind: Slot,
}

impl StanzaHead {
    /// A new top-level element `prefix:name` begins: forget the last one's attributes.
    pub(super) fn begin(&mut self, prefix: Option<&str>, name: &str) {
        self.prefix = prefix.map(str::to_owned);
        recycle(&mut self.name);
        self.name.push_str(name);
        for slot in [
            &mut self.default_decl,
            &mut self.prefix_decl,
            &mut self.from,
            &mut self.to,
            &mut self.id,
            &mut self.kind,
        ] {
            slot.reset();
        }
    }

    /// Notes the attribute `prefix:name='value'` of the start tag, if it is one of ours.
    pub(super) fn record(&mut self, prefix: Option<&str>, name: &str, value: &str) {
        let slot = match (prefix, name) {
            (None, "xmlns") => &mut self.default_decl,
            (Some("xmlns"), p) if Some(p) == self.prefix.as_deref() => &mut self.prefix_decl,
            (None, "from") => &mut self.from,
            (None, "to") => &mut self.to,
            (None, "id") => &mut self.id,
            (None, "type") => &mut self.kind,
            _ => return,
        };
        slot.set(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stanza_reports_its_own_attributes_not_the_last_ones() {
        let mut head = StanzaHead::default();
        head.begin(None, "message");
        head.record(None, "from", "a@example.org");
        head.record(None, "id", "");
        head.record(None, "to", &"x".repeat(KEEP_BYTES + 1));
        assert_eq!(head.id.get(), Some(""), "an empty attribute is there");
        head.begin(Some("p"), "iq");
        head.record(Some("xmlns"), "p", "jabber:client");
        head.record(None, "type", "get");
        assert_eq!(head.name, "iq");
        assert_eq!(head.prefix_decl.get(), Some("jabber:client"));
        assert_eq!(head.from.get(), None);
        assert_eq!(head.id.get(), None);
        assert_eq!(head.to.take(), None);
        assert_eq!(head.to.text.capacity(), 0, "a long text is not kept");
        assert_eq!(head.kind.take().as_deref(), Some("get"));
        assert_eq!(head.kind.get(), None, "taken");
    }
}
