//! What list endpoints share: the query parameters each one takes
//! (anything else is a 400 naming it), `limit`/`offset` paging newest
//! first over the store's reverse range, pages bounded by bytes as well as
//! by count, the attributes an answer carries (`fields`), and times as
//! RFC 3339 text.

mod fields;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::de::Error as _;
use serde::{Deserialize as _, Deserializer};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use uuid::Uuid;

pub(crate) use fields::Fields;

use super::auth::{CREDENTIAL_PARAMS, query_pairs};
use super::error::ApiError;
use crate::store::{Millis, ReadError, SkipRecords};

/// Page size when the client names none.
pub(crate) const DEFAULT_LIMIT: usize = 50;
/// Largest page.
pub(crate) const MAX_LIMIT: usize = 1000;
/// A page stops growing at this many bytes of JSON (always holding at
/// least one record), so that asking for big attributes of many records
/// cannot make one answer huge; `X-Page-Truncated` says it stopped early.
pub(crate) const MAX_PAGE_BYTES: usize = 4 << 20;

/// Which part of the matches a list answers with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    pub(crate) limit: usize,
    pub(crate) offset: usize,
}

impl Page {
    /// Checks the client's `limit` (1 to [`MAX_LIMIT`], or StackStorm's
    /// `-1`, "as many as there are", which is the largest page: the
    /// `x-next-offset` header says where the rest starts) and `offset`.
    pub(crate) fn new(limit: Option<i64>, offset: Option<usize>) -> Result<Self, ApiError> {
        let limit = match limit.unwrap_or(DEFAULT_LIMIT as i64) {
            -1 => MAX_LIMIT,
            limit => usize::try_from(limit)
                .ok()
                .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "limit: expected 1 to {MAX_LIMIT}, or -1 for the largest page, got {limit}"
                    ))
                    .with_detail(serde_json::json!({"parameter": "limit"}))
                })?,
        };
        Ok(Self { limit, offset: offset.unwrap_or(0) })
    }
}

/// Refuses a query parameter not in `known` (credentials aside, which
/// the auth layer reads): a misspelt or unsupported filter must not
/// quietly widen the answer.
pub(crate) fn only_known(query: Option<&str>, known: &[&str]) -> Result<(), ApiError> {
    for (name, _) in query_pairs(query.unwrap_or("")) {
        if !known.contains(&name.as_str()) && !CREDENTIAL_PARAMS.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "{name}: unknown query parameter; this list takes {}",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// StackStorm's order parameters, `sort_desc` and `sort_asc` (`True`,
/// `true`, `False` or `false`). Lists come newest first, which is
/// `sort_desc`; asking for `sort_asc=true` is refused, since the lists
/// are read from the store newest first.
pub(crate) fn check_order(sort_asc: Option<&str>, sort_desc: Option<&str>) -> Result<(), ApiError> {
    for (name, value) in [("sort_asc", sort_asc), ("sort_desc", sort_desc)] {
        let Some(value) = value else { continue };
        let on = match value {
            "true" | "True" => true,
            "false" | "False" => false,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "{name}: expected true or false, got `{}`",
                    value.escape_debug()
                ))
                .with_detail(serde_json::json!({"parameter": name})));
            }
        };
        if name == "sort_asc" && on {
            return Err(ApiError::bad_request(
                "sort_asc: lists come newest first only (sort_desc); page with offset instead",
            )
            .with_detail(serde_json::json!({"parameter": name})));
        }
    }
    Ok(())
}

/// Declares `$name`, the schema of `$view` in a list that takes
/// `include_attributes`: the same attributes, of which only `id` is
/// always there.
macro_rules! summary_of {
    ($name:ident, $view:ty) => {
        #[doc = concat!("A `", stringify!($view), "` in a list: the attributes asked for; only `id` is always there.")]
        #[derive(Debug)]
        pub(crate) struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::api::page::only_id_required(<$view as utoipa::PartialSchema>::schema())
            }
        }

        impl utoipa::ToSchema for $name {
            fn schemas(
                schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                <$view as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
pub(crate) use summary_of;

/// The query of a catalog list (actions, rules, trigger and sensor
/// types): StackStorm's filters on `pack` and `name`, and its paging.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CatalogQuery {
    /// Only those of this pack (`st2 rule list --pack`).
    pack: Option<String>,
    /// Only those of this name within their pack (st2client's
    /// `get_by_name`).
    name: Option<String>,
    /// Page size, 1 to 1000, or -1 for the largest page; default all.
    #[param(minimum = -1, maximum = 1000)]
    limit: Option<i64>,
    /// Items to skip, in the list's order.
    #[serde(default, deserialize_with = "saturating_offset")]
    offset: Option<usize>,
    /// Only these attributes, separated by commas (`id` always comes
    /// too; `action.ref` chooses `action`).
    include_attributes: Option<String>,
    /// Every attribute but these, separated by commas.
    exclude_attributes: Option<String>,
    /// StackStorm's order: `true` or `false` (the list's own order).
    #[param(pattern = "^(true|false|True|False)$")]
    sort_desc: Option<String>,
    /// StackStorm's order: only `false` is taken.
    #[param(pattern = "^(false|False)$")]
    sort_asc: Option<String>,
}

impl CatalogQuery {
    /// `items` filtered by `pack` and `name`, paged, with the attributes
    /// asked for; a parameter the list does not take is refused.
    pub(crate) fn apply<T: serde::Serialize>(
        &self,
        raw: Option<&str>,
        items: Vec<T>,
    ) -> Result<Vec<Value>, ApiError> {
        only_known(
            raw,
            &[
                "pack",
                "name",
                "limit",
                "offset",
                "include_attributes",
                "exclude_attributes",
                "sort_desc",
                "sort_asc",
            ],
        )?;
        check_order(self.sort_asc.as_deref(), self.sort_desc.as_deref())?;
        let limit = match self.limit {
            None => usize::MAX,
            limit => Page::new(limit, None)?.limit,
        };
        if self.include_attributes.is_some() && self.exclude_attributes.is_some() {
            return Err(ApiError::bad_request(
                "include_attributes, exclude_attributes: give one or the other",
            ));
        }
        let names = |text: &Option<String>| -> Option<Vec<String>> {
            text.as_ref().map(|text| {
                text.split(',')
                    .map(|name| name.trim().split('.').next().unwrap_or("").to_owned())
                    .collect()
            })
        };
        let (include, exclude) = (names(&self.include_attributes), names(&self.exclude_attributes));
        let text =
            |item: &Value, key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(items
            .into_iter()
            .filter_map(|item| serde_json::to_value(item).ok())
            .filter(|item| {
                self.pack.as_ref().is_none_or(|pack| text(item, "pack").as_ref() == Some(pack))
                    && self
                        .name
                        .as_ref()
                        .is_none_or(|name| text(item, "name").as_ref() == Some(name))
            })
            .skip(self.offset.unwrap_or(0))
            .take(limit)
            .map(|mut item| {
                if let Value::Object(fields) = &mut item {
                    fields.retain(|name, _| {
                        include.as_ref().is_none_or(|keep| name == "id" || keep.contains(name))
                            && exclude.as_ref().is_none_or(|drop| !drop.contains(name))
                    });
                }
                item
            })
            .collect())
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

/// One page of a list, with what the headers say about the rest.
#[derive(Debug)]
pub(crate) struct Listing {
    items: Vec<Map<String, Value>>,
    /// How many match, when known without reading them all.
    total: Option<u64>,
    /// Where the next page starts, when more match.
    next_offset: Option<usize>,
    /// The byte bound ended the page before `limit`.
    truncated: bool,
}

impl IntoResponse for Listing {
    fn into_response(self) -> Response {
        let mut headers = Vec::new();
        if let Some(total) = self.total {
            headers.push(("x-total-count", total.to_string()));
        }
        if let Some(next) = self.next_offset {
            headers.push(("x-next-offset", next.to_string()));
        }
        if self.truncated {
            headers.push(("x-page-truncated", "true".to_owned()));
        }
        let mut response = Json(self.items).into_response();
        for (name, value) in headers {
            if let Ok(value) = value.parse() {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// Takes the `page` of the records `rows` yields (newest first: the
/// store's `NewestFirst`) that `keep` keeps, each as `render` makes it. With `count` (the table's
/// length: no filter), the offset is passed over without decoding and the
/// total is `count`; with a filter the scan stops one match past the
/// page, and the total is known only when it reached the end. Memory is
/// bounded by one page.
pub(crate) fn newest_first<T>(
    mut rows: impl Iterator<Item = Result<T, ReadError>> + SkipRecords,
    keep: impl Fn(&T) -> bool,
    mut render: impl FnMut(T) -> Result<Map<String, Value>, ReadError>,
    page: Page,
    count: Option<u64>,
) -> Result<Listing, ReadError> {
    let mut skipped = match count {
        Some(_) => rows.skip_records(page.offset)?,
        None => 0,
    };
    let mut items = Vec::new();
    let mut bytes = 2; // the brackets
    let (mut more, mut truncated) = (false, false);
    for record in rows {
        let record = record?;
        if !keep(&record) {
            continue;
        }
        if skipped < page.offset {
            skipped += 1;
            continue;
        }
        if items.len() == page.limit {
            more = true;
            break;
        }
        let item = render(record)?;
        let size = crate::store::encoded_len(&item) + 1;
        if !items.is_empty() && bytes + size > MAX_PAGE_BYTES {
            (more, truncated) = (true, true);
            break;
        }
        bytes += size;
        items.push(item);
    }
    let total = count.or_else(|| (!more).then_some((skipped + items.len()) as u64));
    let next_offset = more.then_some(page.offset + items.len());
    Ok(Listing { items, total, next_offset, truncated })
}

/// A record's schema as a list's item: the same attributes, of which
/// only `id` is always there (`include_attributes` chooses the rest).
pub(crate) fn only_id_required(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut object)) => {
            object.required = vec!["id".to_owned()];
            RefOr::T(Schema::Object(object))
        }
        other => other,
    }
}

/// The smallest UUIDv7 of millisecond `at` (the nil id before 1970).
pub(crate) fn id_floor(at: Millis) -> Uuid {
    Uuid::from_u128(u128::from(u64::try_from(at).unwrap_or(0)) << 80)
}

/// The largest UUIDv7 of millisecond `at`.
pub(crate) fn id_ceiling(at: Millis) -> Uuid {
    match u64::try_from(at) {
        Ok(at) if at < 1 << 48 => Uuid::from_u128((u128::from(at + 1) << 80) - 1),
        Ok(_) => Uuid::max(),
        Err(_) => Uuid::nil(),
    }
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
