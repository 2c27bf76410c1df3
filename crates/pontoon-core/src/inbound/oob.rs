//! Files in messages: XEP-0066 out-of-band data (`<x xmlns='jabber:x:oob'><url/>`, what
//! Conversations, Dino and Gajim send after an HTTP upload) and XEP-0447 stateless file
//! sharing (`<file-sharing/>` with XEP-0446 metadata and `url-data` sources), read into
//! [`Attachment`]s; and the XEP-0066 element for an attachment from the network, which
//! clients show inline when the body is the URL. XEP-0447 is read by hand: xmpp-parsers
//! 0.23 has no module for it.

use minidom::Element;
use xmpp_parsers::oob::Oob;

use crate::legacy::Attachment;
use crate::stanza::Refusal;

/// XEP-0066's namespace (the `x` form, in messages).
pub const NS_OOB: &str = "jabber:x:oob";
/// XEP-0447's namespace.
pub const NS_SFS: &str = "urn:xmpp:sfs:0";
/// XEP-0446's namespace.
pub const NS_FILE: &str = "urn:xmpp:file:metadata:0";
/// XEP-0103's namespace (the URL sources of XEP-0447).
pub const NS_URL_DATA: &str = "http://jabber.org/protocol/url-data";

/// Most attachments taken from one message.
pub const MAX_ATTACHMENTS: usize = 8;
/// Longest URL taken (a longer one is refused, not cut).
pub const MAX_URL_BYTES: usize = 2048;

/// The files `stanza` shares, or why they are refused (`policy-violation`: too many, a URL
/// too long; `not-acceptable`: a URL that is not http or https).
pub fn read(stanza: &Element) -> Result<Vec<Attachment>, Refusal> {
    let mut out: Vec<Attachment> = Vec::new();
    for el in stanza.children() {
        if el.is("x", NS_OOB) {
            if let Ok(oob) = Oob::try_from(el.clone()) {
                out.push(Attachment {
                    url: oob.url,
                    name: oob.desc.filter(|d| !d.is_empty()),
                    media_type: None,
                    size: None,
                    thumbnail: None,
                });
            }
        } else if el.is("file-sharing", NS_SFS) {
            out.extend(file_sharing(el));
        }
    }
    // The same file sent both ways (clients do): once, with what XEP-0447 knew.
    let mut unique: Vec<Attachment> = Vec::with_capacity(out.len());
    for a in out {
        match unique.iter_mut().find(|u| u.url == a.url) {
            Some(u) => {
                u.name = u.name.take().or(a.name);
                u.media_type = u.media_type.take().or(a.media_type);
                u.size = u.size.or(a.size);
            }
            None => unique.push(a),
        }
    }
    if unique.len() > MAX_ATTACHMENTS {
        return Err(Refusal::modify(
            "policy-violation",
            format!("At most {MAX_ATTACHMENTS} files can be sent in one message."),
        ));
    }
    for a in &unique {
        if a.url.len() > MAX_URL_BYTES {
            return Err(Refusal::modify(
                "policy-violation",
                format!("A file's URL is limited to {MAX_URL_BYTES} bytes."),
            ));
        }
        let scheme_ok = a.url.starts_with("https://") || a.url.starts_with("http://");
        if !scheme_ok || a.url.contains(char::is_whitespace) {
            return Err(Refusal::modify(
                "not-acceptable",
                "A file's URL must be an http or https address.",
            ));
        }
    }
    Ok(unique)
}

/// The attachments of one XEP-0447 `<file-sharing/>`: one per `url-data` source, with the
/// file's metadata.
fn file_sharing(el: &Element) -> Vec<Attachment> {
    let file = el.get_child("file", NS_FILE);
    let field = |name: &str| {
        file.and_then(|f| f.get_child(name, NS_FILE))
            .map(|c| c.text())
            .filter(|t| !t.is_empty())
    };
    let name = field("name");
    let media_type = field("media-type");
    let size = field("size").and_then(|s| s.parse().ok());
    el.get_child("sources", NS_SFS)
        .into_iter()
        .flat_map(|s| s.children())
        .filter(|c| c.is("url-data", NS_URL_DATA))
        .filter_map(|c| c.attr("target"))
        .map(|url| Attachment {
            url: url.to_owned(),
            name: name.clone(),
            media_type: media_type.clone(),
            size,
            thumbnail: None,
        })
        .collect()
}

/// `<x xmlns='jabber:x:oob'><url/><desc/></x>` for a file from the network.
pub fn element(a: &Attachment) -> Element {
    Oob {
        url: a.url.clone(),
        desc: a.name.clone(),
    }
    .into()
}

/// XEP-0264's namespace (thumbnails in XEP-0446 metadata).
pub const NS_THUMBS: &str = "urn:xmpp:thumbs:1";

/// `<thumbnail xmlns='urn:xmpp:thumbs:1' uri=... media-type=... width=... height=.../>`.
fn thumbnail(t: &crate::legacy::Thumbnail) -> Element {
    let mut el = Element::bare("thumbnail", NS_THUMBS);
    crate::stanza::set_attr(&mut el, "uri", t.url.clone());
    if let Some(m) = &t.media_type {
        crate::stanza::set_attr(&mut el, "media-type", m.clone());
    }
    if let Some(w) = t.width {
        crate::stanza::set_attr(&mut el, "width", w.to_string());
    }
    if let Some(h) = t.height {
        crate::stanza::set_attr(&mut el, "height", h.to_string());
    }
    el
}

/// The elements of a file from the network: XEP-0066 (what every client shows), and where
/// the network said its name, type or size, XEP-0447 with that XEP-0446 metadata (clients
/// that read it show the name and size before fetching, and its XEP-0264 thumbnail).
pub fn elements(a: &Attachment) -> impl Iterator<Item = Element> {
    let known = a.name.is_some() || a.media_type.is_some() || a.size.is_some();
    let sharing = (known || a.thumbnail.is_some()).then(|| {
        let mut file = Element::bare("file", NS_FILE);
        let fields = [
            ("media-type", a.media_type.clone()),
            ("name", a.name.clone()),
            ("size", a.size.map(|s| s.to_string())),
        ];
        for (name, value) in fields {
            if let Some(v) = value {
                let mut c = Element::bare(name, NS_FILE);
                c.append_text(v);
                file.append_child(c);
            }
        }
        if let Some(t) = &a.thumbnail {
            file.append_child(thumbnail(t));
        }
        let mut source = Element::bare("url-data", NS_URL_DATA);
        crate::stanza::set_attr(&mut source, "target", a.url.clone());
        let mut sources = Element::bare("sources", NS_SFS);
        sources.append_child(source);
        let mut sharing = Element::bare("file-sharing", NS_SFS);
        sharing.append_child(file);
        sharing.append_child(sources);
        sharing
    });
    std::iter::once(element(a)).chain(sharing)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn read_xml(xml: &str) -> Result<Vec<Attachment>, Refusal> {
        read(&xml.parse::<Element>().unwrap())
    }

    #[test]
    fn reads_oob_and_sfs_once_each() {
        let got = read_xml("<message xmlns='jabber:client'><body>https://up.example/a.png</body>\
            <x xmlns='jabber:x:oob'><url>https://up.example/a.png</url></x>\
            <file-sharing xmlns='urn:xmpp:sfs:0'><file xmlns='urn:xmpp:file:metadata:0'><name>a.png</name><media-type>image/png</media-type><size>1234</size></file>\
            <sources><url-data xmlns='http://jabber.org/protocol/url-data' target='https://up.example/a.png'/></sources></file-sharing></message>")
            .unwrap();
        assert_eq!(
            got,
            [Attachment {
                url: "https://up.example/a.png".into(),
                name: Some("a.png".into()),
                media_type: Some("image/png".into()),
                size: Some(1234),
                thumbnail: None,
            }]
        );
        assert!(
            read_xml("<message xmlns='jabber:client'><body>hi</body></message>")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn refuses_what_it_should() {
        let long = format!("https://x/{}", "a".repeat(MAX_URL_BYTES));
        let err = read_xml(&format!(
            "<message xmlns='jabber:client'><x xmlns='jabber:x:oob'><url>{long}</url></x></message>"
        ))
        .unwrap_err();
        assert_eq!(err.condition, "policy-violation");
        let err = read_xml("<message xmlns='jabber:client'><x xmlns='jabber:x:oob'><url>file:///etc/passwd</url></x></message>").unwrap_err();
        assert_eq!(err.condition, "not-acceptable");
        let many: String = (0..=MAX_ATTACHMENTS)
            .map(|i| format!("<x xmlns='jabber:x:oob'><url>https://x/{i}</url></x>"))
            .collect();
        let err =
            read_xml(&format!("<message xmlns='jabber:client'>{many}</message>")).unwrap_err();
        assert_eq!(err.condition, "policy-violation");
    }

    #[test]
    fn files_from_the_network_carry_their_metadata_and_read_back() {
        let a = Attachment {
            url: "https://gw.example/media/t/cat.png".into(),
            name: Some("cat.png".into()),
            media_type: Some("image/png".into()),
            size: Some(42),
            thumbnail: None,
        };
        let mut msg = Element::bare("message", "jabber:client");
        for el in elements(&a) {
            msg.append_child(el);
        }
        assert!(msg.get_child("x", NS_OOB).is_some());
        // What the core reads from a client is what it wrote: one file, all of it known.
        assert_eq!(read(&msg).unwrap(), vec![a.clone()]);
        let bare = Attachment {
            name: None,
            media_type: None,
            size: None,
            thumbnail: None,
            ..a
        };
        assert_eq!(elements(&bare).count(), 1);
    }
}
