//! The badge image: two boxes, a label (the transport) and a value (the presence), in the
//! usual status-badge look. Written out here rather than through a badge crate: it is one
//! template, and every text in it is escaped and cut to a bounded length.

/// Longest label or value shown, in characters (longer ones end with an ellipsis).
const MAX_CHARS: usize = 32;

/// Colours of the value box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Colour {
    Green,
    Yellow,
    Red,
    Grey,
}

impl Colour {
    fn hex(self) -> &'static str {
        match self {
            Colour::Green => "#3a7d22",
            Colour::Yellow => "#a86b00",
            Colour::Red => "#c0392b",
            Colour::Grey => "#6c6c6c",
        }
    }
}

/// `text` cut to [`MAX_CHARS`] and escaped for XML text and attributes.
fn shown(text: &str) -> (String, usize) {
    let mut chars: Vec<char> = text.chars().filter(|c| !c.is_control()).collect();
    if chars.len() > MAX_CHARS {
        chars.truncate(MAX_CHARS - 1);
        chars.push('…');
    }
    let n = chars.len();
    let mut out = String::with_capacity(n + 8);
    for c in chars {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    (out, n)
}

/// The badge: `label` on grey, `value` on `colour`.
pub(crate) fn badge(label: &str, value: &str, colour: Colour) -> String {
    let (label, label_chars) = shown(label);
    let (value, value_chars) = shown(value);
    // 7 px a character at 11 px Verdana is close enough for a badge; 10 px of padding.
    let lw = label_chars * 7 + 10;
    let vw = value_chars * 7 + 10;
    let w = lw + vw;
    let (lx, vx) = (lw / 2, lw + vw / 2);
    let fill = colour.hex();
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{fill}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g></svg>
"##
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_escaped_and_cut() {
        let svg = badge("<IRC & \"x\">", "online", Colour::Green);
        assert!(svg.contains("&lt;IRC &amp; &quot;x&quot;&gt;"), "{svg}");
        assert!(!svg.contains("<IRC"));
        assert!(svg.contains("#3a7d22"));
        let long = badge(&"a".repeat(500), "x\u{7}y", Colour::Grey);
        assert!(long.contains(&format!("{}…", "a".repeat(MAX_CHARS - 1))));
        assert!(long.contains(">xy<"));
        assert!(long.len() < 1000);
    }
}
