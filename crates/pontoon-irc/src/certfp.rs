//! The user's client certificate for CertFP: made by the gateway when the user asks
//! (`set client-certificate generate`), kept in their settings (encrypted at rest with the
//! rest of them), presented on TLS connections to the network, and used for SASL
//! EXTERNAL. Services know a certificate by its fingerprint, which the user registers
//! once (`/msg NickServ CERT ADD <fingerprint>` on Atheme and Anope, or while connected
//! with it, `CERT ADD` alone).
//!
//! The key is ECDSA P-256: small enough for a setting, accepted by GnuTLS and OpenSSL
//! servers, and the key type the TLS stack already uses. Networks name fingerprints by
//! different hashes (SHA-1 on OFTC, SHA-256 on InspIRCd and Atheme, SHA-512 on Libera's
//! documentation), so all three are shown.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha1::Digest;

/// The word that asks for a new certificate.
pub const GENERATE: &str = "generate";

/// What a client certificate setting cannot be.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Making the key or the certificate failed.
    #[error("the certificate could not be made: {0}")]
    Generate(String),
    /// The stored value is not a key and a certificate.
    #[error("the stored client certificate is damaged; set a new one")]
    Damaged,
}

/// A certificate and its key, as rustls takes them.
pub struct ClientCert {
    /// The certificate (one, self-signed).
    pub chain: Vec<CertificateDer<'static>>,
    /// Its private key.
    pub key: PrivateKeyDer<'static>,
}

// Hand-written so that the key never reaches a log.
impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert")
            .field("sha256", &self.chain.first().map(sha256))
            .finish_non_exhaustive()
    }
}

/// A new key and a self-signed certificate for it, as the PEM text stored in the setting
/// (key first, then certificate).
pub fn generate() -> Result<String, CertError> {
    let fail = |e: rcgen::Error| CertError::Generate(e.to_string());
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Pontoon IRC client certificate");
    // Services check the fingerprint, not the dates; a long life spares the user a
    // re-registration.
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok(format!("{}{}", key.serialize_pem(), cert.pem()))
}

/// The certificate and key of a stored value.
pub fn parse(pem: &str) -> Result<ClientCert, CertError> {
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| CertError::Damaged)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|_| CertError::Damaged)?;
    if chain.is_empty() {
        return Err(CertError::Damaged);
    }
    Ok(ClientCert { chain, key })
}

/// The certificate's fingerprints, as the user registers them with services.
pub fn fingerprints(pem: &str) -> Result<String, CertError> {
    let cert = parse(pem)?;
    let der = cert.chain.first().ok_or(CertError::Damaged)?;
    Ok(format!(
        "SHA-256 {}; SHA-512 {}; SHA-1 {}",
        hex(&sha2::Sha256::digest(der)),
        hex(&sha2::Sha512::digest(der)),
        hex(&sha1::Sha1::digest(der)),
    ))
}

/// The SHA-256 fingerprint of a certificate, as InspIRCd and Atheme show it.
pub fn sha256(der: &CertificateDer<'_>) -> String {
    hex(&sha2::Sha256::digest(der))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_generated_certificate_parses_and_has_fingerprints() {
        let pem = generate().unwrap();
        assert!(
            pem.len() < pontoon_core::settings::MAX_VALUE,
            "{}",
            pem.len()
        );
        let cert = parse(&pem).unwrap();
        assert_eq!(cert.chain.len(), 1);
        let fp = fingerprints(&pem).unwrap();
        let sha256 = fp.split(';').next().unwrap().trim_start_matches("SHA-256 ");
        assert_eq!(sha256.len(), 64, "{fp}");
        assert!(!format!("{cert:?}").contains("PRIVATE"), "{cert:?}");
        assert_ne!(pem, generate().unwrap(), "each certificate is new");
    }

    #[test]
    fn garbage_is_damaged() {
        assert!(matches!(parse("not a pem"), Err(CertError::Damaged)));
        let key_only = generate().unwrap();
        let key_only = key_only.split("-----BEGIN CERTIFICATE").next().unwrap();
        assert!(matches!(parse(key_only), Err(CertError::Damaged)));
    }
}
