//! Signatures in the WebAssembly tool-conventions format (the `wasmsign2`
//! crate): keys, signing a bundle, and verifying one against the operator's
//! trust keyring — telling apart unsigned, tampered, corrupt and untrusted
//! bundles, since each calls for a different fix.
//!
//! Keys are Ed25519 in wasmsign2's own encoding (what `wasmsign2 keygen`
//! writes), so keys and signatures are interchangeable with that tool;
//! PEM, DER and OpenSSH public keys are read too. A signature carries its
//! key's id (wasmsign2's default: an HMAC of the public key, as `wasmsign2
//! sign -K` writes it), so that a signature by a trusted key that no longer
//! verifies is known for a damaged signature rather than a stranger's.

use std::path::Path;

use sha2::{Digest, Sha256};
use wasmsign2::{Module, PublicKey, SecretKey, Section, SectionLike as _, SignatureData, WSError};

use super::layout;

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
        if bundle.starts_with(b"\0asm") && bundle.len() >= 8 {
            layout::sections_uncapped(bundle).map_err(|e| VerifyError::Malformed(e.to_string()))?;
        }
        let module = Module::deserialize(&mut &bundle[..]).map_err(malformed)?;
        let public = PublicKey { pk: self.0.sk.public_key(), key_id: None };
        let signed = self.0.sign(module, Some(&key_id(&public))).map_err(malformed)?;
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

/// The id a signature by `key` carries (wasmsign2's default key id), hex:
/// what a refusal names when the key is not trusted.
pub fn key_id_hex(key: &PublicKey) -> String {
    hex::encode(key_id(key))
}

/// The key id a signature by `key` carries: wasmsign2's default.
fn key_id(key: &PublicKey) -> Vec<u8> {
    let plain = PublicKey { pk: key.pk, key_id: None };
    plain.attach_default_key_id().key_id().cloned().unwrap_or_default()
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
    /// Signed, but by no key in the keyring. `key_ids` are the ids the
    /// signatures carry (hex), as `squall trust list` shows each key's.
    #[error(
        "the bundle is signed by a key that is not trusted here (signed by key id {}; add the publisher's key with `squall trust add`, and compare its id in `squall trust list`)",
        if key_ids.is_empty() { "unknown".to_owned() } else { key_ids.join(", ") }
    )]
    Untrusted {
        /// The key ids of the bundle's signatures, hex.
        key_ids: Vec<String>,
    },
    /// The signature section was changed or damaged after signing: it does
    /// not parse, or a signature that names a trusted key does not verify
    /// over the hashes it lists.
    #[error(
        "the bundle's signature section is corrupt: {0}; it was modified or damaged after signing (fetch the bundle again, or sign it again)"
    )]
    Corrupt(String),
    /// The bundle's sections cannot be walked (a length past the end, a
    /// section over its cap), so there is nothing to verify.
    #[error("the bundle cannot be read: {0}")]
    Malformed(String),
}

fn malformed(e: WSError) -> VerifyError {
    VerifyError::Malformed(e.to_string())
}

fn corrupt(e: WSError) -> VerifyError {
    VerifyError::Corrupt(format!("it does not parse ({e})"))
}

/// The section layout, walked before wasmsign2 reads anything (it trusts
/// lengths); answers where the signature section ends, or 0 without one.
fn check_layout(bundle: &[u8]) -> Result<usize, VerifyError> {
    if !bundle.starts_with(b"\0asm") || bundle.len() < 8 {
        return Ok(0);
    }
    let sections = layout::sections(bundle).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    let Some(first) = sections.first() else { return Ok(0) };
    if first.id == 0 && first.name.as_deref() == Some(SIGNATURE) {
        return Ok(first.bytes.end);
    }
    if damaged_name(first.id, &bundle[first.payload.clone()]) {
        return Err(VerifyError::Corrupt(
            "the id or name of the signature section in front is damaged, so it reads as another section"
                .into(),
        ));
    }
    Ok(0)
}

/// The name tool-conventions gives the signature section.
const SIGNATURE: &str = "signature";

/// Whether a section is a signature section whose id, name length or one
/// bit of its name changed — which would otherwise make a damaged signed
/// bundle read as an unsigned one.
fn damaged_name(id: u8, payload: &[u8]) -> bool {
    let name = SIGNATURE.as_bytes();
    let length = u8::try_from(name.len()).unwrap_or(u8::MAX);
    match payload.split_first() {
        Some((first, rest)) if *first == length && id != 0 => rest.starts_with(name),
        Some((first, rest)) if *first == length => {
            let bits: u32 = rest.iter().zip(name).map(|(a, b)| (a ^ b).count_ones()).sum();
            rest.len() >= name.len() && bits == 1
        }
        Some((_, rest)) => id == 0 && rest.starts_with(name),
        None => false,
    }
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
        let signature_end = check_layout(bundle)?;
        let header = signature_header(bundle)?;
        for trusted in &self.keys {
            match trusted.key.verify(&mut &bundle[..], None) {
                Ok(()) => {
                    return Ok(Verified {
                        signer: trusted.name.clone(),
                        fingerprint: fingerprint(&trusted.key),
                    });
                }
                // A signature that is not 64 bytes surfaces as a crypto
                // error: damage too.
                Err(WSError::VerificationFailed | WSError::CryptoError(_)) => {}
                Err(e) => return Err(corrupt(e)),
            }
        }
        Err(self.why_not(&header, &bundle[signature_end..]))
    }

    /// Why no trusted key verified `content` under `header`.
    fn why_not(&self, header: &SignatureData, content: &[u8]) -> VerifyError {
        // A trusted key signed the listed hashes: the content is what
        // changed since (or, if it still matches, the key id did).
        let hash = Sha256::digest(content).to_vec();
        for trusted in &self.keys {
            let signed: Vec<_> = signed_sets(header, &trusted.key).collect();
            if signed.is_empty() {
                continue;
            }
            if signed.iter().all(|set| !set.hashes.contains(&hash)) {
                return VerifyError::Tampered { signer: trusted.name.clone() };
            }
            return VerifyError::Corrupt(format!(
                "the signature by trusted key `{}` carries another key's id",
                trusted.name
            ));
        }
        // A signature names a trusted key by its id but does not verify:
        // its bytes, or the hashes it covers, were changed.
        for trusted in &self.keys {
            let id = key_id(&trusted.key);
            let named = header
                .signed_hashes_set
                .iter()
                .flat_map(|set| &set.signatures)
                .any(|signature| signature.key_id.as_ref() == Some(&id));
            if named {
                return VerifyError::Corrupt(format!(
                    "the signature with the id of trusted key `{}` does not verify over the hashes it lists",
                    trusted.name
                ));
            }
        }
        let key_ids = header
            .signed_hashes_set
            .iter()
            .flat_map(|set| &set.signatures)
            .filter_map(|signature| signature.key_id.as_deref().map(hex::encode))
            .collect();
        VerifyError::Untrusted { key_ids }
    }
}

/// The signature data in front of `bundle`, or why there is none.
fn signature_header(bundle: &[u8]) -> Result<SignatureData, VerifyError> {
    let mut reader = bundle;
    let stream = Module::init_from_reader(&mut reader).map_err(malformed)?;
    let first = Module::iterate(stream).map_err(malformed)?.next();
    match first {
        Some(Ok(Section::Custom(custom))) if custom.is_signature_header() => {
            let data = custom.signature_data().map_err(corrupt)?;
            // The parser stops where its counts say; a changed count or
            // length leaves bytes it read differently or not at all.
            if data.serialize().ok().as_deref() != Some(custom.payload()) {
                return Err(VerifyError::Corrupt(
                    "its counts and lengths do not add up to its size".into(),
                ));
            }
            Ok(data)
        }
        Some(Err(e)) => Err(malformed(e)),
        _ => Err(VerifyError::Unsigned),
    }
}

/// The hash sets of `header` that `key` signed — the message layout of the
/// tool-conventions format, version 1.
fn signed_sets<'h>(
    header: &'h SignatureData,
    key: &PublicKey,
) -> impl Iterator<Item = &'h wasmsign2::SignedHashes> {
    let prefix = [header.specification_version, header.content_type, header.hash_function];
    header.signed_hashes_set.iter().filter(move |set| {
        let mut message = b"wasmsig".to_vec();
        message.extend_from_slice(&prefix);
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
        assert!(matches!(keyring.verify(&foreign), Err(VerifyError::Untrusted { .. })));
        assert!(matches!(Keyring::default().verify(&signed), Err(VerifyError::Untrusted { .. })));
    }

    #[test]
    fn a_bit_flipped_in_the_signature_section_is_never_called_untrusted() {
        let (ours, ours_pk) = generate();
        let keyring = Keyring::new(vec![TrustedKey { name: "ours".into(), key: ours_pk }]);
        let signed = ours.sign(&bundle()).expect("ok");
        let section = layout::sections(&signed).expect("layout")[0].bytes.clone();
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        let mut wrong = Vec::new();
        for byte in section {
            for bit in 0..8 {
                let mut damaged = signed.clone();
                damaged[byte] ^= 1 << bit;
                let outcome = match keyring.verify(&damaged) {
                    // The key id and the content type byte are not signed.
                    Ok(_) => "verified",
                    Err(VerifyError::Corrupt(_)) => "corrupt",
                    Err(VerifyError::Malformed(_)) => "malformed",
                    // Only where the section's own length moved its end.
                    Err(VerifyError::Tampered { .. }) if byte == 9 => "tampered",
                    Err(other) => {
                        wrong.push(format!("byte {byte} bit {bit}: {other}"));
                        "wrong"
                    }
                };
                *seen.entry(outcome.into()).or_default() += 1;
            }
        }
        assert_eq!(wrong, Vec::<String>::new(), "{seen:?}");
        assert!(seen["corrupt"] > 700, "{seen:?}");
    }

    #[test]
    fn an_impossible_section_length_is_named() {
        let mut bytes = bundle();
        // The manifest section's length, as five LEB128 bytes of 4 GiB.
        bytes.truncate(9);
        bytes.extend([0xff, 0xff, 0xff, 0xff, 0x0f, 0x0f]);
        let message = Keyring::default().verify(&bytes).expect_err("refused").to_string();
        assert!(message.contains("claims 4294967295 bytes"), "{message}");
        assert!(message.contains("the length is impossible"), "{message}");
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
