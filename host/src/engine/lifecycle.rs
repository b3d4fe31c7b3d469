//! The pack lifecycle on a running engine: install and upgrade from a
//! bundle (verify, then compile, then one commit, then one swap), remove,
//! restore after a restart, a pack's configuration set after install, and
//! the trust keyring the checks use.
//!
//! Order matters for security: the signature is checked against the
//! keyring before the bundle is parsed further or anything is compiled,
//! and a refused bundle changes nothing but the audit log.

mod stored;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::executor::Engine;
use super::pack_config::{PackConfigs, config_problems, json_type, sensor_config};
use super::packs::{InstallError, trigger_type_records};
use crate::chatops::ActionAlias;
use crate::pack::{
    Bundle, BundleError, Keyring, PublicKey, SensorKind, TrustedKey, VerifyError, fingerprint,
    public_key_from_bytes,
};
use crate::rules::Rule;
use crate::runtime::{Grants, LoadError, Runtime};
use crate::store::{
    AliasRecord, AuditEvent, Millis, PackRecord, ReadError, RuleRecord, TrustedKeyRecord,
    WriteError, now_millis,
};

/// Installs, upgrades and removes packs on an engine. Cheap to clone;
/// lifecycle changes are serialised.
#[derive(Debug, Clone)]
pub struct PackManager {
    engine: Engine,
    runtime: Arc<Runtime>,
    changes: Arc<tokio::sync::Mutex<()>>,
    configs: Option<Arc<PackConfigs>>,
    /// Per pack installed from a bundle, the stored record this node runs
    /// (install time and configuration): what a cluster node compares with
    /// the store to see what other nodes changed.
    running: Arc<std::sync::Mutex<std::collections::HashMap<String, (Millis, String)>>>,
}

/// What to install.
#[derive(Debug, Clone)]
pub struct InstallRequest {
    /// The bundle, as received.
    pub bundle: Vec<u8>,
    /// Where it came from (file, URL or registry reference), for errors
    /// and the audit log.
    pub origin: String,
    /// What the operator granted.
    pub grants: Grants,
    /// Accept a bundle with no signature at all (local development); a
    /// tampered or untrusted one is refused regardless.
    pub allow_unsigned: bool,
    /// The pack's configuration, checked against its config schema; null
    /// keeps the one an installed version has (as StackStorm keeps a
    /// pack's config file across reinstalls).
    pub config: Value,
    /// Who asked, for the audit log.
    pub actor: String,
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Installed {
    /// Pack name.
    pub name: String,
    /// Version now installed.
    pub version: String,
    /// Version it replaced, if any.
    pub previous: Option<String>,
    /// Trusted key that signed it; `None` when installed unsigned.
    pub signer: Option<String>,
    /// Hex sha256 of the bundle.
    pub sha256: String,
    /// Time spent verifying the signature.
    #[serde(with = "micros")]
    pub verify: Duration,
    /// Time spent compiling (or loading from the compile cache).
    #[serde(with = "micros")]
    pub compile: Duration,
}

mod micros {
    pub(super) fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

/// Why a lifecycle operation did not happen. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The signature check refused the bundle.
    #[error("{origin}: refused: {error}")]
    Signature {
        /// Where the bundle came from.
        origin: String,
        /// Which check failed.
        error: VerifyError,
    },
    /// The bytes are not a usable bundle.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A rule file in the bundle does not load or is not the pack's own.
    #[error("{origin}: rules/{file}: {message}")]
    Rule {
        /// Where the bundle came from.
        origin: String,
        /// The rule file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// An action alias in the bundle does not load or is not the pack's.
    #[error("{origin}: aliases/{file}: {message}")]
    Alias {
        /// Where the bundle came from.
        origin: String,
        /// The alias file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The configuration does not fit the pack's config schema.
    #[error("pack {pack}: config: {message}")]
    Config {
        /// Pack name.
        pack: String,
        /// What the schema said.
        message: String,
    },
    /// The component did not compile or link.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The engine could not take the pack.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// No such pack.
    #[error("pack `{0}` is not installed")]
    NotInstalled(String),
    /// Other packs' rules use this pack.
    #[error(
        "pack `{pack}` is used by rules of other packs: {}; remove those first or pass --force (which disables them)",
        rules.join(", ")
    )]
    InUse {
        /// Pack name.
        pack: String,
        /// The dependent rules.
        rules: Vec<String>,
    },
    /// A trusted key was given badly.
    #[error("trusted key `{name}`: {message}")]
    Key {
        /// The key's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The store could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The store refused or failed the commit.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// What a removal did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    /// Pack name.
    pub name: String,
    /// Version removed.
    pub version: String,
    /// Other packs' rules disabled because of `--force`.
    pub disabled_rules: Vec<String>,
}

impl PackManager {
    /// A manager for `engine`, compiling with `runtime`.
    pub fn new(engine: Engine, runtime: Arc<Runtime>) -> Self {
        Self {
            engine,
            runtime,
            changes: Arc::new(tokio::sync::Mutex::new(())),
            configs: None,
            running: Arc::default(),
        }
    }

    /// Keeps `configs` (what the `config` import answers from) current as
    /// packs are installed, resumed and removed.
    pub fn with_configs(mut self, configs: Arc<PackConfigs>) -> Self {
        self.configs = Some(configs);
        self
    }

    fn set_config(&self, pack: &str, config: &Value) {
        if let Some(configs) = &self.configs {
            configs.set(pack, config);
        }
    }

    /// The engine packs are installed into.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The trust keyring as stored now.
    pub fn keyring(&self) -> Result<Keyring, ReadError> {
        let mut keys = Vec::new();
        for record in self.engine.store().read()?.trusted_keys()? {
            match hex::decode(&record.public_key)
                .map_err(|e| e.to_string())
                .and_then(|bytes| public_key_from_bytes(&bytes))
            {
                Ok(key) => keys.push(TrustedKey { name: record.name, key }),
                Err(error) => {
                    tracing::error!(key = %record.name, %error, "stored trusted key unreadable")
                }
            }
        }
        Ok(Keyring::new(keys))
    }

    /// What installing `bundle` would check before compiling — layout,
    /// signature against the keyring, manifest, rules — without installing
    /// it: the signer (`None` when accepted unsigned) and its manifest.
    /// Blocking; call it off the async threads.
    pub fn review(
        &self,
        bundle: &[u8],
        origin: &str,
        allow_unsigned: bool,
    ) -> Result<(Option<String>, crate::pack::Manifest), LifecycleError> {
        let checked = check_bundle(&self.keyring()?, bundle, origin, allow_unsigned)?;
        Ok((checked.signer, checked.parsed.manifest))
    }

    /// Adds (or replaces) the trusted key `name`.
    pub async fn trust(
        &self,
        name: &str,
        key: &PublicKey,
        actor: &str,
    ) -> Result<TrustedKeyRecord, LifecycleError> {
        let well_formed = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !well_formed {
            return Err(LifecycleError::Key {
                name: name.to_owned(),
                message: "expected 1 to 64 letters, digits and `._-`".into(),
            });
        }
        let record = TrustedKeyRecord {
            name: name.to_owned(),
            public_key: hex::encode(key.to_bytes()),
            fingerprint: fingerprint(key),
            added_at: now_millis(),
        };
        let audit = audit(actor, "trust.add", name, json!({"fingerprint": record.fingerprint}));
        let stored = record.clone();
        self.engine
            .store()
            .write(move |tx| {
                tx.put_trusted_key(&stored)?;
                tx.append_audit(&audit).map(drop)
            })
            .await?;
        Ok(record)
    }

    /// Removes the trusted key `name`; true when it was there. Packs it
    /// signed stay installed; their upgrades need a trusted key again.
    pub async fn distrust(&self, name: &str, actor: &str) -> Result<bool, LifecycleError> {
        let audit = audit(actor, "trust.remove", name, Value::Null);
        let name = name.to_owned();
        Ok(self
            .engine
            .store()
            .write(move |tx| {
                let removed = tx.delete_trusted_key(&name)?;
                if removed {
                    tx.append_audit(&audit)?;
                }
                Ok(removed)
            })
            .await?)
    }

    /// Installs or upgrades the pack in `request.bundle`.
    pub async fn install(&self, request: InstallRequest) -> Result<Installed, LifecycleError> {
        let _serialised = self.changes.lock().await;
        let InstallRequest { bundle, origin, grants, allow_unsigned, config, actor } = request;

        // Hashing, verifying and parsing tens of MiB takes a while: on a
        // blocking thread, not the caller's.
        let bytes = Arc::new(bundle);
        let (keyring, checking, checked_origin) = (self.keyring()?, bytes.clone(), origin.clone());
        let checked = tokio::task::spawn_blocking(move || {
            let checked = check_bundle(&keyring, &checking, &checked_origin, allow_unsigned);
            let refused = matches!(checked, Err(LifecycleError::Signature { .. }))
                .then(|| crate::pack::sha256_hex(&checking));
            (checked, refused)
        })
        .await
        .map_err(|e| LoadError::Compile {
            path: origin.clone().into(),
            message: format!("the bundle check task failed: {e}"),
        })?;
        let Checked { signer, verify, parsed, rules, aliases } = match checked {
            (Err(LifecycleError::Signature { origin, error }), sha256) => {
                let event = audit(
                    &actor,
                    "pack.refused",
                    &origin,
                    json!({"reason": error.to_string(), "sha256": sha256}),
                );
                self.engine.store().write(move |tx| tx.append_audit(&event).map(drop)).await?;
                return Err(LifecycleError::Signature { origin, error });
            }
            (checked, _) => checked?,
        };
        let manifest = parsed.manifest;
        let config = match config {
            Value::Null => {
                let kept = self.engine.store().read()?.pack(&manifest.name)?.map(|p| p.config);
                kept.unwrap_or(Value::Null)
            }
            given => given,
        };
        check_config(&manifest.name, manifest.config.as_ref(), &config)?;

        let started = Instant::now();
        let runtime = self.runtime.clone();
        let (name, granted) = (manifest.name.clone(), grants.clone());
        let compile_bytes = bytes.clone();
        let origin_path = origin.clone();
        let component = tokio::task::spawn_blocking(move || {
            runtime.load_bytes_granted(Path::new(&origin_path), &compile_bytes, &name, granted)
        })
        .await
        .map_err(|e| LoadError::Compile {
            path: origin.clone().into(),
            message: format!("the compile task failed: {e}"),
        })??;
        let component = Arc::new(component);
        let compile = started.elapsed();

        let actions = self.engine.catalog_with(&manifest, &component)?;
        let previous = self.engine.store().read()?.pack(&manifest.name)?;
        let record = PackRecord {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            manifest: manifest.source.clone(),
            component_sha256: parsed.sha256.clone(),
            installed_at: now_millis(),
            publisher: manifest.publisher.clone(),
            signer: signer.clone(),
            grants: serde_json::to_value(&grants).unwrap_or_default(),
            has_bundle: true,
            config: config.clone(),
        };
        let event = audit(
            &actor,
            if previous.is_some() { "pack.upgrade" } else { "pack.install" },
            &manifest.name,
            json!({
                "version": manifest.version,
                "previous": previous.as_ref().map(|p| &p.version),
                "signer": signer,
                "unsigned": signer.is_none(),
                "sha256": parsed.sha256,
                "origin": origin,
                "grants": grants,
            }),
        );
        let trigger_types = trigger_type_records(&manifest);
        let pack_name = manifest.name.clone();
        let stored_bytes = bytes.clone();
        self.engine
            .store()
            .write(move |tx| {
                drop_pack_records(tx, &pack_name, &aliases)?;
                tx.put_pack(&record)?;
                tx.put_bundle(&pack_name, &stored_bytes)?;
                trigger_types.iter().try_for_each(|t| tx.put_trigger_type(t))?;
                rules.iter().try_for_each(|r| tx.put_rule(r))?;
                aliases.iter().try_for_each(|a| tx.put_alias(a).map(drop))?;
                tx.append_audit(&event).map(drop)
            })
            .await?;
        self.set_config(&manifest.name, &config);
        self.engine.activate_pack(&manifest, component, actions, sensor_config(config))?;
        self.remember(&manifest.name);
        Ok(Installed {
            name: manifest.name,
            version: manifest.version,
            previous: previous.map(|p| p.version),
            signer,
            sha256: parsed.sha256,
            verify,
            compile,
        })
    }

    /// Removes `name`: its records, bundle, rules, actions and sensors.
    /// Refused while another pack's rule uses one of its actions or trigger
    /// types, unless `force`, which disables those rules.
    pub async fn remove(
        &self,
        name: &str,
        force: bool,
        actor: &str,
    ) -> Result<Removed, LifecycleError> {
        let _serialised = self.changes.lock().await;
        let snapshot = self.engine.store().read()?;
        let pack =
            snapshot.pack(name)?.ok_or_else(|| LifecycleError::NotInstalled(name.to_owned()))?;
        let of_pack = |reference: &str| crate::limits::ref_pack(reference) == Some(name);
        let mut dependents = Vec::new();
        for record in snapshot.rules()? {
            if of_pack(&record.reference) || !record.enabled {
                continue;
            }
            let Ok(rule) = Rule::from_yaml(&record.source, &record.reference) else { continue };
            if of_pack(&rule.action_ref) || of_pack(&rule.trigger_type) {
                dependents.push(record);
            }
        }
        drop(snapshot);
        if !dependents.is_empty() && !force {
            return Err(LifecycleError::InUse {
                pack: name.to_owned(),
                rules: dependents.into_iter().map(|r| r.reference).collect(),
            });
        }
        let disabled_rules: Vec<String> = dependents.iter().map(|r| r.reference.clone()).collect();
        let event = audit(
            actor,
            "pack.remove",
            name,
            json!({"version": pack.version, "force": force, "disabled_rules": disabled_rules}),
        );
        let pack_name = name.to_owned();
        self.engine
            .store()
            .write(move |tx| {
                drop_pack_records(tx, &pack_name, &[])?;
                tx.delete_pack(&pack_name)?;
                tx.delete_bundle(&pack_name)?;
                for mut rule in dependents.iter().cloned() {
                    rule.enabled = false;
                    rule.updated_at = now_millis();
                    tx.put_rule(&rule)?;
                }
                tx.append_audit(&event).map(drop)
            })
            .await?;
        self.engine.deactivate_pack(name)?;
        self.set_config(name, &Value::Null);
        self.remember(name);
        Ok(Removed { name: name.to_owned(), version: pack.version, disabled_rules })
    }

    /// Sets the configuration of the installed pack `name` (StackStorm's
    /// `PUT /configs/{pack}`): checked against its config schema, then
    /// stored with an audit event naming the pack and `actor` (never the
    /// values) in one commit, then served to its actions' next runs; its
    /// poll sensors start over with it (StackStorm's wait for a restart).
    /// A refused configuration leaves the stored one as it was.
    pub async fn configure(
        &self,
        name: &str,
        config: Value,
        actor: &str,
    ) -> Result<Value, LifecycleError> {
        let _serialised = self.changes.lock().await;
        let record = self
            .engine
            .store()
            .read()?
            .pack(name)?
            .ok_or_else(|| LifecycleError::NotInstalled(name.to_owned()))?;
        let fail = |message: String| LifecycleError::Config { pack: name.to_owned(), message };
        if !record.has_bundle {
            return Err(fail(
                "the pack is loaded from files (`squall serve --pack`), which keeps no \
                 configuration; install it from a bundle to configure it"
                    .into(),
            ));
        }
        if !config.is_object() {
            return Err(fail(format!("expected an object, got {}", json_type(&config))));
        }
        let file = format!("stored pack {name}");
        let manifest = crate::pack::Manifest::from_toml(&record.manifest, Path::new(&file))
            .map_err(|e| fail(format!("the stored manifest does not load: {e}")))?;
        check_config(name, manifest.config.as_ref(), &config)?;
        let keys: Vec<&String> = config.as_object().map(|m| m.keys().collect()).unwrap_or_default();
        let event = audit(
            actor,
            "pack.config",
            name,
            json!({"version": record.version, "keys": keys, "replaced": !record.config.is_null()}),
        );
        let (pack, stored) = (name.to_owned(), config.clone());
        self.engine
            .store()
            .write(move |tx| {
                tx.set_pack_config(&pack, &stored)?;
                tx.append_audit(&event).map(drop)
            })
            .await?;
        self.set_config(name, &config);
        self.remember(name);
        let polls = manifest.sensors.values().any(|s| matches!(s.kind, SensorKind::Poll { .. }));
        if polls {
            // Stored already: a sensor that does not restart keeps its old
            // config until the server restarts, which the log says.
            if let Err(error) = self.restart_sensors(&record, config.clone()).await {
                tracing::warn!(pack = name, %error, "poll sensors keep their old config");
            }
        }
        Ok(config)
    }
}

/// A pack installed from a bundle, loaded again after a restart.
#[derive(Debug)]
pub struct RestoredPack {
    /// Its manifest, from the stored bundle.
    pub manifest: crate::pack::Manifest,
    /// Its component, compiled (from the cache, normally) with its grants.
    pub component: Arc<crate::runtime::LoadedComponent>,
    /// Its configuration as installed.
    pub config: Value,
}

/// Loads every pack installed from a bundle, from the stored bundle and
/// grants. Returns those that loaded and one line per pack that did not;
/// one broken pack does not keep the others from running.
pub fn load_installed(
    store: &crate::store::Store,
    runtime: &Runtime,
) -> Result<(Vec<RestoredPack>, Vec<String>), ReadError> {
    let snapshot = store.read()?;
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for pack in snapshot.packs()? {
        if !pack.has_bundle {
            continue;
        }
        let origin = format!("stored bundle of {}", pack.name);
        let attempt = || -> Result<RestoredPack, LifecycleError> {
            let bundle = snapshot
                .bundle(&pack.name)?
                .ok_or_else(|| LifecycleError::NotInstalled(pack.name.clone()))?;
            let parsed = Bundle::read(&bundle, &origin)?;
            let grants: Grants = serde_json::from_value(pack.grants.clone()).unwrap_or_default();
            let component =
                runtime.load_bytes_granted(Path::new(&origin), &bundle, &pack.name, grants)?;
            Ok(RestoredPack {
                manifest: parsed.manifest,
                component: Arc::new(component),
                config: pack.config.clone(),
            })
        };
        match attempt() {
            Ok(restored) => loaded.push(restored),
            Err(error) => problems.push(format!("pack {}: {error}", pack.name)),
        }
    }
    for problem in &problems {
        tracing::error!(%problem, "installed pack not restored");
    }
    Ok((loaded, problems))
}

/// Deletes the trigger types and rules `pack` owns, and the aliases it
/// brought that are not among `keep` (a new version's, which replace
/// theirs keeping their ids), ahead of writing a new version's (or none).
fn drop_pack_records(
    tx: &mut crate::store::Tx<'_>,
    pack: &str,
    keep: &[AliasRecord],
) -> Result<(), WriteError> {
    let of_pack = |reference: &String| crate::limits::ref_pack(reference) == Some(pack);
    let types: Vec<String> = tx.trigger_type_names()?.into_iter().filter(of_pack).collect();
    for name in types {
        tx.delete_trigger_type(&name)?;
    }
    let rules: Vec<String> = tx.rule_references()?.into_iter().filter(of_pack).collect();
    for reference in rules {
        tx.delete_rule(&reference)?;
    }
    let gone: Vec<String> = tx
        .aliases()?
        .into_iter()
        .filter(|a| a.from_pack && of_pack(&a.reference))
        .filter(|a| keep.iter().all(|k| k.reference != a.reference))
        .map(|a| a.reference)
        .collect();
    for reference in gone {
        tx.delete_alias(&reference)?;
    }
    Ok(())
}

/// A bundle that passed the checks before compiling.
struct Checked {
    /// The trusted key that signed it; `None` when accepted unsigned.
    signer: Option<String>,
    /// Time spent verifying the signature.
    verify: Duration,
    parsed: Bundle,
    rules: Vec<RuleRecord>,
    aliases: Vec<AliasRecord>,
}

/// Layout, signature, manifest and rules, in that order: nothing is parsed
/// before the signature verifies.
fn check_bundle(
    keyring: &Keyring,
    bundle: &[u8],
    origin: &str,
    allow_unsigned: bool,
) -> Result<Checked, LifecycleError> {
    crate::pack::check_header(bundle, origin)?;
    let started = Instant::now();
    let signer = match keyring.verify(bundle) {
        Ok(verified) => Some(verified.signer),
        Err(VerifyError::Unsigned) if allow_unsigned => None,
        Err(error) => return Err(LifecycleError::Signature { origin: origin.to_owned(), error }),
    };
    let verify = started.elapsed();
    let parsed = Bundle::read(bundle, origin)?;
    let rules = bundle_rules(&parsed.files.rules, &parsed.manifest.name, origin)?;
    let aliases = bundle_aliases(&parsed.files.aliases, &parsed.manifest.name, origin)?;
    Ok(Checked { signer, verify, parsed, rules, aliases })
}

/// The bundle's action alias files as records, each checked to load (every
/// format compiles) and to belong to `pack`.
fn bundle_aliases(
    files: &std::collections::BTreeMap<String, String>,
    pack: &str,
    origin: &str,
) -> Result<Vec<AliasRecord>, LifecycleError> {
    let now = now_millis();
    let mut records = Vec::with_capacity(files.len());
    for (file, source) in files {
        let alias = ActionAlias::from_yaml(source, &format!("aliases/{file}"), Some(pack))
            .map_err(|e| LifecycleError::Alias {
                origin: origin.to_owned(),
                file: file.clone(),
                message: e.to_string(),
            })?;
        records.push(AliasRecord {
            reference: alias.reference(),
            id: crate::store::new_id(),
            source: source.clone(),
            from_pack: true,
            created_at: now,
            updated_at: now,
        });
    }
    Ok(records)
}

/// The bundle's rule files as records, each checked to load and to belong
/// to `pack`.
fn bundle_rules(
    files: &std::collections::BTreeMap<String, String>,
    pack: &str,
    origin: &str,
) -> Result<Vec<RuleRecord>, LifecycleError> {
    let now = now_millis();
    let mut records = Vec::with_capacity(files.len());
    for (file, source) in files {
        let fail = |message: String| LifecycleError::Rule {
            origin: origin.to_owned(),
            file: file.clone(),
            message,
        };
        let rule =
            Rule::from_yaml(source, &format!("rules/{file}")).map_err(|e| fail(e.to_string()))?;
        if rule.pack != pack {
            return Err(fail(format!(
                "pack: expected `{pack}`, the bundle's own pack, got `{}`",
                rule.pack
            )));
        }
        records.push(RuleRecord {
            reference: rule.reference,
            source: source.clone(),
            enabled: rule.enabled,
            created_at: now,
            updated_at: now,
        });
    }
    Ok(records)
}

/// Checks a configuration against the pack's schema. None given (null)
/// passes: a pack installs without one, as in StackStorm, and its actions
/// say which key they miss when they read it.
fn check_config(pack: &str, schema: Option<&Value>, config: &Value) -> Result<(), LifecycleError> {
    let fail = |message: String| LifecycleError::Config { pack: pack.to_owned(), message };
    if config.is_null() {
        return Ok(());
    }
    let Some(schema) = schema else {
        return match config {
            Value::Object(map) if map.is_empty() => Ok(()),
            _ => {
                Err(fail("the pack declares no config schema, so it takes no configuration".into()))
            }
        };
    };
    let problems = config_problems(schema, config).map_err(fail)?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(fail(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))
    }
}

fn audit(actor: &str, action: &str, subject: &str, detail: Value) -> AuditEvent {
    AuditEvent {
        at: now_millis(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        detail,
    }
}
