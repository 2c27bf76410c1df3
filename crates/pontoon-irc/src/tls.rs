//! Opening the byte stream to an IRC server: TCP, optionally wrapped in TLS.
//!
//! TLS uses rustls with the Mozilla roots (webpki-roots), so it does not depend on the
//! host's certificate store. Certificate checks are only skipped when the operator said so
//! (`tls_verify = false`), never on a user's request.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::certfp::ClientCert;
use crate::config::ServerAddr;

/// A connected stream to a server.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect failed.
    #[error("cannot connect to {host}:{port}: {source}")]
    Tcp {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The host name could not be resolved.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// Host.
        host: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The host resolves only to addresses users may not reach through the gateway.
    #[error(
        "{host} resolves to a local or private address ({ip}); connecting there is not allowed on this gateway"
    )]
    Refused {
        /// Host.
        host: String,
        /// The first refused address.
        ip: IpAddr,
    },
    /// The host name is not usable for TLS.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
    /// The TLS library could not be set up.
    #[error("TLS is not available")]
    Setup,
    /// The TLS handshake failed.
    #[error("TLS handshake with {host} failed: {source}")]
    Tls {
        /// Host.
        host: String,
        /// The error.
        source: std::io::Error,
    },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // Named explicitly: the process default is ambiguous when several crates in the
    // binary enable different rustls providers.
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn build_config(verify: bool, cert: Option<&ClientCert>) -> Option<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .ok()?;
    let builder = if verify {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
    };
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some(c) => {
            let mut config = builder
                .with_client_auth_cert(c.chain.clone(), c.key.clone_key())
                .ok()?;
            // This set-up serves one user's connection to one server: a session cache
            // for a single resumption, not rustls' default of 32 (allocated up front).
            config.resumption = rustls::client::Resumption::in_memory_sessions(1);
            config
        }
    };
    Some(Arc::new(config))
}

/// The TLS set-up of a connection that presents the user's client certificate (CertFP):
/// its own, since the shared ones present none.
pub fn config_with_cert(
    verify: bool,
    cert: &ClientCert,
) -> Result<Arc<ClientConfig>, ConnectError> {
    build_config(verify, Some(cert)).ok_or(ConnectError::Setup)
}

fn client_config(verify: bool) -> Option<Arc<ClientConfig>> {
    static VERIFIED: OnceLock<Option<Arc<ClientConfig>>> = OnceLock::new();
    static UNVERIFIED: OnceLock<Option<Arc<ClientConfig>>> = OnceLock::new();
    let cell = if verify { &VERIFIED } else { &UNVERIFIED };
    cell.get_or_init(|| build_config(verify, None)).clone()
}

/// Accepts any certificate: only for operators who turned verification off.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A connected stream and where it goes.
pub struct Connected {
    /// The stream (TLS-wrapped when the address says so).
    pub stream: Box<dyn Stream>,
    /// The address actually connected to.
    pub peer: SocketAddr,
    /// Whether the stream is TLS.
    pub tls: bool,
}

/// The addresses of `host` that may be connected to: all of them when `allow_internal`
/// (the operator named the host), else only public ones. `Err` names the first refused
/// address when none is left.
pub fn usable_addrs(
    host: &str,
    resolved: impl IntoIterator<Item = SocketAddr>,
    allow_internal: bool,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let mut refused = None;
    let mut ok = Vec::new();
    for sa in resolved {
        if allow_internal || !crate::address::internal_ip(sa.ip()) {
            if !ok.contains(&sa) {
                ok.push(sa);
            }
        } else {
            refused.get_or_insert(sa.ip());
        }
    }
    match (ok.is_empty(), refused) {
        (false, _) => Ok(ok),
        (true, Some(ip)) => Err(ConnectError::Refused {
            host: host.to_owned(),
            ip,
        }),
        (true, None) => Err(ConnectError::Resolve {
            host: host.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        }),
    }
}

/// Connects to `addr` (the caller bounds the time this takes). The host is resolved
/// once and each resolved address checked before connecting to it (never to the name
/// again): unless `allow_internal`, loopback, private, link-local and similar addresses
/// are refused, so a public-looking name cannot lead the gateway into internal networks.
/// `config` is a TLS set-up of the connection's own ([`config_with_cert`]), else the
/// shared one for the address is used.
pub async fn connect(
    addr: &ServerAddr,
    allow_internal: bool,
    config: Option<Arc<ClientConfig>>,
) -> Result<Connected, ConnectError> {
    let resolved = tokio::net::lookup_host((addr.host.as_str(), addr.port))
        .await
        .map_err(|source| ConnectError::Resolve {
            host: addr.host.clone(),
            source,
        })?;
    let candidates = usable_addrs(&addr.host, resolved, allow_internal)?;
    let mut last_err = None;
    let mut tcp = None;
    for sa in candidates {
        match TcpStream::connect(sa).await {
            Ok(s) => {
                tcp = Some((s, sa));
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some((tcp, peer)) = tcp else {
        return Err(ConnectError::Tcp {
            host: addr.host.clone(),
            port: addr.port,
            source: last_err.unwrap_or_else(|| std::io::Error::other("no address to connect to")),
        });
    };
    let _ = tcp.set_nodelay(true);
    if !addr.tls {
        return Ok(Connected {
            stream: Box::new(tcp),
            peer,
            tls: false,
        });
    }
    let config = match config {
        Some(own) => own,
        None => client_config(addr.verify_cert).ok_or(ConnectError::Setup)?,
    };
    let name = ServerName::try_from(addr.host.clone())
        .map_err(|_| ConnectError::ServerName(addr.host.clone()))?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|source| ConnectError::Tls {
            host: addr.host.clone(),
            source,
        })?;
    Ok(Connected {
        stream: Box::new(tls),
        peer,
        tls: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn resolved_addresses_are_checked() {
        let mixed = [sa("10.0.0.1:6667"), sa("8.8.8.8:6667"), sa("[::1]:6667")];
        assert_eq!(
            usable_addrs("irc.example.org", mixed, false).unwrap(),
            vec![sa("8.8.8.8:6667")]
        );
        assert_eq!(usable_addrs("h", mixed, true).unwrap().len(), 3);
        let internal = [sa("[::ffff:10.0.0.1]:6667"), sa("127.0.0.1:6667")];
        let e = usable_addrs("evil.example", internal, false).unwrap_err();
        assert!(matches!(e, ConnectError::Refused { .. }), "{e}");
        let text = e.to_string();
        assert!(
            text.contains("evil.example") && text.contains("not allowed"),
            "{text}"
        );
        assert!(matches!(
            usable_addrs("h", [], false),
            Err(ConnectError::Resolve { .. })
        ));
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_unless_configured() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        // "localhost" resolves to loopback (from /etc/hosts, no DNS needed).
        let addr = ServerAddr {
            host: "localhost".into(),
            port,
            tls: false,
            verify_cert: true,
        };
        match connect(&addr, false, None).await {
            Err(ConnectError::Refused { ip, .. }) => assert!(ip.is_loopback(), "{ip}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("connected to a loopback address"),
        }
        let literal = ServerAddr {
            host: "127.0.0.1".into(),
            ..addr
        };
        assert!(matches!(
            connect(&literal, false, None).await,
            Err(ConnectError::Refused { .. })
        ));
        let c = connect(&literal, true, None).await.unwrap();
        assert_eq!(c.peer, sa(&format!("127.0.0.1:{port}")));
        assert!(!c.tls);
    }
}
