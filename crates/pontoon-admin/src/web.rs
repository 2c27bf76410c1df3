//! Small HTTP and text helpers shared by the console and the API.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, header};
use axum::response::Response;

/// Adds the security headers to every response. The console's stylesheet is served from
/// `/assets/console.css`, so the policy needs no `'unsafe-inline'`.
pub(crate) async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages and API answers show live, sometimes sensitive state.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// `YYYY-MM-DD HH:MM:SS UTC` for unix seconds.
pub(crate) fn utc(secs: i64) -> String {
    format!(
        "{} UTC",
        pontoon_core::time::Utc::from_unix(secs).readable()
    )
}

/// `3d 4h`, `2h 5m`, `42s`: a duration for people.
pub(crate) fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

/// Non-empty trimmed lines (textarea lists: one entry a line).
pub(crate) fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses `key = value` lines (blank lines and `#` comments skipped).
pub(crate) fn parse_options(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!("line {}: expected \"key = value\"", n + 1));
        };
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty() {
            return Err(format!("line {}: the key is empty", n + 1));
        }
        if map.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(format!("line {}: {k:?} is given twice", n + 1));
        }
    }
    Ok(map)
}

/// The inverse of [`parse_options`].
pub(crate) fn format_options(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k} = {v}\n")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_767_225_599), "2025-12-31 23:59:59 UTC");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(3 * 3600 + 120), "3h 2m");
        assert_eq!(human_duration(2 * 86_400 + 3600), "2d 1h");
    }

    #[test]
    fn options_round_trip() {
        let m = parse_options("connect_host = irc.example.org\n\n# c\ntls=true\n").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["tls"], "true");
        assert_eq!(parse_options(&format_options(&m)).unwrap(), m);
        assert!(parse_options("nokey").is_err());
        assert!(parse_options("a=1\na=2").is_err());
        assert!(parse_options(" = x").is_err());
        assert_eq!(lines(" a \n\n b\n"), ["a", "b"]);
    }
}
