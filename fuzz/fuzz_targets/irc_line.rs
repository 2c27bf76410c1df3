//! IRC lines from a server: parsed, and what Pontoon builds from the parts parses back to
//! the same parts (no CR, LF or NUL can be smuggled into a line); bodies split, CTCP and
//! formatting read, without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pontoon_irc::{ctcp, format, line, split};

fuzz_target!(|data: &[u8]| {
    let text = line::decode_text(data);
    if let Ok(l) = line::parse(&text) {
        let _ = (l.nick(), l.last(), l.tag("msgid"));
        // Rebuilding: whatever the parts hold, the result is one line.
        let middles: Vec<&str> = l
            .params
            .iter()
            .take(l.params.len().saturating_sub(1))
            .map(String::as_str)
            .collect();
        let built = line::build(&l.verb, &middles, l.params.last().map(String::as_str));
        assert!(!built.contains(['\r', '\n', '\0']), "{built:?}");
    }
    // As a message body from a user: cleaned, split into lines that each fit.
    let cleaned = line::clean(&text);
    assert!(!cleaned.contains(['\r', '\n', '\0']));
    for part in split::split(&text, 100) {
        assert!(part.len() <= 100, "{} bytes", part.len());
        assert!(!part.contains(['\r', '\n', '\0']));
    }
    if let Some(c) = ctcp::parse(&text) {
        let _ = ctcp::reply(&c);
    }
    let _ = format::strip(&text);
    let _ = format::to_styling(&text);
});
