//! Schema version 4 moved a pack's keys named `PACK.…` (StackStorm's
//! names for a pack's local keys, `PACK.CLASS:NAME`) from the pack's scope
//! to the system scope, where `engine::datastore` now keeps them; opening
//! an older store moves them, so no pack's state is lost on upgrade.

use redb::{ReadableTable, WriteTransaction};

use super::codec::decode;
use super::records::{KvEntry, KvScope};
use super::schema::KV;

/// Moves each plain `pack:P` entry whose key starts with `P.` to the
/// system scope under the same key. A secret stays where it is (its seal
/// is bound to its row, and packs never wrote secrets), and so does an
/// entry whose system key is already taken (the operator's wins; the
/// pack's copy stays readable in its scope). Returns how many moved.
pub(crate) fn move_to_system(txn: &WriteTransaction) -> Result<usize, String> {
    let mut table = txn.open_table(KV).map_err(|e| e.to_string())?;
    let mut moving = Vec::new();
    // Scope rows are `pack:NAME\0KEY`; `;` is the byte after `:`.
    for row in table.range("pack:".."pack;").map_err(|e| e.to_string())? {
        let (row, bytes) = row.map_err(|e| e.to_string())?;
        let Some((pack, key)) = row.value().strip_prefix("pack:").and_then(|r| r.split_once('\0'))
        else {
            continue;
        };
        if key.strip_prefix(pack).is_none_or(|rest| !rest.starts_with('.')) {
            continue;
        }
        let entry: KvEntry = decode("kv", bytes.value()).map_err(|e| e.to_string())?;
        if !entry.secret {
            moving.push((row.value().to_owned(), KvScope::System.row(key), bytes.value().to_vec()));
        }
    }
    let mut moved = 0;
    for (from, to, bytes) in moving {
        if table.get(to.as_str()).map_err(|e| e.to_string())?.is_some() {
            continue;
        }
        table.insert(to.as_str(), bytes.as_slice()).map_err(|e| e.to_string())?;
        table.remove(from.as_str()).map_err(|e| e.to_string())?;
        moved += 1;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use redb::Database;

    use super::*;
    use crate::store::codec::encode;
    use crate::store::schema::META;
    use crate::store::{Store, StoreConfig, now_millis};

    fn plain(value: &str) -> Vec<u8> {
        encode("kv", &KvEntry { value: value.into(), secret: false, expires_at: None })
            .expect("encode")
    }

    #[test]
    fn a_version_3_store_moves_pack_keys_named_as_stackstorm_does_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("squall.redb");
        let pack = KvScope::Pack("github".into());
        {
            let db = Database::create(&path).expect("create");
            let txn = db.begin_write().expect("write");
            {
                txn.open_table(META).expect("meta").insert("schema_version", "3").expect("v3");
                let mut kv = txn.open_table(KV).expect("kv");
                let rows = [
                    (pack.row("github.Sensor:last_event"), plain("41")),
                    (pack.row("github.Action:taken"), plain("pack's")),
                    (KvScope::System.row("github.Action:taken"), plain("operator's")),
                    (pack.row("cursor"), plain("c")),
                    (pack.row("githubby.X:y"), plain("not its prefix")),
                    (KvScope::Pack("git".into()).row("github.Sensor:z"), plain("another pack's")),
                ];
                for (row, bytes) in rows {
                    kv.insert(row.as_str(), bytes.as_slice()).expect("insert");
                }
            }
            txn.commit().expect("commit");
        }
        let store = Store::open(&path, StoreConfig::default()).expect("opens, migrating");
        let read = store.read().expect("read");
        let now = now_millis();
        let get = |scope: &KvScope, key: &str| read.kv_get(scope, key, now).expect("get");
        let system = KvScope::System;
        assert_eq!(get(&system, "github.Sensor:last_event"), Some("41".into()));
        assert_eq!(get(&pack, "github.Sensor:last_event"), None, "moved, not copied");
        assert_eq!(get(&system, "github.Action:taken"), Some("operator's".into()));
        assert_eq!(get(&pack, "github.Action:taken"), Some("pack's".into()), "kept, not lost");
        assert_eq!(get(&pack, "cursor"), Some("c".into()));
        assert_eq!(get(&pack, "githubby.X:y"), Some("not its prefix".into()));
        let git = KvScope::Pack("git".into());
        assert_eq!(get(&git, "github.Sensor:z"), Some("another pack's".into()));
        assert_eq!(get(&system, "github.Sensor:z"), None);
    }
}
