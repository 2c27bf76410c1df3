//! Matrix's HTML bodies (`formatted_body`) and XMPP's message styling (XEP-0393), both ways.
//!
//! From Matrix: the HTML is parsed and sanitized by ruma-html (the reply fallback removed)
//! and written as XEP-0393 styling (`*bold*`, `_italic_`, `~struck~`, `` `code` ``,
//! preformatted blocks, `> ` quotes), links as their text and address, lists as lines.
//! To Matrix: a body with styling gets an HTML `formatted_body` beside the plain one. The
//! XEP-0393 reading is ours: no crate of the field parses it.

use ruma::html::{Html, NodeData, NodeRef, SanitizerConfig};

/// How deep HTML is followed; deeper content is kept as text without styling.
const MAX_DEPTH: usize = 32;

/// XEP-0393 styling for an HTML body.
pub fn html_to_styling(html: &str) -> String {
    let doc = Html::parse(html);
    doc.sanitize_with(
        &SanitizerConfig::compat()
            .remove_reply_fallback()
            .remove_elements(["script", "style", "head", "title"]),
    );
    let mut out = String::with_capacity(html.len());
    for child in doc.children() {
        walk(&child, &mut out, 0, false);
    }
    out.trim_end_matches('\n').to_owned()
}

fn children(node: &NodeRef, out: &mut String, depth: usize, pre: bool) {
    for child in node.children() {
        walk(&child, out, depth + 1, pre);
    }
}

/// Writes `inner` (rendered separately) wrapped in `mark`, where it has something to wrap.
fn wrap(out: &mut String, mark: &str, inner: &str) {
    let trimmed = inner.trim();
    if trimmed.is_empty() {
        out.push_str(inner);
        return;
    }
    out.push_str(mark);
    out.push_str(trimmed);
    out.push_str(mark);
}

fn ends_line(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn walk(node: &NodeRef, out: &mut String, depth: usize, pre: bool) {
    match node.data() {
        NodeData::Text(text) => out.push_str(&text.borrow()),
        NodeData::Element(el) if depth < MAX_DEPTH => {
            let name: &str = &el.name.local;
            let mut inner = String::new();
            match name {
                "strong" | "b" | "em" | "i" | "del" | "s" | "strike" | "code" if !pre => {
                    children(node, &mut inner, depth, name == "code");
                    let mark = match name {
                        "strong" | "b" => "*",
                        "em" | "i" => "_",
                        "code" => "`",
                        _ => "~",
                    };
                    wrap(out, mark, &inner);
                }
                "pre" => {
                    children(node, &mut inner, depth, true);
                    ends_line(out);
                    out.push_str("```\n");
                    out.push_str(inner.trim_end_matches('\n'));
                    out.push_str("\n```\n");
                }
                "br" => out.push('\n'),
                // What a browser would not show as text (kept by the sanitizer as text).
                "script" | "style" | "head" | "title" | "mx-reply" => {}
                "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                    children(node, &mut inner, depth, pre);
                    ends_line(out);
                    if name.starts_with('h') {
                        wrap(out, "*", &inner);
                    } else {
                        out.push_str(&inner);
                    }
                    out.push('\n');
                }
                "blockquote" => {
                    children(node, &mut inner, depth, pre);
                    ends_line(out);
                    for line in inner.trim_end_matches('\n').lines() {
                        out.push_str("> ");
                        out.push_str(line);
                        out.push('\n');
                    }
                }
                "li" => {
                    children(node, &mut inner, depth, pre);
                    ends_line(out);
                    let ordered = node
                        .parent()
                        .and_then(|p| p.as_element().map(|e| &*e.name.local == "ol"))
                        .unwrap_or(false);
                    if ordered {
                        let n =
                            1 + std::iter::successors(node.prev_sibling(), |s| s.prev_sibling())
                                .filter(|s| s.as_element().is_some())
                                .count();
                        out.push_str(&format!("{n}. "));
                    } else {
                        out.push_str("- ");
                    }
                    out.push_str(inner.trim());
                    out.push('\n');
                }
                "a" => {
                    children(node, &mut inner, depth, pre);
                    out.push_str(&inner);
                    let href = el
                        .attrs
                        .borrow()
                        .iter()
                        .find(|a| &*a.name.local == "href")
                        .map(|a| a.value.to_string());
                    if let Some(href) = href.filter(|h| {
                        (h.starts_with("https://") || h.starts_with("http://"))
                            && h.as_str() != inner.trim()
                    }) {
                        out.push_str(" (");
                        out.push_str(&href);
                        out.push(')');
                    }
                }
                _ => children(node, out, depth, pre),
            }
        }
        NodeData::Element(_) => {
            // Too deep to style: its text still counts.
            let mut inner = String::new();
            children(node, &mut inner, depth, true);
            out.push_str(&inner);
        }
        _ => children(node, out, depth, pre),
    }
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// The HTML tag of a XEP-0393 span directive.
fn tag(directive: char) -> &'static str {
    match directive {
        '*' => "strong",
        '_' => "em",
        '~' => "del",
        _ => "code",
    }
}

/// One line's spans (XEP-0393 §6.2) as HTML; answers whether any span was found.
fn spans(line: &[char], out: &mut String) -> bool {
    let mut styled = false;
    let mut i = 0;
    while i < line.len() {
        let c = line[i];
        let opens = matches!(c, '*' | '_' | '~' | '`')
            && line.get(i + 1).is_some_and(|n| !n.is_whitespace())
            && (i == 0 || line[i - 1].is_whitespace() || matches!(line[i - 1], '*' | '_' | '~'));
        let close = opens
            .then(|| (i + 2..line.len()).find(|&j| line[j] == c && !line[j - 1].is_whitespace()))
            .flatten();
        let Some(close) = close else {
            escape(&c.to_string(), out);
            i += 1;
            continue;
        };
        styled = true;
        let t = tag(c);
        out.push_str(&format!("<{t}>"));
        let inner = &line[i + 1..close];
        if c == '`' {
            escape(&inner.iter().collect::<String>(), out);
        } else {
            spans(inner, out);
        }
        out.push_str(&format!("</{t}>"));
        i = close + 1;
    }
    styled
}

/// The HTML of a body with XEP-0393 styling, or `None` when it has none (plain text
/// needs no `formatted_body`).
pub fn styling_to_html(body: &str) -> Option<String> {
    let mut out = String::with_capacity(body.len() + 32);
    let mut styled = false;
    let mut lines = body.split('\n').peekable();
    let mut first = true;
    while let Some(line) = lines.next() {
        let sep = if first { "" } else { "<br>" };
        first = false;
        if line.starts_with("```") {
            // A preformatted block, to its closing line or the end of the message.
            let mut code = Vec::new();
            for l in lines.by_ref() {
                if l == "```" {
                    break;
                }
                code.push(l);
            }
            styled = true;
            out.push_str("<pre><code>");
            escape(&code.join("\n"), &mut out);
            out.push_str("</code></pre>");
            first = true;
            continue;
        }
        if let Some(quoted) = line.strip_prefix('>') {
            let mut quote = vec![quoted.strip_prefix(' ').unwrap_or(quoted)];
            while let Some(next) = lines.peek().and_then(|l| l.strip_prefix('>')) {
                quote.push(next.strip_prefix(' ').unwrap_or(next));
                lines.next();
            }
            styled = true;
            out.push_str("<blockquote>");
            let inner = quote.join("\n");
            match styling_to_html(&inner) {
                Some(html) => out.push_str(&html),
                None => {
                    let mut plain = String::new();
                    escape(&inner, &mut plain);
                    out.push_str(&plain.replace('\n', "<br>"));
                }
            }
            out.push_str("</blockquote>");
            first = true;
            continue;
        }
        out.push_str(sep);
        let chars: Vec<char> = line.chars().collect();
        styled |= spans(&chars, &mut out);
    }
    styled.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_reads_as_styling() {
        assert_eq!(
            html_to_styling(
                "<strong>bold</strong> and <em>it</em> and <del>gone</del> <code>x&lt;y</code>"
            ),
            "*bold* and _it_ and ~gone~ `x<y`"
        );
        assert_eq!(
            html_to_styling("<blockquote><p>quoted</p></blockquote><p>answer</p>"),
            "> quoted\nanswer"
        );
        assert_eq!(
            html_to_styling("<ul><li>one</li><li>two</li></ul><ol><li>a</li><li>b</li></ol>"),
            "- one\n- two\n1. a\n2. b"
        );
        assert_eq!(
            html_to_styling("<a href=\"https://x.org/\">site</a>"),
            "site (https://x.org/)"
        );
        assert_eq!(
            html_to_styling("<pre><code>fn main() {}\n</code></pre>"),
            "```\nfn main() {}\n```"
        );
        // The reply fallback goes; scripts never come through.
        assert_eq!(
            html_to_styling(
                "<mx-reply><blockquote>old</blockquote></mx-reply>new<script>x</script>"
            ),
            "new"
        );
        let deep = "<b>".repeat(100) + "deep" + &"</b>".repeat(100);
        assert!(html_to_styling(&deep).contains("deep"));
    }

    #[test]
    fn styling_reads_as_html() {
        assert_eq!(styling_to_html("plain text"), None);
        assert_eq!(styling_to_html("2 * 3 * 4"), None);
        assert_eq!(
            styling_to_html("*bold* _it_ ~gone~ `a<b`").as_deref(),
            Some("<strong>bold</strong> <em>it</em> <del>gone</del> <code>a&lt;b</code>")
        );
        assert_eq!(
            styling_to_html("> quote\nreply").as_deref(),
            Some("<blockquote>quote</blockquote>reply")
        );
        assert_eq!(
            styling_to_html("```\nlet a = 1 < 2;\n```").as_deref(),
            Some("<pre><code>let a = 1 &lt; 2;</code></pre>")
        );
        assert_eq!(
            styling_to_html("*a <b>*").as_deref(),
            Some("<strong>a &lt;b&gt;</strong>")
        );
    }
}
