//! The running gateway's REST API, as the CLI's `status`, `sessions` and `announce` reach it.
//!
//! A small HTTP/1.1 client on hyper (the HTTP stack the console already builds on) rather than
//! a general-purpose client crate: one loopback request per command, JSON in and out, no TLS
//! (the console serves plain HTTP; a proxy in front does TLS).
//!
//! The bearer token is `PONTOON_API_TOKEN` when set. Otherwise the CLI, which can open the
//! store like every store command, makes a token for the one command and revokes it after:
//! whoever can open the store can already make tokens with `pontoon admin token create`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use pontoon_store::Store;
use serde_json::Value;

use crate::config::Config;

/// The longest a command waits for the gateway's answer.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read (10,000 sessions are a few MiB of JSON).
const MAX_BODY: usize = 64 * 1024 * 1024;
/// Prefix of the names of the tokens made for one command (`admin token list` shows them
/// while the command runs).
const TEMP_TOKEN_PREFIX: &str = "pontoon-cli-";

/// A connection to the running gateway's API, with the token to use.
pub struct ApiClient {
    addr: SocketAddr,
    token: String,
    /// The store and the token's name, when the token was made for this command.
    temporary: Option<(Store, String)>,
}

impl ApiClient {
    /// The API of the gateway `cfg` describes: its console address and a token.
    pub async fn connect(cfg: &Config) -> anyhow::Result<ApiClient> {
        if !cfg.admin.enabled {
            bail!(
                "the console is disabled ([admin] enabled = false): this command talks to the running gateway through its REST API"
            );
        }
        let addr = reachable(cfg.admin.listen_addr());
        if let Some(token) = std::env::var("PONTOON_API_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
        {
            return Ok(ApiClient {
                addr,
                token,
                temporary: None,
            });
        }
        let store = crate::run::open_store(cfg).await?;
        let name = format!("{TEMP_TOKEN_PREFIX}{}", std::process::id());
        // A token left by a command that was killed has the same name only by chance.
        let _ = store.revoke_api_token(&name).await;
        let token = store
            .create_api_token(&name)
            .await
            .context("cannot make a token for this command (or set PONTOON_API_TOKEN)")?;
        Ok(ApiClient {
            addr,
            token,
            temporary: Some((store, name)),
        })
    }

    /// `GET path` (under `/api/v1`), the answer's JSON.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.request(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body, the answer's JSON.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.request(Method::POST, path, Some(body.to_string()))
            .await
    }

    /// Revokes the token made for this command, if one was.
    pub async fn close(self) {
        if let Some((store, name)) = self.temporary {
            if let Err(e) = store.revoke_api_token(&name).await {
                eprintln!("warning: could not revoke the temporary API token {name}: {e}");
            }
            store.close().await;
        }
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<Value> {
        let url = format!("http://{}/api/v1{path}", self.addr);
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect(self.addr).await.with_context(|| {
                format!(
                    "cannot reach the gateway's console at {}: is `pontoon run` running with this configuration?",
                    self.addr
                )
            })?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .context("HTTP handshake")?;
            tokio::spawn(conn);
            let mut req = Request::builder()
                .method(method)
                .uri(format!("/api/v1{path}"))
                .header(HOST, self.addr.to_string())
                .header(AUTHORIZATION, format!("Bearer {}", self.token));
            if body.is_some() {
                req = req.header(CONTENT_TYPE, "application/json");
            }
            let req = req
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .context("request")?;
            let resp = sender.send_request(req).await.context("request")?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
                .to_bytes();
            anyhow::Ok((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .with_context(|| format!("{url}: no answer within {} s", TIMEOUT.as_secs()))??;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{url}: the answer is not JSON ({status})"))?
        };
        if !status.is_success() {
            let message = value["error"]["message"].as_str().unwrap_or("no message");
            bail!("{message} ({status} from {url})");
        }
        Ok(value)
    }
}

/// Where to connect for a console listening on `listen`: loopback of the same family when it
/// listens on every address.
pub(crate) fn reachable(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), listen.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn wildcard_listen_addresses_are_reached_on_loopback() {
        let r = |s: &str| super::reachable(s.parse().unwrap()).to_string();
        assert_eq!(r("0.0.0.0:8780"), "127.0.0.1:8780");
        assert_eq!(r("[::]:8780"), "[::1]:8780");
        assert_eq!(r("192.0.2.1:8780"), "192.0.2.1:8780");
    }
}
