//! XEP-0106 escaping both ways: an escaped id unescapes to itself, and any JID localpart
//! unescapes without a panic (and escapes to a localpart that unescapes to the same).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pontoon_core::escape::{escape, unescape};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(unescape(&escape(text)), text, "escape round trip");
    let id = unescape(text);
    assert_eq!(unescape(&escape(&id)), id, "unescaped localpart round trip");
    let _ = pontoon_core::escape::legacy_jid(text, "irc.localhost", None);
});
