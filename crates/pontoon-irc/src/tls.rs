//! Opening the byte stream to an IRC server: TCP, optionally wrapped in TLS.
//!
//! TLS uses rustls with the Mozilla roots (webpki-roots), so it does not depend on the
//! host's certificate store. Certificate checks are only skipped when the operator said so
//! (`tls_verify = false`), never on a user's request.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

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

fn build_config(verify: bool) -> Option<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .ok()?;
    let config = if verify {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider())))
            .with_no_client_auth()
    };
    Some(Arc::new(config))
}

fn client_config(verify: bool) -> Option<Arc<ClientConfig>> {
    static VERIFIED: OnceLock<Option<Arc<ClientConfig>>> = OnceLock::new();
    static UNVERIFIED: OnceLock<Option<Arc<ClientConfig>>> = OnceLock::new();
    let cell = if verify { &VERIFIED } else { &UNVERIFIED };
    cell.get_or_init(|| build_config(verify)).clone()
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

/// Connects to `addr` (the caller bounds the time this takes).
pub async fn connect(addr: &ServerAddr) -> Result<Box<dyn Stream>, ConnectError> {
    let tcp = TcpStream::connect((addr.host.as_str(), addr.port))
        .await
        .map_err(|source| ConnectError::Tcp {
            host: addr.host.clone(),
            port: addr.port,
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    if !addr.tls {
        return Ok(Box::new(tcp));
    }
    let config = client_config(addr.verify_cert).ok_or(ConnectError::Setup)?;
    let name = ServerName::try_from(addr.host.clone())
        .map_err(|_| ConnectError::ServerName(addr.host.clone()))?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|source| ConnectError::Tls {
            host: addr.host.clone(),
            source,
        })?;
    Ok(Box::new(tls))
}
