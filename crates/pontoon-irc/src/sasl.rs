//! SASL PLAIN for IRC (`AUTHENTICATE`).
//!
//! The payload is base64 of `authzid \0 authcid \0 password` and is sent in chunks of at
//! most 400 bytes; a payload that is an exact multiple of 400 is closed with `+`.

use base64::Engine;

/// The AUTHENTICATE lines that carry a PLAIN response for `account` / `password`.
pub fn plain_lines(account: &str, password: &str) -> Vec<String> {
    let raw = format!("\0{account}\0{password}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
    let mut lines: Vec<String> = encoded
        .as_bytes()
        .chunks(400)
        .map(|c| format!("AUTHENTICATE {}", String::from_utf8_lossy(c)))
        .collect();
    if encoded.is_empty() || encoded.len() % 400 == 0 {
        lines.push("AUTHENTICATE +".to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_payload() {
        // base64("\0nick\0secret")
        assert_eq!(
            plain_lines("nick", "secret"),
            vec!["AUTHENTICATE AG5pY2sAc2VjcmV0"]
        );
    }

    #[test]
    fn long_payload_is_chunked() {
        // 2 + 4 + 294 = 300 bytes -> exactly 400 base64 characters.
        let lines = plain_lines("nick", &"p".repeat(294));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), "AUTHENTICATE ".len() + 400);
        assert_eq!(lines[1], "AUTHENTICATE +");
        let lines = plain_lines("nick", &"p".repeat(400));
        assert_eq!(lines.len(), 2);
        assert!(lines[1] != "AUTHENTICATE +");
    }
}
