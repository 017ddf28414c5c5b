"""Reporting periods as text keys (2026-03, 2026-Q1, 2026-H1): parsing, bounds, and the SQL key."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import String, case, cast, func, literal, literal_column
from sqlalchemy.orm import Session

from backend.errors import FieldError, ValidationFailed


class Period(StrEnum):
    month = "month"
    quarter = "quarter"
    half = "half"


PATTERNS = {
    # Years 1900-2999: the range every time in the API lies in (backend/api/fields.py).
    Period.month: re.compile(r"^((?:19|2\d)\d{2})-(0[1-9]|1[0-2])$"),
    Period.quarter: re.compile(r"^((?:19|2\d)\d{2})-Q([1-4])$"),
    Period.half: re.compile(r"^((?:19|2\d)\d{2})-H([12])$"),
}
MONTHS_IN = {Period.month: 1, Period.quarter: 3, Period.half: 6}


def key_of(day: date, period: Period) -> str:
    if period is Period.month:
        return f"{day.year:04d}-{day.month:02d}"
    if period is Period.quarter:
        return f"{day.year:04d}-Q{(day.month + 2) // 3}"
    return f"{day.year:04d}-H{1 if day.month <= 6 else 2}"


def parse_key(raw: str, period: Period, pointer: str) -> str:
    if not PATTERNS[period].match(raw):
        example = key_of(date(2026, 3, 1), period)
        raise ValidationFailed(
            f"{raw!r} is not a {period.value} such as {example}",
            errors=[FieldError(pointer, f"expected a {period.value} such as {example}")],
        )
    return raw


def within(raw: str, period: Period, pointer: str, *, first: bool) -> str:
    """The `period` key holding a month, quarter or half key: its first month (`first`) or last.

    So `from=2026-02&period=quarter` means 2026-Q1, and `to=2026-H1` with months means 2026-06.
    """
    if not any(p.match(raw) for p in PATTERNS.values()):
        raise ValidationFailed(
            f"{raw!r} is not a month, quarter or half-year such as 2026-03, 2026-Q1 or 2026-H1",
            errors=[FieldError(pointer, "expected e.g. 2026-03, 2026-Q1 or 2026-H1")],
        )
    start, stop = bounds(raw)
    day = start.date() if first else (stop - timedelta(days=1)).date()
    return key_of(day, period)


def bounds(key: str) -> tuple[datetime, datetime]:
    """[start, end) of a period key, as aware UTC datetimes."""
    for period, pattern in PATTERNS.items():
        m = pattern.match(key)
        if m is None:
            continue
        year, n = int(m.group(1)), int(m.group(2))
        first = (n - 1) * MONTHS_IN[period] + 1
        last = first + MONTHS_IN[period]
        start = datetime(year, first, 1, tzinfo=UTC)
        end = datetime(year + (last - 1) // 12, (last - 1) % 12 + 1, 1, tzinfo=UTC)
        return start, end
    raise ValueError(f"not a period key: {key}")


def days_in(key: str) -> int:
    start, end = bounds(key)
    return (end - start).days


def keys_between(first: str, last: str, period: Period) -> list[str]:
    """Every key of `period` from the one holding `first` to the one holding `last`."""
    start, _ = bounds(first)
    _, stop = bounds(last)
    out: list[str] = []
    y, m = start.year, start.month
    while datetime(y, m, 1, tzinfo=UTC) < stop:
        k = key_of(date(y, m, 1), period)
        if not out or out[-1] != k:
            out.append(k)
        m += 1
        if m == 13:
            y, m = y + 1, 1
    return out


# --- SQL ----------------------------------------------------------------------------------------
# The only dialect-specific SQL of the feature: the month of a UTC timestamp column.


def month_sql(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        # Inlined, not bound: the same expression must match itself in GROUP BY.
        return func.to_char(
            func.timezone(literal_column("'UTC'"), column), literal_column("'YYYY-MM'")
        )
    return func.substr(column, 1, 7)  # SpatiaLite keeps naive UTC text: 2026-03-14 09:…


def quarter_of_month_sql(month: Any) -> Any:
    number = func.substr(month, 6, 2)
    q = case(
        (number.in_(["01", "02", "03"]), literal("-Q1")),
        (number.in_(["04", "05", "06"]), literal("-Q2")),
        (number.in_(["07", "08", "09"]), literal("-Q3")),
        else_=literal("-Q4"),
    )
    return cast(func.substr(month, 1, 4), String).op("||")(q)


def half_of_month_sql(month: Any) -> Any:
    number = func.substr(month, 6, 2)
    h = case(
        (number.in_(["01", "02", "03", "04", "05", "06"]), literal("-H1")), else_=literal("-H2")
    )
    return cast(func.substr(month, 1, 4), String).op("||")(h)


def period_sql(session: Session, column: Any, period: Period) -> Any:
    month = month_sql(session, column)
    if period is Period.month:
        return month
    if period is Period.quarter:
        return quarter_of_month_sql(month)
    return half_of_month_sql(month)
