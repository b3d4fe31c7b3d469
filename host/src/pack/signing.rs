//! Signatures in the WebAssembly tool-conventions format (the `wasmsign2`
//! crate): keys, signing a bundle, and verifying one against the operator's
//! trust keyring — telling apart unsigned, tampered and untrusted bundles,
//! since each calls for a different fix.
//!
//! Keys are Ed25519 in wasmsign2's own encoding (what `wasmsign2 keygen`
//! writes), so keys and signatures are interchangeable with that tool;
//! PEM, DER and OpenSSH public keys are read too.

use std::path::Path;

use sha2::{Digest, Sha256};
use wasmsign2::{Module, PublicKey, SecretKey, Section, WSError};

/// A secret key that signs bundles.
pub struct SigningKey(SecretKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct KeyError {
    /// The key file.
    pub path: std::path::PathBuf,
    /// What went wrong.
    pub message: String,
}

/// A new key pair: the secret key and its public key.
pub fn generate() -> (SigningKey, PublicKey) {
    let pair = wasmsign2::KeyPair::generate();
    (SigningKey(pair.sk), pair.pk)
}

impl SigningKey {
    /// Reads a secret key (wasmsign2 raw, PEM, DER or OpenSSH).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        SecretKey::from_any_file(path).map(Self).map_err(|e| KeyError {
            path: path.to_owned(),
            message: format!("not an Ed25519 secret key: {e}"),
        })
    }

    /// Writes the key in wasmsign2's raw encoding, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        write_private(path, &self.0.to_bytes())
            .map_err(|e| KeyError { path: path.to_owned(), message: e.to_string() })
    }

    /// Signs `bundle`, replacing any signature it had.
    pub fn sign(&self, bundle: &[u8]) -> Result<Vec<u8>, VerifyError> {
        let module = Module::deserialize(&mut &bundle[..]).map_err(malformed)?;
        let signed = self.0.sign(module, None).map_err(malformed)?;
        let mut out = Vec::with_capacity(bundle.len() + 128);
        signed.serialize(&mut out).map_err(malformed)?;
        Ok(out)
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Reads a public key file (wasmsign2 raw, PEM, DER or OpenSSH).
pub fn load_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let data = std::fs::read(path)
        .map_err(|e| KeyError { path: path.to_owned(), message: format!("cannot read: {e}") })?;
    public_key_from_bytes(&data).map_err(|message| KeyError { path: path.to_owned(), message })
}

/// Parses a public key in any of the accepted encodings.
pub fn public_key_from_bytes(data: &[u8]) -> Result<PublicKey, String> {
    PublicKey::from_any(data).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

/// Writes a public key in wasmsign2's raw encoding.
pub fn save_public_key(key: &PublicKey, path: &Path) -> Result<(), KeyError> {
    std::fs::write(path, key.to_bytes())
        .map_err(|e| KeyError { path: path.to_owned(), message: e.to_string() })
}

/// Short, stable identifier of a public key: the first 16 hex digits of
/// the sha256 of its encoding.
pub fn fingerprint(key: &PublicKey) -> String {
    hex::encode(&Sha256::digest(key.to_bytes())[..8])
}

/// A public key the operator trusts, under the name they gave it.
#[derive(Clone)]
pub struct TrustedKey {
    /// The operator's name for it (`squall trust add NAME`).
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedKey")
            .field("name", &self.name)
            .field("fingerprint", &fingerprint(&self.key))
            .finish()
    }
}

/// The keys bundles may be signed with.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<TrustedKey>,
}

/// Who signed a bundle that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Name of the trusted key.
    pub signer: String,
    /// Its fingerprint.
    pub fingerprint: String,
}

/// Why a bundle did not verify. Each variant has its own fix, so each has
/// its own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No signature section at all.
    #[error(
        "the bundle is not signed (sign it with `squall pack sign`, or pass --allow-unsigned for local development)"
    )]
    Unsigned,
    /// A trusted key signed it, but the bytes changed since.
    #[error(
        "the bundle was modified after `{signer}` signed it; its content does not match the signature"
    )]
    Tampered {
        /// The trusted key whose signature no longer matches.
        signer: String,
    },
    /// Signed, but by no key in the keyring.
    #[error(
        "the bundle is signed by a key that is not trusted here (add the publisher's key with `squall trust add`)"
    )]
    Untrusted,
    /// The signature section cannot be read.
    #[error("the bundle's signature cannot be read: {0}")]
    Malformed(String),
}

fn malformed(e: WSError) -> VerifyError {
    VerifyError::Malformed(e.to_string())
}

impl Keyring {
    /// A keyring of `keys`.
    pub fn new(keys: Vec<TrustedKey>) -> Self {
        Self { keys }
    }

    /// The keys, in the order given.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// Checks `bundle`'s signature against every trusted key.
    pub fn verify(&self, bundle: &[u8]) -> Result<Verified, VerifyError> {
        let header = signature_header(bundle)?;
        for trusted in &self.keys {
            match trusted.key.verify(&mut &bundle[..], None) {
                Ok(()) => {
                    return Ok(Verified {
                        signer: trusted.name.clone(),
                        fingerprint: fingerprint(&trusted.key),
                    });
                }
                Err(WSError::VerificationFailed) => {}
                Err(e) => return Err(malformed(e)),
            }
        }
        // Nothing verified. If a trusted key did sign the hashes in the
        // header, the content is what changed.
        for trusted in &self.keys {
            if signed_hashes_by(&header, &trusted.key) {
                return Err(VerifyError::Tampered { signer: trusted.name.clone() });
            }
        }
        Err(VerifyError::Untrusted)
    }
}

/// The signature data in front of `bundle`, or why there is none.
fn signature_header(bundle: &[u8]) -> Result<wasmsign2::SignatureData, VerifyError> {
    let mut reader = bundle;
    let stream = Module::init_from_reader(&mut reader).map_err(malformed)?;
    let first = Module::iterate(stream).map_err(malformed)?.next();
    match first {
        Some(Ok(Section::Custom(custom))) if custom.is_signature_header() => {
            custom.signature_data().map_err(malformed)
        }
        Some(Err(e)) => Err(malformed(e)),
        _ => Err(VerifyError::Unsigned),
    }
}

/// Whether `key` made one of the signatures over the header's hash list —
/// the message layout of the tool-conventions format, version 1.
fn signed_hashes_by(header: &wasmsign2::SignatureData, key: &PublicKey) -> bool {
    header.signed_hashes_set.iter().any(|set| {
        let mut message = b"wasmsig".to_vec();
        message.extend_from_slice(&[
            header.specification_version,
            header.content_type,
            header.hash_function,
        ]);
        for hash in &set.hashes {
            message.extend_from_slice(hash);
        }
        set.signatures.iter().any(|signature| {
            ed25519_compact::Signature::from_slice(&signature.signature)
                .is_ok_and(|s| key.pk.verify(&message, &s).is_ok())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::bundle::{BundleFiles, assemble};

    fn bundle() -> Vec<u8> {
        let component = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
        let files = BundleFiles {
            manifest: "name = \"demo\"\nversion = \"1.0.0\"\n".into(),
            ..BundleFiles::default()
        };
        assemble(&component, &files, "demo.wasm").expect("ok")
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let (ours, ours_pk) = generate();
        let (theirs, _) = generate();
        let keyring = Keyring::new(vec![TrustedKey { name: "ours".into(), key: ours_pk }]);
        let signed = ours.sign(&bundle()).expect("ok");

        let verified = keyring.verify(&signed).expect("ok");
        assert_eq!(verified.signer, "ours");

        assert_eq!(keyring.verify(&bundle()), Err(VerifyError::Unsigned));
        let mut tampered = signed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(keyring.verify(&tampered), Err(VerifyError::Tampered { signer: "ours".into() }));
        let foreign = theirs.sign(&bundle()).expect("ok");
        assert_eq!(keyring.verify(&foreign), Err(VerifyError::Untrusted));
        assert_eq!(Keyring::default().verify(&signed), Err(VerifyError::Untrusted));
    }

    #[test]
    fn re_signing_replaces_the_signature() {
        let (first, _) = generate();
        let (second, second_pk) = generate();
        let twice = second.sign(&first.sign(&bundle()).expect("ok")).expect("ok");
        let keyring = Keyring::new(vec![TrustedKey { name: "second".into(), key: second_pk }]);
        assert_eq!(keyring.verify(&twice).expect("ok").signer, "second");
    }
}
