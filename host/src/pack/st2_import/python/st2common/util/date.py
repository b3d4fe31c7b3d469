"""Time-zone aware dates, as StackStorm's `st2common.util.date` gives them.

Pure Python on the standard library: a date without a zone is taken to
be UTC, and results are in UTC unless asked to keep the original zone.
"""

import datetime

__all__ = ["get_datetime_utc_now", "add_utc_tz", "convert_to_utc", "parse"]

_UTC = datetime.timezone.utc


def get_datetime_utc_now():
    """The current time, in UTC, with its zone set."""
    return datetime.datetime.now(_UTC)


def append_milliseconds_to_time(date, millis):
    """`date` moved by `millis` milliseconds, in UTC."""
    return convert_to_utc(date + datetime.timedelta(milliseconds=millis))


def add_utc_tz(dt):
    """`dt` marked as UTC; one already in another zone is an error."""
    offset = dt.utcoffset() if dt.tzinfo else None
    if offset is not None and offset != datetime.timedelta(0):
        raise ValueError("datetime already contains a non UTC timezone")
    return dt.replace(tzinfo=_UTC)


def convert_to_utc(dt):
    """`dt` in UTC; one without a zone is taken to be UTC already."""
    if dt.tzinfo is None:
        return add_utc_tz(dt)
    return dt.astimezone(_UTC)


def _from_text(text):
    text = text.strip()
    # `fromisoformat` before Python 3.11 does not read a trailing `Z`.
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        pass
    # An RFC 2822 date (as in mail and HTTP headers) is the other form
    # StackStorm's fallback parser is met with in practice.
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"cannot parse {text!r} as a date") from None


def parse(value, preserve_original_tz=False):
    """An ISO 8601 date (text) as a zone-aware datetime, in UTC unless
    `preserve_original_tz`."""
    dt = value if isinstance(value, datetime.datetime) else _from_text(str(value))
    if dt.tzinfo is None:
        dt = add_utc_tz(dt)
    return dt if preserve_original_tz else convert_to_utc(dt)
