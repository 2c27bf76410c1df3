//! Encryption of legacy credentials at rest.
//!
//! Legacy passwords must be recoverable (the gateway logs in to the legacy network with
//! them), so they are encrypted, not hashed: XChaCha20-Poly1305 with a random 24-byte
//! nonce per write, which is safe to generate randomly (no nonce bookkeeping across
//! instances sharing one PostgreSQL store). The associated data binds a ciphertext to its
//! row (`jid \0 transport`), so a blob copied into another user's row does not decrypt.
//! Stored format: `nonce (24 bytes) || ciphertext+tag`.
//!
//! The key comes from a file created on first start with mode 0600, or from the
//! `PONTOON_STORE_KEY` environment variable (base64).

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, Generate, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};

use crate::error::StoreError;

/// Length of the key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the XChaCha20 nonce prefixed to every stored ciphertext.
pub const NONCE_LEN: usize = 24;

/// The 32-byte XChaCha20-Poly1305 key that encrypts legacy secrets in the store.
///
/// `Debug` never shows the bytes.
#[derive(Clone)]
pub struct StoreKey([u8; KEY_LEN]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    /// Reads a key file (32 raw bytes, or base64 text of 32 bytes, surrounding whitespace
    /// ignored); if the file is missing, creates it with a fresh random key written as
    /// base64 text plus newline (so it can be copied into `PONTOON_STORE_KEY`), with mode
    /// 0600, creating missing parent directories with mode 0700. The new file is synced to
    /// disk before returning: losing the key loses every stored secret.
    ///
    /// Refuses (error) a file of the wrong length. Warns via `tracing` if an existing file
    /// is readable or writable by group or others.
    pub fn load_or_create(path: &Path) -> Result<StoreKey, StoreError> {
        match fs::read(path) {
            Ok(bytes) => {
                warn_if_loose(path);
                Self::parse_file(path, &bytes)
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(e.into()),
        }
    }

    /// Decodes a key from base64 text (standard or URL-safe alphabet, padding optional),
    /// e.g. the `PONTOON_STORE_KEY` environment variable. Must decode to exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<StoreKey, StoreError> {
        let s = s.trim();
        let decoded = STANDARD
            .decode(s)
            .or_else(|_| URL_SAFE.decode(s))
            .or_else(|_| URL_SAFE_NO_PAD.decode(s))
            .map_err(|_| StoreError::Key("not valid base64".to_owned()))?;
        Self::from_slice(&decoded)
    }

    /// Builds a key from raw bytes; must be exactly 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> StoreKey {
        StoreKey(bytes)
    }

    /// Generates a fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Result<StoreKey, StoreError> {
        let key = Key::try_generate()
            .map_err(|_| StoreError::Key("operating system random generator failed".to_owned()))?;
        Ok(StoreKey(key.into()))
    }

    /// The key as base64 text (standard alphabet, padded).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn from_slice(bytes: &[u8]) -> Result<StoreKey, StoreError> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
            StoreError::Key(format!(
                "expected {KEY_LEN} bytes, got {} bytes",
                bytes.len()
            ))
        })?;
        Ok(StoreKey(arr))
    }

    fn parse_file(path: &Path, bytes: &[u8]) -> Result<StoreKey, StoreError> {
        if bytes.len() == KEY_LEN {
            return Self::from_slice(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| {
            StoreError::Key(format!(
                "key file {} is neither {KEY_LEN} raw bytes ({} bytes) nor base64 text",
                path.display(),
                bytes.len()
            ))
        })?;
        Self::from_base64(text).map_err(|e| match e {
            StoreError::Key(msg) => StoreError::Key(format!("key file {}: {msg}", path.display())),
            other => other,
        })
    }

    fn create(path: &Path) -> Result<StoreKey, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
        let key = Self::generate()?;
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(f) => f,
            // Someone (another instance) created it in between: use theirs.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let bytes = fs::read(path)?;
                return Self::parse_file(path, &bytes);
            }
            Err(e) => return Err(e.into()),
        };
        let mut text = key.to_base64();
        text.push('\n');
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Make the new directory entry durable too; best effort.
            if let Ok(dir) = fs::File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        tracing::info!(path = %path.display(), "created a new store key file");
        Ok(key)
    }

    /// Writes this key to `path`, a new file (mode 0600, synced to disk); an existing file is
    /// an error, never overwritten.
    pub fn write_new(&self, path: &Path) -> Result<(), StoreError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let mut text = self.to_base64();
        text.push('\n');
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(())
    }

    pub(crate) fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(self.0))
    }
}

fn warn_if_loose(path: &Path) {
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "store key file is accessible by group or others; chmod 600 it"
            );
        }
    }
}

/// Associated data binding a secret to its registration row.
pub(crate) fn registration_aad(jid: &str, transport: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(jid.len() + 1 + transport.len());
    aad.extend_from_slice(jid.as_bytes());
    aad.push(0);
    aad.extend_from_slice(transport.as_bytes());
    aad
}

/// Encrypts `plaintext` with a fresh random nonce; returns `nonce || ciphertext`.
pub(crate) fn seal(
    cipher: &XChaCha20Poly1305,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let nonce = XNonce::try_generate()
        .map_err(|_| StoreError::Crypto("operating system random generator failed"))?;
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| StoreError::Crypto("encryption failed"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypts a `nonce || ciphertext` blob written by [`seal`].
pub(crate) fn open(
    cipher: &XChaCha20Poly1305,
    aad: &[u8],
    blob: &[u8],
) -> Result<Vec<u8>, StoreError> {
    if blob.len() < NONCE_LEN {
        return Err(StoreError::Crypto("stored secret is truncated"));
    }
    let (nonce, ct) = blob.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| StoreError::Crypto("bad nonce length"))?;
    cipher
        .decrypt(&nonce, Payload { msg: ct, aad })
        .map_err(|_| StoreError::Crypto("authentication failed (wrong key or tampered row)"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(b: u8) -> StoreKey {
        StoreKey::from_bytes([b; KEY_LEN])
    }

    #[test]
    fn round_trip() {
        let c = key(1).cipher();
        let aad = registration_aad("alice@example.org", "irc");
        let blob = seal(&c, &aad, b"hunter2").unwrap();
        assert_eq!(blob.len(), NONCE_LEN + 7 + 16);
        assert_eq!(open(&c, &aad, &blob).unwrap(), b"hunter2");
        // Fresh nonce each time.
        let blob2 = seal(&c, &aad, b"hunter2").unwrap();
        assert_ne!(blob, blob2);
    }

    #[test]
    fn wrong_key_fails() {
        let aad = registration_aad("alice@example.org", "irc");
        let blob = seal(&key(1).cipher(), &aad, b"hunter2").unwrap();
        assert!(matches!(
            open(&key(2).cipher(), &aad, &blob),
            Err(StoreError::Crypto(_))
        ));
    }

    #[test]
    fn aad_mismatch_fails() {
        let c = key(1).cipher();
        let blob = seal(&c, &registration_aad("alice@example.org", "irc"), b"pw").unwrap();
        for (jid, t) in [("bob@example.org", "irc"), ("alice@example.org", "test")] {
            assert!(matches!(
                open(&c, &registration_aad(jid, t), &blob),
                Err(StoreError::Crypto(_))
            ));
        }
        // Ambiguity check: "a\0b" + "c" vs "a" + "b\0c" can't be formed by JIDs, but the
        // separator still keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(registration_aad("ab", "c"), registration_aad("a", "bc"));
    }

    #[test]
    fn tampered_or_truncated_fails() {
        let c = key(1).cipher();
        let aad = registration_aad("a@b", "irc");
        let mut blob = seal(&c, &aad, b"pw").unwrap();
        let last = blob.len() - 1;
        blob[last] ^= 1;
        assert!(open(&c, &aad, &blob).is_err());
        assert!(open(&c, &aad, &blob[..10]).is_err());
    }

    #[test]
    fn debug_hides_bytes() {
        assert_eq!(format!("{:?}", key(0x41)), "StoreKey(..)");
    }

    #[test]
    fn base64_round_trip_and_length() {
        let k = StoreKey::generate().unwrap();
        let k2 = StoreKey::from_base64(&k.to_base64()).unwrap();
        assert_eq!(k.0, k2.0);
        assert!(matches!(
            StoreKey::from_base64(&STANDARD.encode([0u8; 16])),
            Err(StoreError::Key(_))
        ));
        assert!(matches!(
            StoreKey::from_base64("not base64 !!"),
            Err(StoreError::Key(_))
        ));
    }

    #[test]
    fn key_file_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/store.key");
        let k1 = StoreKey::load_or_create(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let k2 = StoreKey::load_or_create(&path).unwrap();
        assert_eq!(k1.0, k2.0);
    }

    #[test]
    fn key_file_raw_bytes_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.key");
        fs::write(&path, [7u8; KEY_LEN]).unwrap();
        let k = StoreKey::load_or_create(&path).unwrap();
        assert_eq!(k.0, [7u8; KEY_LEN]);
    }

    #[test]
    fn key_file_wrong_length_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.key");
        fs::write(&path, [7u8; 31]).unwrap();
        assert!(matches!(
            StoreKey::load_or_create(&path),
            Err(StoreError::Key(_))
        ));
        fs::write(&path, STANDARD.encode([7u8; 33])).unwrap();
        assert!(matches!(
            StoreKey::load_or_create(&path),
            Err(StoreError::Key(_))
        ));
        // The bad file is left alone, not overwritten.
        assert_eq!(
            fs::read(&path).unwrap(),
            STANDARD.encode([7u8; 33]).as_bytes()
        );
    }
}
