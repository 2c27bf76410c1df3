//! The headers every served file carries, so that a browser shows an image and downloads
//! anything else, and never runs a script it fetched from here, whatever its declared type:
//! `X-Content-Type-Options: nosniff`, a `Content-Security-Policy` that allows nothing and
//! sandboxes the document, `Content-Disposition: attachment` for every type but plain
//! images, audio and video (as Openfire's HTTP File Upload plugin does since 1.4.0).
//! CORS is open: web clients (Converse.js) upload and show files from another origin.

use axum::http::{HeaderMap, HeaderValue, header};

/// A media type that is safe to put in `Content-Type` (`type/subtype`, tokens only, no
/// parameters), or `application/octet-stream`.
pub(crate) fn content_type(declared: &str) -> HeaderValue {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match declared.split_once('/') {
        Some((t, s)) if token(t) && token(s) && declared.len() <= 127 => {
            HeaderValue::from_str(&declared.to_ascii_lowercase())
                .unwrap_or(HeaderValue::from_static("application/octet-stream"))
        }
        _ => HeaderValue::from_static("application/octet-stream"),
    }
}

/// Whether a browser may show files of `media_type` in place: images (but SVG, which can
/// carry script), audio and video.
fn inline(media_type: &str) -> bool {
    let t = media_type.to_ascii_lowercase();
    (t.starts_with("image/") && !t.contains("svg"))
        || t.starts_with("audio/")
        || t.starts_with("video/")
}

/// The headers of a served file named `name` of type `media_type`.
pub(crate) fn for_file(media_type: &str, name: &str, cache: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let ty = content_type(media_type);
    let disposition = if inline(ty.to_str().unwrap_or_default()) {
        "inline"
    } else {
        "attachment"
    };
    h.insert(header::CONTENT_TYPE, ty);
    let encoded =
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string();
    if let Ok(v) = HeaderValue::from_str(&format!("{disposition}; filename*=UTF-8''{encoded}")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    add_common(&mut h);
    h
}

/// What every answer of the listener carries, files and errors alike.
pub(crate) fn add_common(h: &mut HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; sandbox"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_plain_media_shows_in_place() {
        let h = for_file("image/png", "a b.png", "private");
        assert_eq!(h[header::CONTENT_TYPE], "image/png");
        assert_eq!(
            h[header::CONTENT_DISPOSITION],
            "inline; filename*=UTF-8''a%20b%2Epng"
        );
        for ty in [
            "text/html",
            "image/svg+xml",
            "application/javascript",
            "text/html; charset=utf-8",
        ] {
            let h = for_file(ty, "x", "private");
            assert!(
                h[header::CONTENT_DISPOSITION]
                    .to_str()
                    .unwrap()
                    .starts_with("attachment"),
                "{ty}"
            );
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert!(
                h[header::CONTENT_SECURITY_POLICY]
                    .to_str()
                    .unwrap()
                    .contains("sandbox")
            );
        }
        assert_eq!(
            content_type("text/html\r\nX: y"),
            "application/octet-stream"
        );
        assert_eq!(content_type("Image/PNG"), "image/png");
    }
}
