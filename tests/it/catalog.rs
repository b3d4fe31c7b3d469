//! The stored catalog: packs, pack trigger types and rules survive a
//! reopen; rules registered from files load with their stored `enabled`;
//! a stored entry that no longer loads is reported and left out.

use serde_json::json;
use squall::engine::{Catalog, RegisterError, register_rule_files};
use squall::store::{PackRecord, RuleRecord, Store, StoreConfig, TriggerTypeRecord, now_millis};

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(
        &dir.path().join("squall.redb"),
        StoreConfig { retention: None, ..StoreConfig::default() },
    )
    .expect("store")
}

const RULE: &str = "name: on_push\npack: github\nenabled: true\ntrigger: {type: github.push}\naction: {ref: core.noop}\n";

#[tokio::test]
async fn catalog_records_survive_a_reopen_and_load_into_types_and_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = now_millis();
    {
        let store = open(&dir);
        store
            .write(move |tx| {
                tx.put_pack(&PackRecord {
                    name: "github".into(),
                    version: "1.0.0".into(),
                    manifest: "name = \"github\"".into(),
                    component_sha256: "ab".repeat(32),
                    installed_at: now,
                    ..PackRecord::default()
                })?;
                tx.put_trigger_type(&TriggerTypeRecord {
                    name: "github.push".into(),
                    pack: "github".into(),
                    description: "a push".into(),
                    payload_schema: json!({"type": "object", "required": ["ref"]}),
                    parameters_schema: None,
                })?;
                tx.put_rule(&RuleRecord {
                    reference: "github.on_push".into(),
                    source: RULE.into(),
                    enabled: false,
                    created_at: now,
                    updated_at: now,
                })?;
                tx.put_rule(&RuleRecord {
                    reference: "github.broken".into(),
                    source: "name: broken\ntrigger: 5\n".into(),
                    enabled: true,
                    created_at: now,
                    updated_at: now,
                })
            })
            .await
            .expect("write");
    }
    let store = open(&dir);
    let snapshot = store.read().expect("read");
    assert_eq!(snapshot.packs().expect("packs")[0].version, "1.0.0");
    assert_eq!(snapshot.rule("github.on_push").expect("rule").map(|r| r.enabled), Some(false));
    drop(snapshot);

    let catalog = Catalog::load(&store).expect("load");
    let refused =
        catalog.trigger_types.validate_payload("github.push", &json!({})).expect_err("ref");
    assert!(refused.to_string().contains("\"ref\" is a required property"), "{refused}");
    // Stored disabled: the rule loads but is not indexed.
    assert_eq!(catalog.rules.len(), 0);
    assert_eq!(catalog.problems.len(), 1);
    assert!(catalog.problems[0].starts_with("rule github.broken"), "{:?}", catalog.problems);

    let removed = store
        .write(|tx| Ok((tx.delete_rule("github.broken")?, tx.delete_rule("github.broken")?)))
        .await
        .expect("delete");
    assert_eq!(removed, (true, false));
}

#[tokio::test]
async fn rule_files_register_all_or_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("dir");
    std::fs::write(rules.join("a.yaml"), RULE).expect("write");
    std::fs::write(
        rules.join("b.yml"),
        "name: bad\npack: github\ntrigger: {type: x}\naction: {}\n",
    )
    .expect("write");
    std::fs::write(rules.join("notes.txt"), "not a rule").expect("write");
    let store = open(&dir);
    let error = register_rule_files(&store, &rules).await.expect_err("b.yml is invalid");
    assert!(matches!(error, RegisterError::Rule(ref m) if m.contains("b.yml")), "{error}");
    assert!(store.read().expect("read").rules().expect("rules").is_empty(), "nothing stored");

    std::fs::remove_file(rules.join("b.yml")).expect("rm");
    let stored = register_rule_files(&store, &rules).await.expect("register");
    assert_eq!(stored, ["github.on_push"]);
    assert_eq!(Catalog::load(&store).expect("load").rules.len(), 1);
}
