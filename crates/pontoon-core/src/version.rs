//! Software version (XEP-0092) and ping (XEP-0199) of the transport domain.

use minidom::Element;
use xmpp_parsers::version::VersionResult;

/// The XEP-0092 answer. The operating system is left out on purpose: it helps attackers more
/// than users.
pub fn version() -> Element {
    VersionResult {
        name: "Pontoon".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        os: None,
    }
    .into()
}
