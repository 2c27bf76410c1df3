//! TLS server configuration for server mode (STARTTLS and XEP-0368 direct TLS).
//!
//! Three sources, as the operator configures them:
//! - PEM files: a certificate chain (leaf first) and a private key;
//! - a PKCS#12 bundle with its password (what Spectrum 2 takes);
//! - a local CA generated on first start for the embedded default: the CA
//!   and a server certificate for the served domains are written to a
//!   directory and reused afterwards, so clients trust `ca.pem` once.
//!
//! [`load`] returns the rustls configuration together with the
//! [`TlsOrigin`], so the binary can tell the operator which case applied
//! (and, for a generated CA, which file clients must trust). Every error
//! names the file it is about. Files are read with a size bound: a
//! certificate, key or bundle is never more than [`MAX_FILE_BYTES`].
//!
//! The provider is aws-lc-rs, the one the rest of the workspace uses (the
//! default of rustls and tokio-rustls, and rcgen's `aws_lc_rs` feature),
//! passed explicitly so the configuration does not depend on a process-wide
//! default provider being installed.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use zeroize::Zeroizing;

mod reload;
pub use reload::CertSlot;

/// Largest certificate, key or PKCS#12 file accepted (a long chain is a
/// few KiB; this only stops reading a wrong, huge file).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// ALPN protocol id of XMPP client streams over direct TLS (XEP-0368).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";

/// File names inside the directory of a generated CA.
pub mod generated {
    /// The CA certificate clients must trust.
    pub const CA_CERT: &str = "ca.pem";
    /// The CA's private key (mode 0600).
    pub const CA_KEY: &str = "ca-key.pem";
    /// The server certificate, followed by the CA certificate.
    pub const SERVER_CERT: &str = "server.pem";
    /// The server's private key (mode 0600).
    pub const SERVER_KEY: &str = "server-key.pem";
    /// What the server certificate was issued for (names, expiry), so a
    /// change of served domains or an approaching expiry re-issues it.
    pub const SERVER_META: &str = "server.meta";
}

/// Validity of a generated CA certificate.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Validity of a generated server certificate (under the 398 days some
/// clients accept at most).
const SERVER_VALIDITY: Duration = Duration::from_secs(397 * 24 * 3600);
/// A generated server certificate is re-issued when less than this is left.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// Subject common name of the generated CA.
const CA_NAME: &str = "Pontoon local CA";

/// A Unix time as the date type rcgen uses. A macro because that type
/// lives in the `time` crate, which Pontoon does not depend on directly.
macro_rules! unix_time {
    ($secs:expr) => {
        rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs($secs)
    };
}

/// Where the server's certificate and key come from.
#[derive(Clone)]
pub enum TlsSource {
    /// PEM files: `cert` holds the chain, leaf first; `key` a PKCS#8,
    /// PKCS#1 or SEC1 private key.
    Pem {
        /// The certificate chain file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
    },
    /// A PKCS#12 bundle (`.p12` / `.pfx`) with its password.
    Pkcs12 {
        /// The bundle file.
        path: PathBuf,
        /// Its password (redacted in `Debug`).
        password: String,
    },
    /// A local CA and server certificate, generated in `dir` on first use
    /// and reused afterwards.
    Generated {
        /// Directory for the CA and the server certificate (created with
        /// mode 0700 if missing).
        dir: PathBuf,
        /// Names the server certificate is issued for (the served domains).
        domains: Vec<String>,
        /// Also issue for `localhost`, `127.0.0.1` and `::1` (the embedded
        /// default on loopback).
        include_localhost: bool,
    },
}

impl fmt::Debug for TlsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsSource::Pem { cert, key } => f
                .debug_struct("Pem")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            TlsSource::Pkcs12 { path, .. } => f
                .debug_struct("Pkcs12")
                .field("path", path)
                .field("password", &"<redacted>")
                .finish(),
            TlsSource::Generated {
                dir,
                domains,
                include_localhost,
            } => f
                .debug_struct("Generated")
                .field("dir", dir)
                .field("domains", domains)
                .field("include_localhost", include_localhost)
                .finish(),
        }
    }
}

/// Which case applied in [`load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsOrigin {
    /// Loaded from PEM files.
    Pem,
    /// Loaded from a PKCS#12 bundle.
    Pkcs12,
    /// A new local CA was generated now (first start): clients must be
    /// told to trust `ca`.
    GeneratedCa {
        /// Path of the CA certificate clients must trust.
        ca: PathBuf,
    },
    /// The CA existed; the server certificate was (re-)issued because it
    /// was missing, expiring, or for other names.
    GeneratedServerCert {
        /// Path of the CA certificate clients must trust.
        ca: PathBuf,
    },
    /// The generated CA and server certificate were reused as they were.
    Reused {
        /// Path of the CA certificate clients must trust.
        ca: PathBuf,
    },
}

/// A server TLS configuration and where it came from.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    /// The rustls configuration for the c2s listeners.
    pub config: Arc<ServerConfig>,
    /// Which source applied.
    pub origin: TlsOrigin,
    /// The certificate the configuration presents; [`CertSlot::reload`] replaces it.
    pub cert: Arc<CertSlot>,
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A file is larger than [`MAX_FILE_BYTES`].
    #[error("{} is larger than {MAX_FILE_BYTES} bytes; is it the right file?", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A file holds no certificate.
    #[error("{} contains no PEM certificate", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// A file holds no private key.
    #[error("{} contains no PEM private key", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// A PEM file is malformed.
    #[error("{} is not valid PEM: {reason}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A PKCS#12 bundle could not be opened (wrong password, unsupported
    /// algorithm, not PKCS#12) or holds no key with certificates.
    #[error("{}: {reason}", path.display())]
    Pkcs12 {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the certificate and key (e.g. the key does not
    /// match the certificate, or an unsupported key type).
    #[error("{what}: {source}")]
    Rustls {
        /// Which files.
        what: String,
        /// The cause.
        source: rustls::Error,
    },
    /// Generating a CA or certificate failed.
    #[error("cannot generate a certificate in {}: {reason}", dir.display())]
    Generate {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        reason: String,
    },
}

/// Build the server TLS configuration from `source`.
///
/// Blocking (file I/O, key generation): call it at start-up or from
/// `spawn_blocking`.
pub fn load(source: &TlsSource) -> Result<TlsSetup, TlsError> {
    let (key, origin) = certified_key(source)?;
    let cert = Arc::new(CertSlot::new(key));
    let config = server_config(cert.clone()).map_err(|source| TlsError::Rustls {
        what: "the TLS configuration".to_owned(),
        source,
    })?;
    Ok(TlsSetup {
        config,
        origin,
        cert,
    })
}

/// Reads the certificate and key `source` names (generating them first for
/// [`TlsSource::Generated`] when missing or expiring) and checks they match.
pub(crate) fn certified_key(
    source: &TlsSource,
) -> Result<(Arc<CertifiedKey>, TlsOrigin), TlsError> {
    match source {
        TlsSource::Pem { cert, key } => {
            let what = || format!("{} with {}", cert.display(), key.display());
            let k = pair(read_pem_chain(cert)?, read_pem_key(key)?, what)?;
            Ok((k, TlsOrigin::Pem))
        }
        TlsSource::Pkcs12 { path, password } => {
            let (chain, key) = read_pkcs12(path, password)?;
            let k = pair(chain, key, || path.display().to_string())?;
            Ok((k, TlsOrigin::Pkcs12))
        }
        TlsSource::Generated {
            dir,
            domains,
            include_localhost,
        } => {
            let mut names: Vec<String> = domains.clone();
            if *include_localhost {
                names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
            }
            names.dedup();
            let origin = ensure_generated(dir, &names)?;
            let cert = dir.join(generated::SERVER_CERT);
            let key = dir.join(generated::SERVER_KEY);
            let what = || format!("{} with {}", cert.display(), key.display());
            let k = pair(read_pem_chain(&cert)?, read_pem_key(&key)?, what)?;
            Ok((k, origin))
        }
    }
}

/// The crypto provider of every configuration here.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A chain and its key as rustls serves them, refused when the key is not the leaf
/// certificate's (`what` names the files for the error).
fn pair(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    what: impl FnOnce() -> String,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let rustls_err = |source| TlsError::Rustls {
        what: what(),
        source,
    };
    if chain.is_empty() {
        return Err(rustls_err(rustls::Error::NoCertificatesPresented));
    }
    CertifiedKey::from_der(chain, key, &provider())
        .map(Arc::new)
        .map_err(rustls_err)
}

/// A rustls server configuration (aws-lc-rs, TLS 1.2 and 1.3, no client
/// certificates, ALPN `xmpp-client` for XEP-0368) presenting `cert`'s
/// certificate, whichever it holds at each handshake.
pub fn server_config(cert: Arc<CertSlot>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    // Clients that offer no ALPN (all STARTTLS clients) are unaffected.
    config.alpn_protocols = vec![ALPN_XMPP_CLIENT.to_vec()];
    Ok(Arc::new(config))
}

/// Read a whole file of at most [`MAX_FILE_BYTES`].
fn read_bounded(path: &Path) -> Result<Zeroizing<Vec<u8>>, TlsError> {
    let read_err = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(read_err)?;
    // Zeroizing: key material does not linger in freed memory.
    let mut data = Zeroizing::new(Vec::new());
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(read_err)?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(data)
}

/// Read every certificate of a PEM file (leaf first).
pub fn read_pem_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = read_bounded(path)?;
    let mut chain = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&data) {
        chain.push(cert.map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            reason: e.to_string(),
        })?);
    }
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

/// Read the first private key of a PEM file.
pub fn read_pem_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = read_bounded(path)?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        other => TlsError::Pem {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    })
}

/// Read the first key with its certificate chain from a PKCS#12 bundle.
pub fn read_pkcs12(
    path: &Path,
    password: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let data = read_bounded(path)?;
    let p12_err = |reason: String| TlsError::Pkcs12 {
        path: path.to_owned(),
        reason,
    };
    let store = p12_keystore::KeyStore::from_pkcs12(
        &data,
        password,
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => {
            p12_err("wrong password (or the bundle is damaged)".to_owned())
        }
        other => p12_err(format!("cannot open the PKCS#12 bundle: {other}")),
    })?;
    let Some((_, chain)) = store.private_key_chain() else {
        return Err(p12_err(
            "the bundle holds no private key with its certificate".to_owned(),
        ));
    };
    let certs: Vec<CertificateDer<'static>> = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    if certs.is_empty() {
        return Err(p12_err("the bundle's key has no certificate".to_owned()));
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok((certs, key))
}

/// What a generated server certificate was issued for.
#[derive(Debug, PartialEq, Eq)]
struct ServerMeta {
    names: Vec<String>,
    not_after_unix: u64,
}

impl ServerMeta {
    fn render(&self) -> String {
        let mut s = format!("not_after={}\n", self.not_after_unix);
        for n in &self.names {
            s.push_str("name=");
            s.push_str(n);
            s.push('\n');
        }
        s
    }

    fn parse(s: &str) -> Option<Self> {
        let mut names = Vec::new();
        let mut not_after = None;
        for line in s.lines() {
            if let Some(v) = line.strip_prefix("not_after=") {
                not_after = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("name=") {
                names.push(v.trim().to_owned());
            }
        }
        Some(Self {
            names,
            not_after_unix: not_after?,
        })
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Make sure `dir` holds a CA and a server certificate for `names`.
fn ensure_generated(dir: &Path, names: &[String]) -> Result<TlsOrigin, TlsError> {
    create_private_dir(dir)?;
    let gen_err = |reason: String| TlsError::Generate {
        dir: dir.to_owned(),
        reason,
    };
    let ca_path = dir.join(generated::CA_CERT);
    let ca_key_path = dir.join(generated::CA_KEY);
    let (ca_key, ca_pem, new_ca) = if ca_path.exists() && ca_key_path.exists() {
        let key_pem = read_bounded(&ca_key_path)?;
        let key_pem = std::str::from_utf8(&key_pem).map_err(|_| TlsError::Pem {
            path: ca_key_path.clone(),
            reason: "not UTF-8".into(),
        })?;
        let key = KeyPair::from_pem(key_pem).map_err(|e| TlsError::Pem {
            path: ca_key_path.clone(),
            reason: e.to_string(),
        })?;
        let ca_pem = read_bounded(&ca_path)?;
        let ca_pem = String::from_utf8(ca_pem.to_vec()).map_err(|_| TlsError::Pem {
            path: ca_path.clone(),
            reason: "not UTF-8".into(),
        })?;
        (key, ca_pem, false)
    } else {
        let key = KeyPair::generate().map_err(|e| gen_err(e.to_string()))?;
        let cert = ca_params()
            .self_signed(&key)
            .map_err(|e| gen_err(e.to_string()))?;
        write_file(&ca_key_path, key.serialize_pem().as_bytes(), true)?;
        write_file(&ca_path, cert.pem().as_bytes(), false)?;
        (key, cert.pem(), true)
    };

    let meta_path = dir.join(generated::SERVER_META);
    let current = fs::read_to_string(&meta_path)
        .ok()
        .and_then(|s| ServerMeta::parse(&s));
    let fresh = current.as_ref().is_some_and(|m| {
        m.names == names && m.not_after_unix > now_unix().saturating_add(RENEW_BEFORE.as_secs())
    });
    let server_files =
        dir.join(generated::SERVER_CERT).exists() && dir.join(generated::SERVER_KEY).exists();
    if !new_ca && fresh && server_files {
        return Ok(TlsOrigin::Reused { ca: ca_path });
    }

    // The issuer is rebuilt from the same parameters (same subject) and the
    // stored CA key, which is all signing needs.
    let issuer = Issuer::new(ca_params(), ca_key);
    let server_key = KeyPair::generate().map_err(|e| gen_err(e.to_string()))?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(|e| gen_err(e.to_string()))?;
    let cn = names.first().map_or("pontoon", String::as_str);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.use_authority_key_identifier_extension = true;
    params.key_usages.push(KeyUsagePurpose::DigitalSignature);
    params
        .extended_key_usages
        .push(ExtendedKeyUsagePurpose::ServerAuth);
    let now = now_unix();
    params.not_before = unix_time!(now.saturating_sub(3600));
    let not_after = now.saturating_add(SERVER_VALIDITY.as_secs());
    params.not_after = unix_time!(not_after);
    let cert = params
        .signed_by(&server_key, &issuer)
        .map_err(|e| gen_err(e.to_string()))?;
    write_file(
        &dir.join(generated::SERVER_KEY),
        server_key.serialize_pem().as_bytes(),
        true,
    )?;
    // Chain: leaf then CA, so clients that only trust the CA get the path.
    let chain = format!("{}{}", cert.pem(), ca_pem);
    write_file(&dir.join(generated::SERVER_CERT), chain.as_bytes(), false)?;
    let meta = ServerMeta {
        names: names.to_vec(),
        not_after_unix: not_after,
    };
    write_file(&meta_path, meta.render().as_bytes(), false)?;
    Ok(if new_ca {
        TlsOrigin::GeneratedCa { ca: ca_path }
    } else {
        TlsOrigin::GeneratedServerCert { ca: ca_path }
    })
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Pontoon");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = now_unix();
    params.not_before = unix_time!(now.saturating_sub(3600));
    params.not_after = unix_time!(now.saturating_add(CA_VALIDITY.as_secs()));
    params
}

fn create_private_dir(dir: &Path) -> Result<(), TlsError> {
    let write_err = |source| TlsError::Write {
        path: dir.to_owned(),
        source,
    };
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(write_err)
}

/// Write `data` to `path` through a temporary file and a rename (no
/// half-written key after a crash); `private` files get mode 0600 from
/// the start.
fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    let write_err = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(&tmp).map_err(write_err)?;
    f.write_all(data).map_err(write_err)?;
    f.sync_all().map_err(write_err)?;
    drop(f);
    fs::rename(&tmp, path).map_err(write_err)
}
