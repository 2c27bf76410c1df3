//! Stripping mIRC formatting codes from incoming text.
//!
//! IRC clients colour and style text with in-band control codes that XMPP clients would
//! show as garbage (and XML forbids most C0 controls). They are removed, together with
//! any other control character except tab and newline.

/// Removes mIRC formatting (bold, colours, hex colours, italics, reset, reverse,
/// monospace, strikethrough, underline) and other control characters.
pub fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x03' => {
                // \x03[fg[,bg]] with 1-2 digit colour numbers.
                if take_digits(&mut chars, 2, |c| c.is_ascii_digit()) > 0 {
                    comma_then(&mut chars, 2, |c| c.is_ascii_digit());
                }
            }
            '\x04' => {
                // \x04[RRGGBB[,RRGGBB]]
                if take_digits(&mut chars, 6, |c| c.is_ascii_hexdigit()) > 0 {
                    comma_then(&mut chars, 6, |c| c.is_ascii_hexdigit());
                }
            }
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn take_digits(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    max: usize,
    ok: impl Fn(char) -> bool,
) -> usize {
    let mut n = 0;
    while n < max && chars.peek().is_some_and(|&c| ok(c)) {
        chars.next();
        n += 1;
    }
    n
}

fn comma_then(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    max: usize,
    ok: impl Fn(char) -> bool + Copy,
) {
    // Only consume the comma when a colour follows it.
    let mut look = chars.clone();
    if look.next() == Some(',') && look.peek().is_some_and(|&c| ok(c)) {
        chars.next();
        take_digits(chars, max, ok);
    }
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn strips_styles() {
        assert_eq!(
            strip("\x02bold\x02 \x1ditalic\x1d \x1funder\x1f"),
            "bold italic under"
        );
        assert_eq!(strip("\x1estrike\x0f \x11mono\x16rev"), "strike monorev");
    }

    #[test]
    fn strips_colours() {
        assert_eq!(strip("\x034red\x03 \x0304,12blue\x03"), "red blue");
        assert_eq!(strip("\x0312,text"), ",text");
        assert_eq!(strip("\x03,5x"), ",5x");
        assert_eq!(strip("\x03123"), "3");
        assert_eq!(strip("\x04FF0000red\x04 \x04ff0000,00ff00x"), "red x");
    }

    #[test]
    fn strips_controls_keeps_text() {
        assert_eq!(strip("a\x07b\x01c\td"), "abc\td");
        assert_eq!(strip("héllo 😀"), "héllo 😀");
    }
}
