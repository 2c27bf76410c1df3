//! The user's `connection` command at a network's JID: how the connection stands, in
//! words (server, encryption, nick, login, capabilities, since when).

use super::*;

impl Conn {
    /// Tells the user how this connection stands.
    pub(super) fn describe(&mut self) {
        let addr = &self.addr;
        let encryption = match (addr.tls, addr.verify_cert) {
            (true, true) => "TLS, certificate checked",
            (true, false) => "TLS, certificate not checked (the operator's choice)",
            (false, _) => "no encryption",
        };
        let mut text = format!("Server {}:{} ({encryption}).", addr.host, addr.port);
        if !self.registered {
            text.push_str(" Connecting...");
            self.network_notice(text);
            return;
        }
        let minutes = self.registered_at.elapsed().as_secs() / 60;
        text.push_str(&format!(
            "\nConnected for {} as {}.",
            match minutes {
                0 => "less than a minute".to_owned(),
                1 => "1 minute".to_owned(),
                m => format!("{m} minutes"),
            },
            self.nick
        ));
        let login = if let Some((mechanism, account)) = self.neg.login() {
            let account = account.unwrap_or(&self.account);
            format!("logged in with SASL {mechanism} as {account}")
        } else if self.neg.identifies() {
            format!("IDENTIFY sent to NickServ for {}", self.account)
        } else if self.password.is_none() {
            "no password".to_owned()
        } else {
            "not logged in (no SASL here, or the connection is not encrypted)".to_owned()
        };
        text.push_str(&format!("\nServices: {login}."));
        if let Some(c) = self.extras.as_ref().and_then(|x| x.certificate.as_ref()) {
            let shown = if c.config.is_some() {
                "presented"
            } else {
                "not presented (no TLS)"
            };
            text.push_str(&format!(
                "\nClient certificate: {shown}, SHA-256 fingerprint {}.",
                c.fingerprint
            ));
        }
        let caps: Vec<&str> = self.neg.enabled_list().collect();
        text.push_str(&format!(
            "\nCapabilities: {}.",
            if caps.is_empty() {
                "none".to_owned()
            } else {
                caps.join(", ")
            }
        ));
        if let Some(x) = self
            .extras
            .as_ref()
            .filter(|x| x.fallback.is_some() || x.send.is_some())
        {
            use crate::encoding::{DEFAULT_FALLBACK, DEFAULT_SEND, name};
            text.push_str(&format!(
                "\nEncoding: what is not UTF-8 read as {}; your text sent as {}.",
                name(x.fallback.unwrap_or(DEFAULT_FALLBACK)),
                name(x.send.unwrap_or(DEFAULT_SEND))
            ));
        }
        text.push_str(&format!("\nChannels: {}.", self.channels.len()));
        self.network_notice(text);
    }
}
