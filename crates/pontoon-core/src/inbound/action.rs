//! XEP-0245 (the `/me` command): on XMPP an action is a body starting with `/me `; in the
//! vocabulary it is a [`MessageKind::Action`] with the rest of the body.

use std::borrow::Cow;

use crate::legacy::MessageKind;

/// The prefix that makes a body an action.
pub const ME: &str = "/me ";

/// Splits `body` into its kind and text.
pub fn read(body: String) -> (MessageKind, String) {
    match body.strip_prefix(ME) {
        Some(rest) => (MessageKind::Action, rest.to_owned()),
        None => (MessageKind::Text, body),
    }
}

/// The XMPP body for text of `kind`: an action gets its `/me ` back (borrowed otherwise:
/// this is on every message's path).
pub fn body(kind: MessageKind, text: &str) -> Cow<'_, str> {
    match kind {
        MessageKind::Action => Cow::Owned(format!("{ME}{text}")),
        MessageKind::Text | MessageKind::Notice => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(
            read("/me waves".into()),
            (MessageKind::Action, "waves".into())
        );
        assert_eq!(
            read("/mewaves".into()),
            (MessageKind::Text, "/mewaves".into())
        );
        assert_eq!(body(MessageKind::Action, "waves"), "/me waves");
        assert_eq!(body(MessageKind::Notice, "hi"), "hi");
    }
}
