//! Secrets at rest: key-value entries marked secret are sealed with
//! XChaCha20-Poly1305 under a key kept in a file of its own (mode 0600),
//! created at first start. The entry's row key is the associated data, so a
//! sealed value copied under another key does not open.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, Generate, Key, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::error::OpenError;

const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;

/// The cipher for secret values.
pub(crate) struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// Reads the key file at `path`, creating it with a fresh random key if
    /// it does not exist. A key file others can read is refused.
    pub(crate) fn load_or_create(path: &Path) -> Result<Self, OpenError> {
        let refuse = |message: String| OpenError::SecretKey { path: path.to_owned(), message };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => {
                check_private(path).map_err(refuse)?;
                bytes
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                create(path).map_err(|e| refuse(format!("cannot create: {e}")))?
            }
            Err(error) => return Err(refuse(format!("cannot read: {error}"))),
        };
        let key: [u8; KEY_BYTES] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| refuse(format!("expected {KEY_BYTES} bytes, found {}", bytes.len())))?;
        Ok(Self { cipher: XChaCha20Poly1305::new(&Key::<XChaCha20Poly1305>::from(key)) })
    }

    /// Seals `plaintext`, bound to `row` (the entry's key in the table).
    pub(crate) fn seal(&self, row: &str, plaintext: &str) -> Result<Vec<u8>, String> {
        let nonce =
            XNonce::try_generate().map_err(|e| format!("no randomness for a nonce: {e}"))?;
        let sealed = self
            .cipher
            .encrypt(&nonce, Payload { msg: plaintext.as_bytes(), aad: row.as_bytes() })
            .map_err(|_| "encryption failed".to_owned())?;
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`SecretKey::seal`] produced for the same `row`.
    pub(crate) fn open(&self, row: &str, sealed: &[u8]) -> Option<String> {
        let (nonce, ciphertext) = sealed.split_at_checked(NONCE_BYTES)?;
        let nonce = XNonce::try_from(nonce).ok()?;
        let plaintext =
            self.cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: row.as_bytes() }).ok()?;
        String::from_utf8(plaintext).ok()
    }
}

/// The default key file: beside the database, `<db file>.key`.
pub(crate) fn default_key_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_owned();
    name.push(".key");
    db.with_file_name(name)
}

fn create(path: &Path) -> std::io::Result<Vec<u8>> {
    let key = <[u8; KEY_BYTES]>::try_generate().map_err(std::io::Error::other)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(&key)?;
    file.sync_all()?;
    Ok(key.to_vec())
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        std::fs::metadata(path).map_err(|e| format!("cannot stat: {e}"))?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "mode {:o} lets other users read the key; expected 600 (chmod 600 {})",
            mode & 0o777,
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}
