//! Signatures interoperate with the reference tool (issue 5): a bundle
//! signed by Squall verifies with `wasmsign2 verify`, and a bundle signed
//! by `wasmsign2 sign` with a `wasmsign2 keygen` key verifies in Squall's
//! keyring and with `squall pack verify`. These tests run the real
//! `wasmsign2` binary (`cargo install wasmsign2-cli --locked`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use squall::pack::{
    BundleFiles, Keyring, TrustedKey, VerifyError, assemble, generate, load_public_key,
    save_public_key,
};
use squall_tests::{CORE_MANIFEST, CORE_PACK, run_cli};

/// The `wasmsign2` binary: on `PATH`, else in `$CARGO_HOME/bin` or
/// `~/.cargo/bin`. Panics when it is nowhere, so the interop tests never
/// pass by not running.
fn wasmsign2() -> PathBuf {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|dir| dir.join("wasmsign2")).find(|path| path.is_file()).unwrap_or_else(
        || {
            panic!(
                "the `wasmsign2` tool is not on PATH nor in $CARGO_HOME/bin or ~/.cargo/bin; \
                 install it with `cargo install wasmsign2-cli --locked`"
            )
        },
    )
}

/// Runs `wasmsign2 args…`, panicking only if it cannot be started.
fn tool(args: &[&Path]) -> Output {
    let tool = wasmsign2();
    Command::new(&tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()))
}

/// Runs `wasmsign2 args…` and panics with its output unless it exits 0.
fn tool_ok(args: &[&Path]) {
    let out = tool(args);
    assert!(out.status.success(), "wasmsign2 {args:?} failed: {}", render(&out));
}

fn render(out: &Output) -> String {
    format!(
        "{}\nstdout: {}stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether `wasmsign2 verify` accepts `bundle` under `public_key`.
fn tool_verifies(bundle: &Path, public_key: &Path) -> (bool, String) {
    let out = tool(&[Path::new("verify"), Path::new("-i"), bundle, Path::new("-K"), public_key]);
    (out.status.success(), render(&out))
}

/// An unsigned bundle of the core component and the core `pack.toml`.
fn core_bundle() -> Vec<u8> {
    let component = std::fs::read(CORE_PACK).expect("core component");
    let manifest = std::fs::read_to_string(CORE_MANIFEST).expect("core manifest");
    let files = BundleFiles { manifest, ..BundleFiles::default() };
    assemble(&component, &files, "core.wasm").expect("assemble")
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 temporary path")
}

/// `wasmsign2 keygen` into `dir`: (secret key, public key).
fn tool_keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let secret = dir.join(format!("{name}.sec"));
    let public = dir.join(format!("{name}.pub"));
    tool_ok(&[Path::new("keygen"), Path::new("-k"), &secret, Path::new("-K"), &public]);
    assert!(secret.is_file() && public.is_file(), "keygen wrote {secret:?} and {public:?}");
    (secret, public)
}

#[test]
fn a_bundle_signed_by_squall_verifies_with_wasmsign2() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let (key, public_key) = generate();
    let pub_path = dir.path().join("squall.pub");
    save_public_key(&public_key, &pub_path).expect("save public key");
    let signed = key.sign(&core_bundle()).expect("sign");
    let bundle = dir.path().join("bundle.wasm");
    std::fs::write(&bundle, &signed).expect("write bundle");

    let (ok, out) = tool_verifies(&bundle, &pub_path);
    assert!(ok, "wasmsign2 refused a bundle Squall signed: {out}");

    // Another key does not verify it: the tool really checks the signature.
    let (_, other_pub) = tool_keygen(dir.path(), "other");
    let (ok, out) = tool_verifies(&bundle, &other_pub);
    assert!(!ok, "wasmsign2 accepted the bundle under a key that did not sign it: {out}");

    // One byte changed — the last, in the `squall:manifest` section — and
    // the tool refuses it.
    let mut tampered = signed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let tampered_path = dir.path().join("tampered.wasm");
    std::fs::write(&tampered_path, &tampered).expect("write tampered bundle");
    let (ok, out) = tool_verifies(&tampered_path, &pub_path);
    assert!(!ok, "wasmsign2 accepted a bundle changed after signing: {out}");

    // A byte in the component itself, well before the custom sections.
    let mut tampered = signed;
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    std::fs::write(&tampered_path, &tampered).expect("write tampered bundle");
    let (ok, out) = tool_verifies(&tampered_path, &pub_path);
    assert!(!ok, "wasmsign2 accepted a bundle whose code changed after signing: {out}");
}

#[test]
fn a_bundle_signed_by_wasmsign2_verifies_in_squall() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let (secret, public) = tool_keygen(dir.path(), "publisher");
    let unsigned = dir.path().join("unsigned.wasm");
    std::fs::write(&unsigned, core_bundle()).expect("write bundle");
    let signed_path = dir.path().join("signed.wasm");
    tool_ok(&[
        Path::new("sign"),
        Path::new("-i"),
        &unsigned,
        Path::new("-o"),
        &signed_path,
        Path::new("-k"),
        &secret,
    ]);
    let signed = std::fs::read(&signed_path).expect("read signed bundle");
    let bundle = squall::pack::Bundle::read(&signed, "signed.wasm").expect("still a bundle");
    assert!(bundle.signed, "wasmsign2 put no signature section in front");
    assert_eq!(bundle.manifest.name, "core");

    let key = load_public_key(&public).expect("Squall reads a wasmsign2 public key");
    let keyring = Keyring::new(vec![TrustedKey { name: "publisher".into(), key }]);
    let verified = keyring.verify(&signed).expect("Squall accepts the wasmsign2 signature");
    assert_eq!(verified.signer, "publisher");
    assert_eq!(verified.fingerprint, squall::pack::fingerprint(&keyring.keys()[0].key));

    // The unsigned original is still unsigned to Squall.
    let original = std::fs::read(&unsigned).expect("read unsigned bundle");
    assert_eq!(keyring.verify(&original), Err(VerifyError::Unsigned));

    // Changed after wasmsign2 signed it: Squall names the signer.
    let mut tampered = signed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert_eq!(
        keyring.verify(&tampered),
        Err(VerifyError::Tampered { signer: "publisher".into() })
    );

    // A keyring without the wasmsign2 key does not trust it.
    let (_, stranger) = generate();
    let strangers = Keyring::new(vec![TrustedKey { name: "stranger".into(), key: stranger }]);
    assert!(matches!(strangers.verify(&signed), Err(VerifyError::Untrusted { .. })));
    assert!(matches!(Keyring::default().verify(&signed), Err(VerifyError::Untrusted { .. })));
}

#[test]
fn squall_pack_verify_accepts_a_wasmsign2_signature() {
    let dir = tempfile::tempdir().expect("temporary dir");
    let (secret, public) = tool_keygen(dir.path(), "publisher");
    let unsigned = dir.path().join("unsigned.wasm");
    std::fs::write(&unsigned, core_bundle()).expect("write bundle");
    let signed = dir.path().join("signed.wasm");
    tool_ok(&[
        Path::new("sign"),
        Path::new("-i"),
        &unsigned,
        Path::new("-o"),
        &signed,
        Path::new("-k"),
        &secret,
    ]);

    let rendered = run_cli(&["pack", "verify", utf8(&signed), "--key", utf8(&public)]);
    assert!(rendered.starts_with("exit 0\n"), "{rendered}");
    let expected = format!("{}: signature ok, signed by {}", utf8(&signed), utf8(&public));
    assert!(rendered.contains(&expected), "expected {expected:?} in:\n{rendered}");
    assert!(rendered.contains("pack: core "), "{rendered}");

    // The same command refuses the unsigned bundle and a stranger's key.
    let rendered = run_cli(&["pack", "verify", utf8(&unsigned), "--key", utf8(&public)]);
    assert!(!rendered.starts_with("exit 0\n"), "{rendered}");
    assert!(!rendered.contains("signature ok"), "{rendered}");
    assert!(rendered.contains("not signed"), "{rendered}");
    let (_, stranger) = tool_keygen(dir.path(), "stranger");
    let rendered = run_cli(&["pack", "verify", utf8(&signed), "--key", utf8(&stranger)]);
    assert!(!rendered.starts_with("exit 0\n"), "{rendered}");
    assert!(rendered.contains("not trusted"), "{rendered}");
}
