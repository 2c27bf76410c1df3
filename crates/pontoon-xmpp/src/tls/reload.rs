//! [`CertSlot`]: the certificate the c2s listeners present, replaceable while they run,
//! so renewing a certificate (SIGHUP after certbot, say) does not drop connected users.
//!
//! rustls asks a [`ResolvesServerCert`] for the certificate at every handshake; this one
//! hands out whatever the slot holds. Connections already established keep the session
//! they negotiated; new ones get the new certificate.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{TlsError, TlsOrigin, TlsSource, certified_key};

/// The certificate and key presented to clients (see the module docs).
pub struct CertSlot {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertSlot {
    /// A slot holding `key`.
    pub(crate) fn new(key: Arc<CertifiedKey>) -> CertSlot {
        CertSlot {
            current: RwLock::new(key),
        }
    }

    /// Reads `source` again and, when it yields a valid certificate and matching key,
    /// presents it from the next handshake on. On error the slot keeps the certificate it
    /// had, so a half-written renewal never takes the listeners down.
    ///
    /// Blocking (file I/O, maybe key generation): call it from `spawn_blocking`.
    pub fn reload(&self, source: &TlsSource) -> Result<TlsOrigin, TlsError> {
        let (key, origin) = certified_key(source)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(origin)
    }

    /// The DER of the leaf certificate presented now (for logs and tests).
    pub fn leaf(&self) -> Option<rustls::pki_types::CertificateDer<'static>> {
        self.key().cert.first().cloned()
    }

    fn key(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key())
    }
}

impl fmt::Debug for CertSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertSlot")
            .field("chain_len", &self.key().cert.len())
            .finish()
    }
}
