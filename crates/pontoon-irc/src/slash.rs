//! The IRC commands a user types in a channel's room, as in an IRC client: `/whois nick`
//! and `/mode`, answered in the room. Anything else starting with `/` is said as text, as
//! before (`/me` is the core's, XEP-0245).
//!
//! `/mode` alone shows the channel's modes, `/mode b` its ban list, and `/mode +m`,
//! `/mode +b mask`, `/mode -o nick`... change them (the server's MODE comes back to the
//! room, its refusal as a notice). A ban (`+b`) whose mask would match everyone is
//! refused here and in raw commands ([`bans_everyone`]): it would shut the whole channel
//! out. Lifting one (`-b *!*@*`) goes through.

use crate::address;

/// Most words after `/mode` (a mode string and its parameters: servers take about 20).
const MAX_MODE_WORDS: usize = 21;
/// Most bytes after `/mode`, leaving room in IRC's 510 for `MODE #channel `.
const MAX_MODE_BYTES: usize = 400;

/// A command typed in a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slash {
    /// `/whois nick`: who they are, in the room.
    Whois(String),
    /// `/mode`: the channel's modes, in the room.
    Modes,
    /// `/mode b`: the channel's ban list, in the room.
    Bans,
    /// `/mode <modes> [parameters]`: a change, sent as `MODE #chan ...`.
    Change(Vec<String>),
}

/// The command `body` is, if it is one; `Err` says in words why nothing was sent.
pub fn parse(body: &str) -> Option<Result<Slash, String>> {
    let rest = body.strip_prefix('/')?;
    let (verb, args) = rest.split_once(' ').unwrap_or((rest, ""));
    let words: Vec<&str> = args.split(' ').filter(|w| !w.is_empty()).collect();
    match verb.to_ascii_lowercase().as_str() {
        "whois" => Some(match words.as_slice() {
            [nick] if address::valid_nick(nick) => Ok(Slash::Whois((*nick).to_owned())),
            [nick] => Err(format!("{nick:?} is not an IRC nick: nothing was sent.")),
            _ => Err("Type /whois and one nick.".to_owned()),
        }),
        "mode" => Some(mode(body, &words)),
        _ => None,
    }
}

fn mode(body: &str, words: &[&str]) -> Result<Slash, String> {
    if body.contains(['\r', '\n', '\0']) {
        return Err("A /mode is one line: nothing was sent.".to_owned());
    }
    match words {
        [] => return Ok(Slash::Modes),
        ["b" | "+b"] => return Ok(Slash::Bans),
        _ => {}
    }
    let modes = words.first().copied().unwrap_or_default();
    if !modes.starts_with(['+', '-'])
        || !modes
            .chars()
            .skip(1)
            .all(|c| c.is_ascii_alphabetic() || c == '+' || c == '-')
    {
        return Err(format!(
            "{modes:?} is not a mode change: type /mode, /mode b, or /mode +m, /mode +b mask, /mode -o nick..."
        ));
    }
    if words.len() > MAX_MODE_WORDS {
        return Err(format!(
            "At most {} parameters in one /mode: nothing was sent.",
            MAX_MODE_WORDS - 1
        ));
    }
    if words.iter().map(|w| w.len() + 1).sum::<usize>() > MAX_MODE_BYTES {
        return Err(format!(
            "A /mode is at most {MAX_MODE_BYTES} bytes (IRC's line limit): nothing was sent."
        ));
    }
    if let Some(everyone) = bans_everyone(modes, words.get(1..).unwrap_or_default()) {
        return Err(format!(
            "{everyone:?} would match everyone on the network: nothing was sent (ban someone by nick!user@host)."
        ));
    }
    if words.iter().skip(1).any(|w| w.starts_with(':')) {
        return Err("A mode parameter cannot start with ':': nothing was sent.".to_owned());
    }
    Ok(Slash::Change(
        words.iter().map(|w| (*w).to_owned()).collect(),
    ))
}

/// The mask of a `+b` in `modes` (with its `params`, in order) that would match everyone,
/// if there is one. Parameters are paired with the letters that take one on every server
/// (lists and prefixes `b e I q a o h v`, the key `k`, and the limit `l` when set).
pub fn bans_everyone<'a>(modes: &str, params: &[&'a str]) -> Option<&'a str> {
    let mut adding = true;
    let mut params = params.iter();
    for c in modes.chars() {
        match c {
            '+' => adding = true,
            '-' => adding = false,
            'b' | 'e' | 'I' | 'q' | 'a' | 'o' | 'h' | 'v' | 'k' => {
                let param = params.next()?.trim_start_matches(':');
                if c == 'b' && adding && matches_everyone(param) {
                    return Some(param);
                }
            }
            'l' if adding => {
                params.next()?;
            }
            _ => {}
        }
    }
    None
}

/// Whether `mask` (`nick!user@host`, with `*` and `?`) would match every user: it has
/// nothing but wildcards and separators.
pub fn matches_everyone(mask: &str) -> bool {
    !mask.is_empty()
        && mask
            .chars()
            .all(|c| matches!(c, '*' | '?' | '!' | '@' | '.'))
        && mask.contains('*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_text() {
        assert_eq!(parse("hello"), None);
        assert_eq!(parse("/me waves"), None);
        assert_eq!(parse("/WHOIS bob"), Some(Ok(Slash::Whois("bob".into()))));
        assert!(parse("/whois").unwrap().is_err());
        assert!(parse("/whois 1bob").unwrap().is_err());
        assert_eq!(parse("/mode"), Some(Ok(Slash::Modes)));
        assert_eq!(parse("/mode b"), Some(Ok(Slash::Bans)));
        assert_eq!(
            parse("/mode +b  bad!*@*"),
            Some(Ok(Slash::Change(vec!["+b".into(), "bad!*@*".into()])))
        );
        assert_eq!(
            parse("/mode +mt"),
            Some(Ok(Slash::Change(vec!["+mt".into()])))
        );
    }

    #[test]
    fn what_would_do_harm_is_refused() {
        for bad in [
            "/mode +b *!*@*",
            "/mode +b *",
            "/mode +b *!*@*.*",
            "/mode +m\r\nQUIT",
            "/mode m",
            "/mode +k :x",
            "/mode #other +m",
        ] {
            assert!(parse(bad).unwrap().is_err(), "{bad}");
        }
        assert!(matches_everyone("*!*@*") && matches_everyone("?*"));
        // Lifting such a ban, or an everyone-mask that is not a ban, goes through.
        assert!(matches!(parse("/mode -b *!*@*"), Some(Ok(_))));
        assert!(matches!(parse("/mode +e *!*@*"), Some(Ok(_))));
        assert_eq!(bans_everyone("+ob", &["bob", "*!*@*"]), Some("*!*@*"));
        assert_eq!(bans_everyone("+lb", &["10", "*"]), Some("*"));
        assert_eq!(bans_everyone("-l+e", &["*"]), None);
        assert!(
            parse(&format!("/mode +b {}!*@*", "x".repeat(420)))
                .unwrap()
                .is_err()
        );
        assert!(!matches_everyone("bob!*@*") && !matches_everyone("*!*@host.example"));
        assert!(
            parse(&format!("/mode +{}", " x".repeat(30)))
                .unwrap()
                .is_err()
        );
    }
}
