//! A small scripted XMPP client for the c2s tests, over plain TCP or TLS.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use minidom::Element;
use pontoon_xmpp::c2s::{AuthOutcome, AuthRequest, C2sConfig, C2sEvent, C2sServer, ListenMode};
use pontoon_xmpp::reader::{Frame, ReadError, StreamReader};
use pontoon_xmpp::tls::{self, TlsSource};
use pontoon_xmpp::{Limits, ns};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

pub const DOMAIN: &str = "example.test";
pub const T: Duration = Duration::from_secs(10);

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pontoon-xmpp-{tag}-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A generated CA for DOMAIN (and localhost) in a temp dir.
pub fn generated_tls() -> (Arc<rustls::ServerConfig>, PathBuf) {
    let dir = temp_dir("ca");
    let setup = tls::load(&TlsSource::Generated {
        dir: dir.clone(),
        domains: vec![DOMAIN.into()],
        include_localhost: true,
    })
    .unwrap();
    (setup.config, dir.join(tls::generated::CA_CERT))
}

/// A client TLS configuration trusting only the CA in `ca_pem`.
pub fn client_tls(ca_pem: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in tls::read_pem_chain(ca_pem).unwrap() {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// The test authenticator: password `good` logs in (the token is the
/// username), `down` is a temporary failure, `slow` never answers, the
/// rest are wrong.
pub async fn authenticator(req: AuthRequest) -> AuthOutcome {
    match req.password.expose() {
        "good" => AuthOutcome::Success(Box::new(req.username.clone())),
        "down" => AuthOutcome::TemporaryFailure("irc.example is unreachable".into()),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            AuthOutcome::Aborted
        }
        _ => AuthOutcome::NotAuthorized(format!("Wrong password for {}", req.username)),
    }
}

pub struct Server {
    pub server: C2sServer,
    pub events: mpsc::Receiver<C2sEvent>,
    pub addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    pub ca: Option<PathBuf>,
}

impl Server {
    pub async fn start(tls_on: bool, tweak: impl FnOnce(&mut C2sConfig)) -> Self {
        let (tls_cfg, ca) = if tls_on {
            let (c, ca) = generated_tls();
            (Some(c), Some(ca))
        } else {
            (None, None)
        };
        let mut cfg = C2sConfig::new(vec![DOMAIN.into()], tls_cfg);
        cfg.allow_plaintext_on_loopback = !tls_on;
        tweak(&mut cfg);
        let (tx, events) = mpsc::channel(64);
        let server = C2sServer::new(cfg, authenticator, tx).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        server.spawn_listener(l, ListenMode::StartTls);
        let tls_addr = if tls_on {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = l.local_addr().unwrap();
            server.spawn_listener(l, ListenMode::DirectTls);
            Some(a)
        } else {
            None
        };
        Self {
            server,
            events,
            addr,
            tls_addr,
            ca,
        }
    }

    pub async fn event(&mut self) -> C2sEvent {
        timeout(T, self.events.recv())
            .await
            .expect("no event in time")
            .expect("event channel closed")
    }

    pub async fn no_event(&mut self, wait: Duration) {
        if let Ok(Some(ev)) = timeout(wait, self.events.recv()).await {
            panic!("unexpected event {ev:?}");
        }
    }
}

/// One side of a client stream: reads with the bounded reader, writes
/// through it.
pub struct Client<S> {
    pub r: StreamReader<S>,
}

pub type TlsClient = Client<tokio_rustls::client::TlsStream<TcpStream>>;

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(io: S) -> Self {
        Self {
            r: StreamReader::new(io, Limits::default()),
        }
    }

    pub async fn send(&mut self, s: &str) {
        self.r.get_mut().write_all(s.as_bytes()).await.unwrap();
        self.r.get_mut().flush().await.unwrap();
    }

    pub async fn try_send(&mut self, s: &[u8]) -> std::io::Result<()> {
        self.r.get_mut().write_all(s).await?;
        self.r.get_mut().flush().await
    }

    pub async fn frame(&mut self) -> Result<Frame, ReadError> {
        timeout(T, self.r.next()).await.expect("client read hung")
    }

    pub async fn el(&mut self) -> Element {
        match self.frame().await.unwrap() {
            Frame::Stanza(el) => el,
            other => panic!("expected an element, got {other:?}"),
        }
    }

    /// Open a stream to `to` and return the features.
    pub async fn open(&mut self, to: &str) -> Element {
        self.send(&format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' to='{to}' version='1.0'>"
        ))
        .await;
        let Frame::Header(h) = self.frame().await.unwrap() else {
            panic!("expected a header")
        };
        assert_eq!(h.default_ns, ns::CLIENT);
        assert!(h.id.is_some());
        let f = self.el().await;
        assert!(f.is("features", ns::STREAMS), "{f:?}");
        f
    }

    /// Send PLAIN credentials; return the server's answer.
    pub async fn auth(&mut self, user: &str, password: &str) -> Element {
        let b64 = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{user}\0{password}").as_bytes());
        self.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{b64}</auth>"
        ))
        .await;
        self.el().await
    }

    /// Restart after SASL success and bind `resource`; return the full JID.
    pub async fn restart_and_bind(&mut self, resource: Option<&str>) -> String {
        self.r.reset();
        let f = self.open(DOMAIN).await;
        assert!(f.get_child("bind", ns::BIND).is_some(), "{f:?}");
        let res = resource
            .map(|r| format!("<resource>{r}</resource>"))
            .unwrap_or_default();
        self.send(&format!(
            "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{res}</bind></iq>"
        ))
        .await;
        let iq = self.el().await;
        assert_eq!(iq.attr("type"), Some("result"), "{iq:?}");
        assert_eq!(iq.attr("id"), Some("b1"));
        iq.get_child("bind", ns::BIND)
            .and_then(|b| b.get_child("jid", ns::BIND))
            .expect("bind result without jid")
            .text()
    }

    /// Expect a stream error with `condition`, then the end of the stream
    /// or of the connection.
    pub async fn expect_stream_error(&mut self, condition: &str) {
        let el = self.el().await;
        assert!(
            el.is("error", ns::STREAMS),
            "expected a stream error, got {el:?}"
        );
        assert!(
            el.get_child(condition, ns::XMPP_STREAMS).is_some(),
            "expected {condition}, got {el:?}"
        );
        match self.frame().await {
            Ok(Frame::End) | Err(_) => {}
            Ok(other) => panic!("expected the end of the stream, got {other:?}"),
        }
    }
}

/// Connect in plain text and open the first stream.
pub async fn plain(addr: SocketAddr) -> (Client<TcpStream>, Element) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut c = Client::new(tcp);
    let f = c.open(DOMAIN).await;
    (c, f)
}

/// Connect, STARTTLS (verifying the server against `ca`), open the stream
/// again; returns the client and the features after TLS.
pub async fn starttls(addr: SocketAddr, ca: &Path) -> (TlsClient, Element) {
    let (mut c, f) = plain(addr).await;
    let st = f
        .get_child("starttls", ns::TLS)
        .expect("no starttls offered");
    assert!(st.get_child("required", ns::TLS).is_some());
    assert!(f.get_child("mechanisms", ns::SASL).is_none());
    c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await;
    let p = c.el().await;
    assert!(p.is("proceed", ns::TLS), "{p:?}");
    let (tcp, rest) = c.r.into_parts();
    assert!(rest.is_empty());
    let connector = tokio_rustls::TlsConnector::from(client_tls(ca));
    let tls = connector
        .connect(ServerName::try_from(DOMAIN).unwrap(), tcp)
        .await
        .unwrap();
    let mut c = Client::new(tls);
    let f = c.open(DOMAIN).await;
    (c, f)
}

/// Direct TLS (XEP-0368) with ALPN `xmpp-client`.
pub async fn direct_tls(addr: SocketAddr, ca: &Path) -> (TlsClient, Element) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut cfg = (*client_tls(ca)).clone();
    cfg.alpn_protocols = vec![b"xmpp-client".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tls = connector
        .connect(ServerName::try_from(DOMAIN).unwrap(), tcp)
        .await
        .unwrap();
    let mut c = Client::new(tls);
    let f = c.open(DOMAIN).await;
    (c, f)
}

/// Whether `features` offers SASL PLAIN.
pub fn offers_plain(features: &Element) -> bool {
    features
        .get_child("mechanisms", ns::SASL)
        .is_some_and(|m| m.children().any(|c| c.text() == "PLAIN"))
}

/// The condition of a SASL `<failure/>` and its text.
pub fn sasl_failure(el: &Element) -> (String, Option<String>) {
    assert!(
        el.is("failure", ns::SASL),
        "expected a SASL failure, got {el:?}"
    );
    let cond = el
        .children()
        .find(|c| c.name() != "text")
        .map(|c| c.name().to_owned())
        .unwrap_or_default();
    let text = el.get_child("text", ns::SASL).map(|t| t.text());
    (cond, text)
}

/// A `<message/>` to `to` with `body`.
pub fn message(to: &str, body: &str) -> Element {
    let mut m = Element::bare("message", ns::CLIENT);
    m.attrs_mut().insert(
        rxml::Namespace::NONE,
        rxml::NcName::try_from("to").unwrap(),
        to.to_owned(),
    );
    let mut b = Element::bare("body", ns::CLIENT);
    b.append_text(body);
    m.append_child(b);
    m
}
