//! CTCP: client-to-client requests hidden in PRIVMSG and NOTICE text.
//!
//! Only ACTION (`/me`) reaches the user. VERSION and PING are answered for the user and
//! never shown; every other request is ignored, so no CTCP can make the gateway leak
//! anything or send arbitrary replies.

/// A CTCP message: `\x01COMMAND args\x01`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ctcp<'a> {
    /// The command, uppercased by the caller's comparison (kept as sent).
    pub command: &'a str,
    /// Everything after the command.
    pub args: &'a str,
}

/// Parses `text` as CTCP if it starts with `\x01` (the closing `\x01` is optional).
pub fn parse(text: &str) -> Option<Ctcp<'_>> {
    let inner = text.strip_prefix('\x01')?;
    let inner = inner.strip_suffix('\x01').unwrap_or(inner);
    let (command, args) = inner.split_once(' ').unwrap_or((inner, ""));
    if command.is_empty() {
        return None;
    }
    Some(Ctcp { command, args })
}

/// The CTCP text of an action.
pub fn action(text: &str) -> String {
    format!("\x01ACTION {text}\x01")
}

/// The reply (sent as NOTICE) to a CTCP request, or `None` if it is not answered.
pub fn reply(request: &Ctcp<'_>) -> Option<String> {
    let clean = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(64).collect() };
    if request.command.eq_ignore_ascii_case("VERSION") {
        Some(format!(
            "\x01VERSION Pontoon {}\x01",
            env!("CARGO_PKG_VERSION")
        ))
    } else if request.command.eq_ignore_ascii_case("PING") {
        Some(format!("\x01PING {}\x01", clean(request.args)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            parse("\x01ACTION waves\x01"),
            Some(Ctcp {
                command: "ACTION",
                args: "waves"
            })
        );
        assert_eq!(
            parse("\x01VERSION\x01"),
            Some(Ctcp {
                command: "VERSION",
                args: ""
            })
        );
        assert_eq!(
            parse("\x01ACTION unterminated"),
            Some(Ctcp {
                command: "ACTION",
                args: "unterminated"
            })
        );
        assert_eq!(parse("plain"), None);
        assert_eq!(parse("\x01\x01"), None);
        assert_eq!(parse("\x01"), None);
    }

    #[test]
    fn replies() {
        let v = reply(&parse("\x01VERSION\x01").unwrap()).unwrap();
        assert!(v.starts_with("\x01VERSION Pontoon "));
        assert_eq!(
            reply(&parse("\x01PING 123\x01").unwrap()).unwrap(),
            "\x01PING 123\x01"
        );
        assert_eq!(
            reply(&parse("\x01PING a\x07b\x01").unwrap()).unwrap(),
            "\x01PING ab\x01"
        );
        assert_eq!(reply(&parse("\x01CLIENTINFO\x01").unwrap()), None);
        assert_eq!(reply(&parse("\x01DCC SEND x\x01").unwrap()), None);
        assert_eq!(action("waves"), "\x01ACTION waves\x01");
    }
}
