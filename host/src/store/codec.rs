//! JSON encoding of stored records, with errors that name the table.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{ReadError, WriteError};

pub(crate) fn encode<T: Serialize>(field: &'static str, record: &T) -> Result<Vec<u8>, WriteError> {
    serde_json::to_vec(record)
        .map_err(|e| WriteError::Invalid { field, message: format!("cannot be encoded: {e}") })
}

pub(crate) fn decode<T: DeserializeOwned>(
    table: &'static str,
    bytes: &[u8],
) -> Result<T, ReadError> {
    serde_json::from_slice(bytes).map_err(|e| ReadError::Corrupt { table, message: e.to_string() })
}
