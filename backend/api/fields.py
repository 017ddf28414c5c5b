"""Input value types every schema shares: times and dates the calendar can hold, bounded counts.

A time at the calendar's edge (`0001-01-01T00:00:00+14:00`) is a valid ISO 8601 string that no
`datetime` can convert to UTC, and an integer past the column's range overflows the database;
both are refused here, at validation, as a 422 naming the field.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
RANGE_TEXT = "1900-01-01 to 2999-12-31 (UTC)"


def bounded_time(value: datetime) -> datetime:
    """An aware time whose UTC instant lies in the range every part of the server handles."""
    if value.tzinfo is None:
        raise ValueError("time needs a time zone (Z or an offset)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"time must lie within {RANGE_TEXT}")
    return value


def bounded_date(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(f"date must lie within {RANGE_TEXT}")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(bounded_time)]
Day = Annotated[date, AfterValidator(bounded_date)]
# Integer columns are 32-bit on PostgreSQL: a count past that range is refused, not overflowed.
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
