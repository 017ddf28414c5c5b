"""Certificate numbers `<ISO alpha-2>-<year>-<6-digit serial>`, gapless per country and year."""

from __future__ import annotations

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backend.certificates.models import CertificateCounter


def format_number(country_code: str, year: int, serial: int) -> str:
    return f"{country_code}-{year:04d}-{serial:06d}"


def next_serial(session: Session, country_code: str, year: int) -> int:
    """Bump the (country, year) counter inside the caller's transaction and return the serial.

    One upsert with RETURNING on both databases: PostgreSQL holds the counter row's lock until
    the issuing transaction ends (a concurrent issuer waits, then reads the committed value);
    SQLite sessions begin IMMEDIATE, so writers are already serial. Call it as late as possible
    in the transaction, just before the certificate is written, to keep the lock short.
    """
    table: Table = CertificateCounter.__table__  # type: ignore[attr-defined]
    stmt: Insert
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(table).values(country_code=country_code, year=year, last_serial=1)
        stmt = pg.on_conflict_do_update(
            index_elements=["country_code", "year"],
            set_={"last_serial": table.c.last_serial + 1},
        )
    else:
        lite = sqlite.insert(table).values(country_code=country_code, year=year, last_serial=1)
        stmt = lite.on_conflict_do_update(
            index_elements=["country_code", "year"],
            set_={"last_serial": table.c.last_serial + 1},
        )
    return int(session.execute(stmt.returning(table.c.last_serial)).scalar_one())
