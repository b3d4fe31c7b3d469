//! Users, custom roles and tokens: their records and the typed operations
//! on them. The store keeps names and strings; what they mean (permission
//! types, decisions) is `access`'s.

use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::codec::{decode, encode};
use super::error::{ReadError, WriteError, storage_read, storage_write};
use super::records::{ApiKeyRecord, Millis};
use super::schema::{API_KEYS, ROLES, TOKEN_HASHES, TOKENS, USERS};
use super::snapshot::Snapshot;
use super::tx::{Existing, Tx};

/// A user: who keys and tokens act for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    /// Argon2id PHC string; absent for users who cannot sign in with a
    /// password (they use keys an administrator made for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// The roles assigned, system or custom, by name.
    #[serde(default)]
    pub roles: Vec<String>,
    /// A disabled user's keys and tokens are refused.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub description: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

fn yes() -> bool {
    true
}

/// One grant of a custom role: permission type names, on one resource uid
/// or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_uid: Option<String>,
    pub permission_types: Vec<String>,
}

/// A custom role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub permission_grants: Vec<GrantRecord>,
    pub updated_at: Millis,
}

/// A token from `/auth/v1/tokens`, as stored: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: Uuid,
    pub user: String,
    /// Hex sha256 of the token.
    pub hash: String,
    pub created_at: Millis,
    /// When it stops being accepted.
    pub expiry: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Millis>,
}

impl Tx<'_> {
    /// Stores a new user; refused when the name is taken.
    pub fn insert_user(&mut self, user: &UserRecord) -> Result<(), WriteError> {
        if self.user(&user.name)?.is_some() {
            return Err(WriteError::AlreadyExists(format!("user {}", user.name)));
        }
        self.put_named(USERS, "user", &user.name, user)
    }

    /// Replaces a stored user; refused when there is none.
    pub fn replace_user(&mut self, user: &UserRecord) -> Result<(), WriteError> {
        if self.user(&user.name)?.is_none() {
            return Err(WriteError::NotFound(format!("user {}", user.name)));
        }
        self.put_named(USERS, "user", &user.name, user)
    }

    /// The user named `name`, if any.
    pub fn user(&mut self, name: &str) -> Result<Option<UserRecord>, WriteError> {
        let table = self.table(USERS).map_err(storage_write)?;
        let stored = table.get(name).map_err(storage_write)?;
        Ok(stored.map(|bytes| decode("users", bytes.value())).transpose()?)
    }

    /// Deletes a user and revokes every key and token of theirs at `at`;
    /// false when there was no such user.
    pub fn delete_user(&mut self, name: &str, at: Millis) -> Result<bool, WriteError> {
        if !self.delete_named(USERS, name)? {
            return Ok(false);
        }
        let keys: Vec<ApiKeyRecord> = self.all_u128(API_KEYS, "api_keys")?;
        for key in keys.into_iter().filter(|k| k.user == name && k.revoked_at.is_none()) {
            self.revoke_api_key(key.id, at)?;
        }
        let tokens: Vec<TokenRecord> = self.all_u128(TOKENS, "tokens")?;
        for token in tokens.into_iter().filter(|t| t.user == name && t.revoked_at.is_none()) {
            self.revoke_token(token.id, at)?;
        }
        Ok(true)
    }

    /// Stores a custom role, replacing one of the same name.
    pub fn put_role(&mut self, role: &RoleRecord) -> Result<(), WriteError> {
        self.put_named(ROLES, "role", &role.name, role)
    }

    /// Deletes a custom role and takes it from every user holding it; false
    /// when there was no such role.
    pub fn delete_role(&mut self, name: &str, at: Millis) -> Result<bool, WriteError> {
        if !self.delete_named(ROLES, name)? {
            return Ok(false);
        }
        let users: Vec<UserRecord> = {
            let table = self.table(USERS).map_err(storage_write)?;
            let mut users = Vec::new();
            for row in table.iter().map_err(storage_write)? {
                users.push(decode("users", row.map_err(storage_write)?.1.value())?);
            }
            users
        };
        for mut user in users.into_iter().filter(|u| u.roles.iter().any(|r| r == name)) {
            user.roles.retain(|r| r != name);
            user.updated_at = at;
            self.put_named(USERS, "user", &user.name.clone(), &user)?;
        }
        Ok(true)
    }

    /// Stores a new token; refused if its id or hash is already stored.
    pub fn insert_token(&mut self, token: &TokenRecord) -> Result<(), WriteError> {
        {
            let hashes = self.table(TOKEN_HASHES).map_err(storage_write)?;
            if hashes.get(token.hash.as_str()).map_err(storage_write)?.is_some() {
                return Err(WriteError::AlreadyExists("token with this hash".into()));
            }
        }
        let bytes = encode("token", token)?;
        self.put_record(TOKENS, "token", token.id, &bytes, Existing::Refuse)?;
        let mut hashes = self.table(TOKEN_HASHES).map_err(storage_write)?;
        hashes.insert(token.hash.as_str(), token.id.as_u128()).map_err(storage_write)?;
        Ok(())
    }

    /// The token with id `id`, if any.
    pub fn token(&mut self, id: Uuid) -> Result<Option<TokenRecord>, WriteError> {
        self.get_u128(TOKENS, "tokens", id)
    }

    /// Revokes a token at `at`; false when it was already revoked.
    pub fn revoke_token(&mut self, id: Uuid, at: Millis) -> Result<bool, WriteError> {
        let mut token: TokenRecord = self
            .get_u128(TOKENS, "tokens", id)?
            .ok_or_else(|| WriteError::NotFound(format!("token {id}")))?;
        if token.revoked_at.is_some() {
            return Ok(false);
        }
        token.revoked_at = Some(at);
        let bytes = encode("token", &token)?;
        self.put_record(TOKENS, "token", id, &bytes, Existing::Require)?;
        Ok(true)
    }

    /// Deletes tokens that expired before `cutoff` (with their hashes), up
    /// to `limit`; returns how many.
    pub(crate) fn collect_tokens(
        &mut self,
        cutoff: Millis,
        limit: usize,
    ) -> Result<usize, WriteError> {
        let tokens: Vec<TokenRecord> = self.all_u128(TOKENS, "tokens")?;
        let victims: Vec<TokenRecord> =
            tokens.into_iter().filter(|t| t.expiry < cutoff).take(limit).collect();
        let mut table = self.table(TOKENS).map_err(storage_write)?;
        for token in &victims {
            table.remove(token.id.as_u128()).map_err(storage_write)?;
        }
        drop(table);
        let mut hashes = self.table(TOKEN_HASHES).map_err(storage_write)?;
        for token in &victims {
            hashes.remove(token.hash.as_str()).map_err(storage_write)?;
        }
        Ok(victims.len())
    }
}

impl Snapshot {
    /// The user named `name`, if any.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>, ReadError> {
        self.get_named(USERS, "users", name)
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>, ReadError> {
        self.all_named(USERS, "users")
    }

    /// The custom role named `name`, if any.
    pub fn role(&self, name: &str) -> Result<Option<RoleRecord>, ReadError> {
        self.get_named(ROLES, "roles", name)
    }

    /// Every custom role, by name.
    pub fn roles(&self) -> Result<Vec<RoleRecord>, ReadError> {
        self.all_named(ROLES, "roles")
    }

    /// The token whose sha256 is `hash`, revoked or not.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, ReadError> {
        let Some(hashes) = self.open(TOKEN_HASHES)? else { return Ok(None) };
        let Some(id) = hashes.get(hash).map_err(storage_read)? else { return Ok(None) };
        self.get_u128(TOKENS, "tokens", Uuid::from_u128(id.value()))
    }

    /// The token with id `id`, if any.
    pub fn token(&self, id: Uuid) -> Result<Option<TokenRecord>, ReadError> {
        self.get_u128(TOKENS, "tokens", id)
    }

    /// The API key with id `id`, if any.
    pub fn api_key(&self, id: Uuid) -> Result<Option<ApiKeyRecord>, ReadError> {
        self.get_u128(API_KEYS, "api_keys", id)
    }
}
