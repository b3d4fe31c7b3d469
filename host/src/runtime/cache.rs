//! The on-disk compile cache: compiled components keyed by the engine's
//! compatibility hash and the sha256 of the `.wasm`.
//!
//! The directory is host-private (mode 0700): its files are native code that
//! is loaded without validation, so nothing from outside may ever be put
//! there. Only `.wasm` is accepted from outside; `.cwasm` is only ever read
//! back from here.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::{LoadError, RuntimeError};

/// Where a loaded component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOrigin {
    /// Compiled now from the `.wasm` (and written to the cache).
    Compiled,
    /// Read back from the compile cache; nothing was compiled.
    Cache,
}

#[derive(Debug)]
pub(crate) struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// Opens (creating if needed) the cache for `engine` under `root`.
    pub(crate) fn open(root: &Path, engine: &Engine) -> Result<Self, RuntimeError> {
        let dir = root.join(engine_key(engine));
        create_private_dir(&dir)
            .map_err(|source| RuntimeError::CacheDir { path: dir.clone(), source })?;
        Ok(Self { dir })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The compiled form of `wasm`, from the cache when present.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        path: &Path,
        wasm: &[u8],
    ) -> Result<(Component, LoadOrigin, String), LoadError> {
        let digest = hex::encode(Sha256::digest(wasm));
        let cached = self.dir.join(format!("{digest}.cwasm"));
        if cached.is_file() {
            // SAFETY: the file was written by `store` below into a directory
            // only this host writes, under a key that includes the engine's
            // compatibility hash and the digest of the source. A truncated or
            // stale file makes `deserialize_file` fail its header check, and
            // we fall back to compiling.
            #[allow(unsafe_code)]
            let component = unsafe { Component::deserialize_file(engine, &cached) };
            match component {
                Ok(component) => return Ok((component, LoadOrigin::Cache, digest)),
                Err(error) => tracing::warn!(
                    file = %cached.display(),
                    error = %super::error::one_line(&error),
                    "ignoring unusable compile cache entry"
                ),
            }
        }
        let component = Component::new(engine, wasm).map_err(|error| LoadError::Compile {
            path: path.to_owned(),
            message: super::error::one_line(&error),
        })?;
        self.store(&cached, &component)?;
        Ok((component, LoadOrigin::Compiled, digest))
    }

    fn store(&self, cached: &Path, component: &Component) -> Result<(), LoadError> {
        let cache_error = |source| LoadError::Cache { path: cached.to_owned(), source };
        let bytes = component
            .serialize()
            .map_err(|e| cache_error(std::io::Error::other(super::error::one_line(&e))))?;
        // Write then rename, so a concurrent reader or a crash never sees a
        // half-written file under the final name.
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(cache_error)?;
        file.write_all(&bytes).map_err(cache_error)?;
        file.persist(cached).map_err(|e| cache_error(e.error))?;
        Ok(())
    }
}

/// A short, stable name for the engine's compatibility hash: artefacts from
/// another wasmtime version or configuration land in another directory.
fn engine_key(engine: &Engine) -> String {
    struct Sha256Hasher(Sha256);
    impl Hasher for Sha256Hasher {
        fn finish(&self) -> u64 {
            unreachable!("only `write` is used")
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    format!("engine-{}", hex::encode(&digest[..12]))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
