//! SASL PLAIN (RFC 4616) as RFC 6120 carries it: base64 in XML elements.

use std::fmt;

use base64::Engine;
use zeroize::Zeroizing;

/// A password in transit from the client to the [`Authenticator`](super::Authenticator).
///
/// `Debug` prints `<redacted>`; the bytes are zeroed when it is dropped.
/// There is deliberately no `Display` and no `Clone`.
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wrap `s`.
    #[must_use]
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// The password, for the one call that needs it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The three fields of a PLAIN message.
#[derive(Debug)]
pub struct PlainCredentials {
    /// Authorization identity (empty when the client sent none).
    pub authzid: String,
    /// Authentication identity (the username).
    pub authcid: String,
    /// The password.
    pub password: Password,
}

/// Why a PLAIN message was refused, as a SASL failure condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// Not base64: `incorrect-encoding`.
    #[error("incorrect-encoding")]
    IncorrectEncoding,
    /// Not `authzid NUL authcid NUL passwd` with a non-empty username and
    /// password in UTF-8: `malformed-request`.
    #[error("malformed-request")]
    MalformedRequest,
}

impl SaslError {
    /// The RFC 6120 SASL failure condition.
    #[must_use]
    pub fn condition(self) -> &'static str {
        match self {
            SaslError::IncorrectEncoding => "incorrect-encoding",
            SaslError::MalformedRequest => "malformed-request",
        }
    }
}

/// Decode the base64 text of `<auth>` / `<response>` and split it into the
/// PLAIN fields. `=` stands for an empty response (RFC 6120 section
/// 6.4.2), which PLAIN cannot accept.
pub fn parse_plain(b64: &str) -> Result<PlainCredentials, SaslError> {
    // Line breaks are tolerated (some clients wrap long base64).
    let compact: Zeroizing<String> = Zeroizing::new(
        b64.chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n'))
            .collect(),
    );
    if compact.is_empty() || compact.as_str() == "=" {
        return Err(SaslError::MalformedRequest);
    }
    let raw = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| SaslError::IncorrectEncoding)?,
    );
    let mut parts = raw.split(|b| *b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::MalformedRequest);
    };
    if authcid.is_empty() || password.is_empty() || authcid.len() > 1023 {
        return Err(SaslError::MalformedRequest);
    }
    let utf8 = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| SaslError::MalformedRequest)
    };
    Ok(PlainCredentials {
        authzid: utf8(authzid)?,
        authcid: utf8(authcid)?,
        password: Password::new(utf8(password)?),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn plain_parsing() {
        let c = parse_plain(&b64(b"\0nick%irc.libera.chat\0secret")).unwrap();
        assert_eq!(c.authzid, "");
        assert_eq!(c.authcid, "nick%irc.libera.chat");
        assert_eq!(c.password.expose(), "secret");
        assert_eq!(format!("{:?}", c.password), "Password(<redacted>)");
        assert!(!format!("{c:?}").contains("secret"));
        let c = parse_plain(&b64(b"a@b\0a\0p")).unwrap();
        assert_eq!(c.authzid, "a@b");
        assert_eq!(
            parse_plain("!!!").unwrap_err(),
            SaslError::IncorrectEncoding
        );
        for bad in [
            &b"nouser"[..],
            b"\0\0pw",
            b"\0user\0",
            b"\0user\0pw\0extra",
            b"\0us\xffer\0pw",
        ] {
            assert_eq!(
                parse_plain(&b64(bad)).unwrap_err(),
                SaslError::MalformedRequest,
                "{bad:?}"
            );
        }
        assert_eq!(parse_plain("=").unwrap_err(), SaslError::MalformedRequest);
        assert_eq!(parse_plain("").unwrap_err(), SaslError::MalformedRequest);
        let wrapped = b64(b"\0user\0password");
        let (a, b) = wrapped.split_at(5);
        assert!(parse_plain(&format!("{a}\n{b}")).is_ok());
    }
}
