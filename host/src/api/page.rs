//! What list endpoints share: `limit`/`offset` paging newest first over
//! the store's oldest-first, time-ordered (UUIDv7) records, and times as
//! RFC 3339 text.

use std::collections::VecDeque;

use serde::de::Error as _;
use serde::{Deserialize as _, Deserializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use uuid::Uuid;

use super::error::ApiError;
use crate::store::{Millis, ReadError};

/// Page size when the client names none.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// Largest page.
pub(crate) const MAX_LIMIT: usize = 1000;
/// Records read from the store at a time while scanning.
const CHUNK: usize = 512;

/// Which part of the matches a list answers with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    pub(crate) limit: usize,
    pub(crate) offset: usize,
}

impl Page {
    /// Checks the client's `limit` (1 to [`MAX_LIMIT`]) and `offset`.
    pub(crate) fn new(limit: Option<usize>, offset: Option<usize>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit: expected 1 to {MAX_LIMIT}, got {limit}"
            )));
        }
        Ok(Self { limit, offset: offset.unwrap_or(0) })
    }
}

/// Reads an `offset` query value: any non-negative integer, one past the
/// largest `usize` meaning the same as it (more records than any store
/// holds), so that no offset the document allows is refused.
pub(crate) fn saturating_offset<'de, D>(deserializer: D) -> Result<Option<usize>, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(D::Error::custom(format!("expected a non-negative integer, got `{text}`")));
    }
    Ok(Some(text.parse().unwrap_or(usize::MAX)))
}

/// What a scan does with a record.
pub(crate) enum Scan {
    Keep,
    Skip,
    /// Past the range asked for: no later record can match.
    Stop,
}

/// Scans records oldest first from after `from`, keeps the ones `judge`
/// keeps, and returns the `page` of them counted from the newest, with how
/// many matched in all. Memory is bounded by `offset + limit` records.
pub(crate) fn newest_first<T>(
    mut fetch: impl FnMut(Option<Uuid>, usize) -> Result<Vec<T>, ReadError>,
    id: impl Fn(&T) -> Uuid,
    from: Option<Uuid>,
    judge: impl Fn(&T) -> Scan,
    page: Page,
) -> Result<(Vec<T>, usize), ReadError> {
    let keep = page.offset.saturating_add(page.limit);
    let mut newest = VecDeque::new();
    let mut total = 0;
    let mut after = from;
    'scan: loop {
        let chunk = fetch(after, CHUNK)?;
        let done = chunk.len() < CHUNK;
        for record in chunk {
            after = Some(id(&record));
            match judge(&record) {
                Scan::Keep => {
                    total += 1;
                    newest.push_back(record);
                    if newest.len() > keep {
                        newest.pop_front();
                    }
                }
                Scan::Skip => {}
                Scan::Stop => break 'scan,
            }
        }
        if done {
            break;
        }
    }
    let records = newest.into_iter().rev().skip(page.offset).take(page.limit).collect();
    Ok((records, total))
}

/// The id just below every UUIDv7 created at or after `at`: a scan from
/// it sees those records and skips older ones.
pub(crate) fn ids_from(at: Millis) -> Option<Uuid> {
    let floor = u128::from(u64::try_from(at).ok()?) << 80;
    floor.checked_sub(1).map(Uuid::from_u128)
}

/// When a UUIDv7 was made, in milliseconds.
pub(crate) fn id_millis(id: Uuid) -> Millis {
    Millis::try_from(id.as_u128() >> 80).unwrap_or(Millis::MAX)
}

/// Milliseconds of 0001-01-01T00:00:00Z, the earliest time RFC 3339 can
/// write.
const EARLIEST: Millis = -62_135_596_800_000;

/// A time as RFC 3339 text in UTC. Times RFC 3339 cannot write (before
/// year 1, or after the latest time jiff knows, in year 9999) are written
/// as the nearest one it can: far-off expiries of huge TTLs, for one.
pub(crate) fn timestamp(at: Millis) -> String {
    let latest = jiff::Timestamp::MAX.as_millisecond();
    let at = at.clamp(EARLIEST, latest);
    jiff::Timestamp::from_millisecond(at).map_or_else(|_| at.to_string(), |t| t.to_string())
}

/// An optional time as RFC 3339 text.
pub(crate) fn timestamp_opt(at: Option<Millis>) -> Option<String> {
    at.map(timestamp)
}

/// A time filter as [`parse_time`] reads it, for the OpenAPI document:
/// RFC 3339 text, or milliseconds since the Unix epoch.
#[derive(Debug)]
pub(crate) struct TimeFilter;

impl utoipa::PartialSchema for TimeFilter {
    fn schema() -> RefOr<Schema> {
        let string = || ObjectBuilder::new().schema_type(Type::String);
        RefOr::T(
            OneOfBuilder::new()
                .item(string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))))
                .item(string().pattern(Some("^-?[0-9]{1,18}$")))
                .into(),
        )
    }
}

impl utoipa::ToSchema for TimeFilter {}

/// A time the client gave in `field`: RFC 3339 text, or milliseconds since
/// the Unix epoch.
pub(crate) fn parse_time(field: &str, text: &str) -> Result<Millis, ApiError> {
    if let Ok(millis) = text.parse::<Millis>() {
        return Ok(millis);
    }
    match text.parse::<jiff::Timestamp>() {
        Ok(time) => Ok(time.as_millisecond()),
        Err(error) => beyond_timestamps(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{field}: expected an RFC 3339 time (2025-01-31T12:00:00Z) or epoch milliseconds: {error}"
            ))
        }),
    }
}

/// The time RFC 3339 `text` names when jiff's timestamps cannot hold it
/// (they end late on 9999-12-30 UTC) but its dates can: the last hours of
/// year 9999, or a time past them once the offset is applied, such as
/// `9999-12-31T23:59:59-23:59`.
fn beyond_timestamps(text: &str) -> Option<Millis> {
    let pieces = jiff::fmt::temporal::Pieces::parse(text).ok()?;
    let offset = pieces.to_numeric_offset()?;
    let time = pieces.time()?;
    let days = jiff::civil::date(1970, 1, 1).until(pieces.date()).ok()?.get_days();
    let of_day = ((i64::from(time.hour()) * 60 + i64::from(time.minute())) * 60
        + i64::from(time.second()))
        * 1000
        + i64::from(time.millisecond());
    Some(i64::from(days) * 86_400_000 + of_day - i64::from(offset.seconds()) * 1000)
}
