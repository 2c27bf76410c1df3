//! The operator's connection test: reach the fixed server the way a session would (same
//! resolution and TLS code), then hang up.

use std::time::{Duration, Instant};

use crate::config::IrcConfig;

/// How long a connection test may take in all.
pub const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// Connects to the fixed server of `cfg` (TCP, and the TLS handshake with the configured
/// certificate check when TLS is on) within `limit`, and says what was reached and how
/// long it took, or the exact error. Without a fixed server there is nothing to test.
pub async fn probe(cfg: &IrcConfig, limit: Duration) -> Result<String, String> {
    let Some(addr) = cfg.fixed_server.clone() else {
        return Ok(
            "nothing fixed to test: users choose their networks (no connect_host set)".to_owned(),
        );
    };
    let start = Instant::now();
    // The operator named this host: internal addresses are allowed, as for sessions.
    match tokio::time::timeout(limit, crate::tls::connect(&addr, true, None)).await {
        Ok(Ok(c)) => Ok(format!(
            "reached {}:{}{} in {} ms (address {})",
            addr.host,
            addr.port,
            if c.tls { " (TLS)" } else { "" },
            start.elapsed().as_millis(),
            c.peer.ip()
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "cannot connect to {}:{}: no answer within {} s",
            addr.host,
            addr.port,
            limit.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg(port: u16) -> IrcConfig {
        let o = BTreeMap::from([
            ("connect_host".to_owned(), "127.0.0.1".to_owned()),
            ("connect_port".to_owned(), port.to_string()),
        ]);
        IrcConfig::from_options(&o).unwrap()
    }

    #[tokio::test]
    async fn reaches_a_listener_and_names_a_refusal() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let ok = probe(&cfg(port), PROBE_LIMIT).await.unwrap();
        assert!(
            ok.starts_with(&format!("reached 127.0.0.1:{port} in ")),
            "{ok}"
        );
        assert!(ok.ends_with(" ms (address 127.0.0.1)"), "{ok}");
        drop(l);
        let e = probe(&cfg(port), PROBE_LIMIT).await.unwrap_err();
        assert!(
            e.contains(&format!("127.0.0.1:{port}")) && e.contains("refused"),
            "{e}"
        );
        let none = probe(&IrcConfig::default(), PROBE_LIMIT).await.unwrap();
        assert!(none.starts_with("nothing fixed to test"), "{none}");
    }
}
