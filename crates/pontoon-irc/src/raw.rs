//! Raw IRC commands the user types to a network's JID (`irc.libera.chat@irc.example.org`,
//! or `raw <command>` to the transport when it is fixed to one server): one line within
//! IRC's 512 bytes, and none of the commands the gateway's own connection depends on.

use pontoon_core::transport::RawRefused;

/// The longest raw line: IRC's 512 bytes less the CR LF the gateway adds.
const MAX_LINE: usize = 510;

/// Commands the connection itself owns, with what to do instead.
const FORBIDDEN: &[(&str, &str)] = &[
    (
        "QUIT",
        "go offline (or unregister) to leave the network; a QUIT would only be answered by the gateway connecting again",
    ),
    (
        "CAP",
        "the gateway negotiates the connection's capabilities",
    ),
    (
        "AUTHENTICATE",
        "the gateway logs in with SASL from your registration or your nickserv-password setting",
    ),
    (
        "PASS",
        "set the server password with \"set server-password\" (see \"settings\")",
    ),
    ("USER", "the gateway registers the connection"),
    (
        "NICK",
        "change your nick in a room (your client's nick change), so the gateway follows it",
    ),
    (
        "JOIN",
        "join channels as rooms (#channel%server@ the transport), so you see them",
    ),
    ("PART", "leave the room in your client instead"),
];

/// What a user can do at the JID of `network` (its `help`).
pub fn help(network: &str) -> String {
    let refused: Vec<&str> = FORBIDDEN.iter().map(|(verb, _)| *verb).collect();
    format!(
        "This is the IRC network {network}.\n\
         - Rooms: join its channels as #channel%{network} at this transport.\n\
         - People: write to nick%{network} at this transport.\n\
         - Anything else you send here goes to the server as an IRC command, as you type it \
         (WHOIS nick, MODE #chan +m, PRIVMSG ChanServ :HELP), and its answer comes back here. \
         Not sent, since Pontoon does them: {}.\n\
         - In a channel's room: /whois nick, /mode (its modes), /mode b (its bans), \
         /mode +m or /mode +b nick!user@host (changes, as an operator); /settings, \
         /set, /unset: the channel's own key and encodings.\n\
         - settings, set <name> <value>, unset <name>: your settings for this network \
         (nick, server-password, nickserv-password, client-certificate, encoding, \
         commands...); connection: how your connection here stands.\n\
         - HELP in capitals is the server's own help.",
        refused.join(", ")
    )
}

/// Whether `line` may go to the server as the user typed it; why not, in words.
pub fn check(line: &str) -> Result<(), RawRefused> {
    let line = line.trim();
    if line.is_empty() {
        return Err(RawRefused::Malformed(
            "Type an IRC command, for example WHOIS somenick.".to_owned(),
        ));
    }
    if line.contains(['\r', '\n', '\0']) {
        return Err(RawRefused::Malformed(
            "A raw command is one line: nothing was sent (line breaks would send more than you typed).".to_owned(),
        ));
    }
    if line.len() > MAX_LINE {
        return Err(RawRefused::Malformed(format!(
            "A raw command is at most {MAX_LINE} bytes (IRC's limit); this one is {}: nothing was sent.",
            line.len()
        )));
    }
    let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
    if let Some((_, instead)) = FORBIDDEN.iter().find(|(v, _)| *v == verb) {
        return Err(RawRefused::Forbidden(format!(
            "{verb} is not sent as a raw command: {instead}."
        )));
    }
    if verb == "MODE" {
        let words: Vec<&str> = line.split(' ').filter(|w| !w.is_empty()).collect();
        let modes = words.get(2).copied().unwrap_or_default();
        if let Some(everyone) =
            crate::slash::bans_everyone(modes, words.get(3..).unwrap_or_default())
        {
            return Err(RawRefused::Forbidden(format!(
                "{everyone:?} would match everyone on the network: nothing was sent (ban someone by nick!user@host)."
            )));
        }
    }
    if !verb.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(RawRefused::Malformed(format!(
            "{verb:?} is not an IRC command: a command is a word (WHOIS, MODE, PRIVMSG...)."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_harmless_line_passes() {
        assert_eq!(check("WHOIS alice"), Ok(()));
        assert_eq!(check("mode #chan +m"), Ok(()));
        assert_eq!(check("MODE #chan -b *!*@*"), Ok(()));
        assert_eq!(check("PRIVMSG NickServ :identify secret"), Ok(()));
    }

    #[test]
    fn breaks_length_and_the_sessions_own_commands_are_refused() {
        assert!(matches!(
            check("WHOIS a\r\nQUIT"),
            Err(RawRefused::Malformed(_))
        ));
        assert!(matches!(check("WHOIS a\0b"), Err(RawRefused::Malformed(_))));
        assert!(matches!(
            check(&format!("PRIVMSG x :{}", "a".repeat(510))),
            Err(RawRefused::Malformed(_))
        ));
        assert!(matches!(check("  "), Err(RawRefused::Malformed(_))));
        assert!(matches!(
            check(":prefix WHOIS a"),
            Err(RawRefused::Malformed(_))
        ));
        for forbidden in [
            "MODE #chan +b *!*@*",
            "mode #chan +bb bob!*@* :*",
            "MODE #chan +o-v+b bob bob *!*",
            "quit :bye",
            "CAP REQ :sasl",
            "nick other",
            "JOIN #x",
            "authenticate PLAIN",
        ] {
            assert!(
                matches!(check(forbidden), Err(RawRefused::Forbidden(_))),
                "{forbidden}"
            );
        }
    }
}
