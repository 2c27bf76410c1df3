//! TLS configuration: PEM, PKCS#12 and the generated CA, each used for a
//! real handshake.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;
use std::sync::Arc;

use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use pontoon_xmpp::tls::{self, TlsError, TlsOrigin, TlsSource};
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::ServerName;
use support::{DOMAIN, client_tls, temp_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A self-signed certificate for DOMAIN: (cert PEM, key PEM, cert DER, key DER).
fn self_signed() -> (String, String, Vec<u8>, Vec<u8>) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![DOMAIN.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (
        cert.pem(),
        key.serialize_pem(),
        cert.der().to_vec(),
        key.serialize_der(),
    )
}

/// Handshake against `config`, trusting `trust` (a PEM file), and echo a
/// byte through.
async fn handshake(config: Arc<rustls::ServerConfig>, trust: &Path) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let mut s = tokio_rustls::TlsAcceptor::from(config)
            .accept(tcp)
            .await
            .unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        s.write_all(&b).await.unwrap();
        s.flush().await.unwrap();
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut c = tokio_rustls::TlsConnector::from(client_tls(trust))
        .connect(ServerName::try_from(DOMAIN).unwrap(), tcp)
        .await
        .unwrap();
    c.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"x");
    server.await.unwrap();
}

#[tokio::test]
async fn pem_files() {
    let dir = temp_dir("pem");
    let (cert, key, _, _) = self_signed();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let setup = tls::load(&TlsSource::Pem {
        cert: cert_path.clone(),
        key: key_path.clone(),
    })
    .unwrap();
    assert_eq!(setup.origin, TlsOrigin::Pem);
    handshake(setup.config, &cert_path).await;

    // errors name the file
    let missing = dir.join("missing.pem");
    let e = tls::load(&TlsSource::Pem {
        cert: missing.clone(),
        key: key_path.clone(),
    })
    .unwrap_err();
    assert!(matches!(e, TlsError::Read { .. }));
    assert!(e.to_string().contains("missing.pem"), "{e}");
    let e = tls::load(&TlsSource::Pem {
        cert: key_path.clone(),
        key: key_path.clone(),
    })
    .unwrap_err();
    assert!(matches!(e, TlsError::NoCertificate { .. }), "{e:?}");
    assert!(e.to_string().contains("key.pem"));
    let e = tls::load(&TlsSource::Pem {
        cert: cert_path.clone(),
        key: cert_path.clone(),
    })
    .unwrap_err();
    assert!(matches!(e, TlsError::NoKey { .. }), "{e:?}");
    // a key that does not match the certificate
    let (_, other_key, _, _) = self_signed();
    let other = dir.join("other-key.pem");
    std::fs::write(&other, other_key).unwrap();
    let e = tls::load(&TlsSource::Pem {
        cert: cert_path,
        key: other,
    })
    .unwrap_err();
    assert!(matches!(e, TlsError::Rustls { .. }), "{e:?}");
    assert!(e.to_string().contains("other-key.pem"), "{e}");
}

/// A reload presents the new certificate from the next handshake on, with the same
/// configuration object (what the listeners hold); a failed reload keeps the old one.
#[tokio::test]
async fn reload_swaps_the_certificate_or_keeps_it() {
    let dir = temp_dir("reload");
    let write = |tag: &str| {
        let (cert, key, _, _) = self_signed();
        let (c, k) = (
            dir.join(format!("{tag}.pem")),
            dir.join(format!("{tag}-key.pem")),
        );
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        TlsSource::Pem { cert: c, key: k }
    };
    let trust = |s: &TlsSource| match s {
        TlsSource::Pem { cert, .. } => cert.clone(),
        _ => unreachable!(),
    };
    let (old, new) = (write("old"), write("new"));
    let setup = tls::load(&old).unwrap();
    handshake(setup.config.clone(), &trust(&old)).await;
    assert_eq!(setup.cert.reload(&new).unwrap(), TlsOrigin::Pem);
    handshake(setup.config.clone(), &trust(&new)).await;
    // A renewal caught half-written (key not yet matching) is refused and changes nothing.
    let TlsSource::Pem { cert, .. } = &old else {
        unreachable!()
    };
    let TlsSource::Pem { key, .. } = &new else {
        unreachable!()
    };
    let mismatched = TlsSource::Pem {
        cert: cert.clone(),
        key: key.clone(),
    };
    let e = setup.cert.reload(&mismatched).unwrap_err();
    assert!(matches!(e, TlsError::Rustls { .. }), "{e:?}");
    handshake(setup.config, &trust(&new)).await;
}

#[tokio::test]
async fn pkcs12_bundle() {
    let dir = temp_dir("p12");
    let (cert_pem, _, cert_der, key_der) = self_signed();
    let chain = PrivateKeyChain::new(
        "server",
        PrivateKey::from_der(&key_der).unwrap(),
        [Certificate::from_der(&cert_der).unwrap()],
    );
    let mut store = KeyStore::new();
    store.add_entry("server", KeyStoreEntry::PrivateKeyChain(chain));
    let bundle = store.writer("s3cret").write().unwrap();
    let path = dir.join("server.p12");
    std::fs::write(&path, bundle).unwrap();
    let trust = dir.join("trust.pem");
    std::fs::write(&trust, cert_pem).unwrap();

    let source = TlsSource::Pkcs12 {
        path: path.clone(),
        password: "s3cret".into(),
    };
    assert!(!format!("{source:?}").contains("s3cret"));
    let setup = tls::load(&source).unwrap();
    assert_eq!(setup.origin, TlsOrigin::Pkcs12);
    handshake(setup.config, &trust).await;

    let e = tls::load(&TlsSource::Pkcs12 {
        path: path.clone(),
        password: "wrong".into(),
    })
    .unwrap_err();
    assert!(matches!(e, TlsError::Pkcs12 { .. }), "{e:?}");
    assert!(e.to_string().contains("server.p12"), "{e}");
    assert!(e.to_string().contains("password"), "{e}");
    let e = tls::load(&TlsSource::Pkcs12 {
        path: trust,
        password: "x".into(),
    })
    .unwrap_err();
    assert!(matches!(e, TlsError::Pkcs12 { .. }), "{e:?}");
}

#[tokio::test]
async fn generated_ca_is_created_once_and_reused() {
    let dir = temp_dir("gen").join("tls");
    let source = |domains: &[&str]| TlsSource::Generated {
        dir: dir.clone(),
        domains: domains.iter().map(|d| (*d).to_owned()).collect(),
        include_localhost: true,
    };
    let ca = dir.join(tls::generated::CA_CERT);
    let first = tls::load(&source(&[DOMAIN])).unwrap();
    assert_eq!(first.origin, TlsOrigin::GeneratedCa { ca: ca.clone() });
    handshake(first.config, &ca).await;
    let ca_pem = std::fs::read(&ca).unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [tls::generated::CA_KEY, tls::generated::SERVER_KEY] {
            let mode = std::fs::metadata(dir.join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    let again = tls::load(&source(&[DOMAIN])).unwrap();
    assert_eq!(again.origin, TlsOrigin::Reused { ca: ca.clone() });
    handshake(again.config, &ca).await;

    // another domain: the same CA issues a new server certificate
    let more = tls::load(&source(&[DOMAIN, "other.test"])).unwrap();
    assert_eq!(
        more.origin,
        TlsOrigin::GeneratedServerCert { ca: ca.clone() }
    );
    assert_eq!(std::fs::read(&ca).unwrap(), ca_pem);
    handshake(more.config, &ca).await;
}
