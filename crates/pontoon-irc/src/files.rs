//! Files on IRC: IRC has no attachments, only links. A message that is nothing but a link
//! to a file (its path ends with a known media extension) is said to the core as an
//! attachment too, so XMPP clients show it inline (XEP-0066); the body keeps the link.

use pontoon_core::legacy::Attachment;

/// Longest link taken as a file.
const MAX_URL: usize = 2048;

/// Extensions taken as files, with their media types.
const MEDIA: &[(&str, &str)] = &[
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("svg", "image/svg+xml"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("opus", "audio/ogg"),
    ("m4a", "audio/mp4"),
    ("pdf", "application/pdf"),
    ("txt", "text/plain"),
];

/// The file `body` links to, if it is only that link.
pub fn attachments(body: &str) -> Vec<Attachment> {
    let url = body.trim();
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= MAX_URL
        && !url.contains(char::is_whitespace);
    if !ok {
        return Vec::new();
    }
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or_default();
    let Some((_, ext)) = name.rsplit_once('.') else {
        return Vec::new();
    };
    let ext = ext.to_ascii_lowercase();
    let Some((_, media_type)) = MEDIA.iter().find(|(e, _)| *e == ext) else {
        return Vec::new();
    };
    // "https://host/a.png": the host part is no file name.
    if path.matches('/').count() < 3 {
        return Vec::new();
    }
    vec![Attachment {
        url: url.to_owned(),
        name: Some(name.to_owned()),
        media_type: Some((*media_type).to_owned()),
        size: None,
        thumbnail: None,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_lone_link_to_a_file_is_a_file() {
        let a = attachments(" https://img.example/cats/Tom.PNG?x=1 ");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].url, "https://img.example/cats/Tom.PNG?x=1");
        assert_eq!(a[0].name.as_deref(), Some("Tom.PNG"));
        assert_eq!(a[0].media_type.as_deref(), Some("image/png"));
        assert!(attachments("look https://img.example/a.png").is_empty());
        assert!(attachments("https://example.org/page").is_empty());
        assert!(attachments("https://example.png").is_empty());
        assert!(attachments("ftp://x/a.png").is_empty());
    }
}
