//! Runs N messages of one direction of the per-message path, for instruction counts:
//!
//! ```sh
//! valgrind --tool=callgrind target/release/message-path xmpp-to-irc 20000
//! ```
//!
//! Directions: `xmpp-to-irc`, `xmpp-to-irc-reflect`, `irc-to-xmpp`. Run it with N and 2N
//! and divide the difference of the counts by N: that leaves out start-up and set-up.
//! Prints the bytes produced, so the work cannot be optimised away.

use std::process::ExitCode;

use pontoon_bench::{GROUPCHAT_STANZA, IrcToXmpp, PRIVMSG_LINE, PathError, XmppToIrc};

fn run(direction: &str, n: u64) -> Result<u64, PathError> {
    let mut bytes = 0u64;
    match direction {
        "xmpp-to-irc" | "xmpp-to-irc-reflect" => {
            let reflect = direction.ends_with("reflect");
            let mut p = XmppToIrc::new(GROUPCHAT_STANZA)?;
            for _ in 0..n {
                let b = if reflect {
                    p.step_with_reflection()?
                } else {
                    p.step()?
                };
                bytes += b as u64;
            }
        }
        "irc-to-xmpp" => {
            let mut p = IrcToXmpp::new(PRIVMSG_LINE)?;
            for _ in 0..n {
                bytes += p.step()? as u64;
            }
        }
        other => return Err(PathError::Route(format!("unknown direction {other:?}"))),
    }
    Ok(bytes)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(direction), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: message-path xmpp-to-irc|xmpp-to-irc-reflect|irc-to-xmpp N");
        return ExitCode::from(2);
    };
    match run(direction, n) {
        Ok(bytes) => {
            println!("{direction} {n} messages, {bytes} bytes out");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("message-path: {e}");
            ExitCode::FAILURE
        }
    }
}
