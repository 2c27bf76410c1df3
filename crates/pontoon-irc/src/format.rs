//! mIRC formatting codes in incoming text: stripped, or turned into XEP-0393 styling.
//!
//! IRC clients colour and style text with in-band control codes that XMPP clients would
//! show as garbage (and XML forbids most C0 controls). Message bodies keep what XMPP can
//! say ([`to_styling`]: bold, italics, strikethrough, monospace); everything else (colours,
//! underline, reverse) is removed, together with any other control character except tab
//! and newline. Written here: no crate of the field converts mIRC codes.

/// Removes mIRC formatting (bold, colours, hex colours, italics, reset, reverse,
/// monospace, strikethrough, underline) and other control characters.
pub fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x03' | '\x04' => skip_colour(c, &mut chars),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Styles XEP-0393 can say, as bits.
const BOLD: u8 = 1;
const ITALIC: u8 = 2;
const STRIKE: u8 = 4;
const MONO: u8 = 8;
/// Each style's XEP-0393 directive, in the order spans open (closing in reverse).
const DIRECTIVES: [(u8, char); 4] = [(MONO, '`'), (BOLD, '*'), (ITALIC, '_'), (STRIKE, '~')];

/// `text` with its bold, italic, strikethrough and monospace runs written as XEP-0393
/// styling (`*bold*`, `_italic_`, `~strike~`, `` `mono` ``) and every other code removed.
/// A directive never touches whitespace (XEP-0393 would not see it) and no span crosses a
/// line: each styled run of a line is wrapped on its own.
pub fn to_styling(text: &str) -> String {
    // Fast path: most messages have no formatting at all.
    if !text.contains(|c: char| c.is_control() && c != '\t' && c != '\n') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut style = 0u8;
    let mut run = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let toggle = match c {
            '\x02' => Some(BOLD),
            '\x1d' => Some(ITALIC),
            '\x1e' => Some(STRIKE),
            '\x11' => Some(MONO),
            _ => None,
        };
        match c {
            _ if toggle.is_some() || c == '\x0f' || c == '\n' => {
                flush_run(&mut out, &run, style);
                run.clear();
                if let Some(t) = toggle {
                    style ^= t;
                } else if c == '\x0f' {
                    style = 0;
                } else {
                    out.push('\n');
                }
            }
            '\x03' | '\x04' => skip_colour(c, &mut chars),
            '\t' => run.push(c),
            c if c.is_control() => {}
            c => run.push(c),
        }
    }
    flush_run(&mut out, &run, style);
    out
}

/// Appends `run` in `style`: its surrounding whitespace outside the directives.
fn flush_run(out: &mut String, run: &str, style: u8) {
    let inner = run.trim();
    if style == 0 || inner.is_empty() {
        out.push_str(run);
        return;
    }
    let start = run.len() - run.trim_start().len();
    out.push_str(&run[..start]);
    let open: Vec<char> = DIRECTIVES
        .iter()
        .filter(|(bit, _)| style & bit != 0)
        .map(|(_, d)| *d)
        .collect();
    out.extend(open.iter());
    out.push_str(inner);
    out.extend(open.iter().rev());
    out.push_str(&run[start + inner.len()..]);
}

/// Skips the colour numbers after a colour code `code`: `\x03[fg[,bg]]` with 1-2 digit
/// numbers, `\x04[RRGGBB[,RRGGBB]]` in hex.
fn skip_colour(code: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let (max, ok): (usize, fn(char) -> bool) = if code == '\x03' {
        (2, |c| c.is_ascii_digit())
    } else {
        (6, |c| c.is_ascii_hexdigit())
    };
    if take_digits(chars, max, ok) > 0 {
        comma_then(chars, max, ok);
    }
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
    use super::{strip, to_styling};

    #[test]
    fn styles_become_xep_0393() {
        assert_eq!(to_styling("plain *text*"), "plain *text*");
        assert_eq!(
            to_styling("\x02bold\x02 and \x1ditalic\x1d"),
            "*bold* and _italic_"
        );
        assert_eq!(to_styling("\x1estrike\x0f \x11mono\x11"), "~strike~ `mono`");
        // Whitespace stays outside; nesting closes in reverse; reset closes everything.
        assert_eq!(to_styling("a\x02 b \x1dc\x0f d"), "a *b* *_c_* d");
        // Colours, underline and reverse have no XEP-0393 form: removed.
        assert_eq!(
            to_styling("\x034red\x03 \x1funder\x1f \x16rev"),
            "red under rev"
        );
        // No span across lines; an empty span is no span.
        assert_eq!(to_styling("\x02one\ntwo\x02"), "*one*\n*two*");
        assert_eq!(to_styling("x\x02 \x02y"), "x y");
    }

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
