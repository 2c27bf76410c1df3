//! Splitting long messages into IRC lines.
//!
//! A server relays a PRIVMSG as `:nick!user@host PRIVMSG target :text\r\n` and truncates
//! what does not fit in 512 bytes, so the text budget depends on how the server sees us.
//! Multi-line bodies become one line per non-empty line; long lines are cut on UTF-8 char
//! boundaries, preferably at a space (which is then dropped).

use crate::line::MAX_OUT_LINE;

/// Host length assumed when the server has not told us our host yet (the usual maximum).
pub const ASSUMED_HOST_LEN: usize = 63;
/// User name length assumed when unknown (a `~` and a 10-byte ident).
pub const ASSUMED_USER_LEN: usize = 11;

/// The text budget of a `verb` to `target` as relayed with our prefix `nick!user@host`.
pub fn budget(
    nick: &str,
    user: Option<&str>,
    host: Option<&str>,
    verb: &str,
    target: &str,
) -> usize {
    let user = user.map_or(ASSUMED_USER_LEN, str::len);
    let host = host.map_or(ASSUMED_HOST_LEN, str::len);
    // ":" nick "!" user "@" host " " verb " " target " :" text "\r\n"
    let overhead = 1 + nick.len() + 1 + user + 1 + host + 1 + verb.len() + 1 + target.len() + 2 + 2;
    MAX_OUT_LINE.saturating_sub(overhead).max(16)
}

/// Splits `text` into pieces of at most `budget` bytes, one or more per non-empty line.
/// No piece contains CR, LF or NUL.
pub fn split(text: &str, budget: usize) -> Vec<String> {
    let budget = budget.max(4);
    let mut out = Vec::new();
    for line in text.split(['\r', '\n']) {
        let line: String = line.chars().filter(|&c| c != '\0').collect();
        if line.trim().is_empty() {
            continue;
        }
        let mut rest = line.as_str();
        while rest.len() > budget {
            let mut cut = budget;
            while cut > 0 && !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let window = rest.get(..cut).unwrap_or("");
            // Prefer the last space, unless it would leave a tiny piece.
            match window.rfind(' ').filter(|&i| i > 0 && i >= budget / 3) {
                Some(i) => {
                    push(&mut out, window.get(..i).unwrap_or(""));
                    rest = rest.get(i + 1..).unwrap_or("");
                }
                None => {
                    if cut == 0 {
                        // Budget smaller than one char: take the char anyway.
                        cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
                    }
                    push(&mut out, rest.get(..cut).unwrap_or(""));
                    rest = rest.get(cut..).unwrap_or("");
                }
            }
        }
        push(&mut out, rest);
    }
    out
}

fn push(out: &mut Vec<String>, piece: &str) {
    if !piece.trim().is_empty() {
        out.push(piece.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_and_multiline() {
        assert_eq!(split("hello", 100), vec!["hello"]);
        assert_eq!(
            split("a\r\nb\n\nc\r\r\n  \nd", 100),
            vec!["a", "b", "c", "d"]
        );
        assert!(split("\n\n", 100).is_empty());
        assert_eq!(split("x\r\nQUIT :bye", 100), vec!["x", "QUIT :bye"]);
    }

    #[test]
    fn prefers_spaces() {
        assert_eq!(split("aaaa bbbb cccc", 10), vec!["aaaa bbbb", "cccc"]);
        assert_eq!(split("aaaaaaaaaaaaaa", 10), vec!["aaaaaaaaaa", "aaaa"]);
    }

    #[test]
    fn never_breaks_chars() {
        let s = "é".repeat(10); // 20 bytes
        let parts = split(&s, 5);
        assert!(parts.iter().all(|p| p.len() <= 5));
        assert_eq!(parts.concat(), s);
    }

    #[test]
    fn budget_math() {
        // ":n!u@h PRIVMSG #c :" + CRLF = 21 bytes
        assert_eq!(budget("n", Some("u"), Some("h"), "PRIVMSG", "#c"), 512 - 21);
        assert_eq!(
            budget("nick", None, None, "PRIVMSG", "#chan"),
            512 - (1 + 4 + 1 + 11 + 1 + 63 + 1 + 7 + 1 + 5 + 2 + 2)
        );
    }

    proptest! {
        #[test]
        fn split_is_safe_and_lossless(text in "[a-zé€😀 \r\n\0]{0,600}", budget in 4usize..120) {
            let parts = split(&text, budget);
            for p in &parts {
                prop_assert!(p.len() <= budget);
                prop_assert!(!p.contains(['\r', '\n', '\0']));
                prop_assert!(!p.is_empty());
            }
            // Up to the whitespace at split points and line ends, the text is preserved.
            let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace() && *c != '\0').collect::<String>();
            prop_assert_eq!(squash(&parts.concat()), squash(&text));
        }
    }
}
