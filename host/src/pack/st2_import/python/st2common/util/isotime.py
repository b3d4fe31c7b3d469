"""ISO 8601 text for dates, as StackStorm's `st2common.util.isotime`
gives it: `format`, `validate` and `parse`."""

import datetime
import re

from st2common.util import date as date_utils

__all__ = ["format", "validate", "parse"]

ISO8601_FORMAT = "%Y-%m-%dT%H:%M:%S"
ISO8601_FORMAT_MICROSECOND = "%Y-%m-%dT%H:%M:%S.%f"
# A UTC date and time: what `validate` accepts as text.
ISO8601_UTC_REGEX = (
    r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{3,6})?(Z|\+00|\+0000|\+00:00)$"
)


def format(dt, usec=True, offset=True):  # noqa: A001 - StackStorm's name
    """`dt` (a datetime, ISO text or a Unix time) as ISO 8601 text, with
    microseconds if `usec`, and its zone as `+HH:MM` if `offset`, else
    as `Z` for UTC or the zone's name."""
    if isinstance(dt, str):
        dt = parse(dt)
    elif isinstance(dt, (int, float)) and not isinstance(dt, bool):
        dt = datetime.datetime.fromtimestamp(dt, datetime.timezone.utc)
    text = dt.strftime(ISO8601_FORMAT_MICROSECOND if usec else ISO8601_FORMAT)
    if offset:
        zone = dt.strftime("%z")
        return text + (f"{zone[:3]}:{zone[3:5]}" if zone else "+00:00")
    name = dt.tzname() if dt.tzinfo else "UTC"
    return text + ("Z" if name in (None, "UTC") else name)


def validate(value, raise_exception=True):
    """Whether `value` is a datetime or UTC ISO 8601 text; with
    `raise_exception`, anything else is a `ValueError`."""
    if isinstance(value, datetime.datetime):
        return True
    if isinstance(value, str) and re.match(ISO8601_UTC_REGEX, value):
        return True
    if raise_exception:
        raise ValueError("Datetime value does not match expected format.")
    return False


def parse(value, preserve_original_tz=False, validate_value=True):
    """UTC ISO 8601 text (checked unless `validate_value` is false, which
    lets any zone through) as a zone-aware datetime."""
    if validate_value:
        validate(value, raise_exception=True)
    return date_utils.parse(value, preserve_original_tz=preserve_original_tz)
