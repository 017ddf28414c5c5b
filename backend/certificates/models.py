"""Certificate tables: the certificate (KPCS Annex I fields, signature) and the number counter."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from backend.models_base import Record
from backend.types import ExactDecimal, UTCDateTime

# KP statistics report carats to 2 decimals and USD to 2.
CARATS = ExactDecimal(14, 2)
USD = ExactDecimal(16, 2)


class CertificateStatus(StrEnum):
    valid = "valid"
    voided = "voided"


class HsCode(StrEnum):
    """Rough diamonds under the Harmonized System, as KPCS Annex I lists them."""

    unsorted = "7102.10"
    industrial = "7102.21"
    non_industrial = "7102.31"


class CertificateCounter(SQLModel, table=True):
    """The last serial issued per (country, year): bumped in the issuing transaction.

    The bump is one `INSERT … ON CONFLICT DO UPDATE … RETURNING`, which holds the row lock
    (PostgreSQL) or the write lock (SQLite) until commit; a rolled-back issuance rolls its
    serial back too, so numbers stay gapless.
    """

    __tablename__ = "certificate_counter"

    country_code: str = Field(max_length=2, primary_key=True)
    year: int = Field(primary_key=True)
    last_serial: int = Field(ge=0)


class Certificate(Record, table=True):
    """A KP certificate for one sealed export lot. Never deleted: voiding is a status.

    The signed fields are copied here as issued, so the record, its payload and its print
    agree whatever later happens to the lot or the registry.
    """

    __tablename__ = "certificate"
    __table_args__ = (
        UniqueConstraint("country_code", "year", "serial", name="uq_certificate_serial"),
        # At most one valid certificate per lot, whatever the code does.
        Index(
            "uq_certificate_valid_lot",
            "lot_id",
            unique=True,
            postgresql_where=text("status = 'valid'"),
            sqlite_where=text("status = 'valid'"),
        ),
    )

    number: str = Field(max_length=32, unique=True, index=True)
    country_code: str = Field(max_length=2)
    year: int
    serial: int = Field(ge=1)
    status: str = Field(default=CertificateStatus.valid, max_length=8, index=True)
    lot_id: uuid.UUID = Field(foreign_key="lot.id", index=True)
    exporter_organisation_id: uuid.UUID = Field(foreign_key="organisation.id", index=True)
    exporter_name: str = Field(max_length=200)
    importer_name: str = Field(max_length=200)
    importer_address: str = Field(max_length=500)
    destination_country: str = Field(max_length=2)
    country_of_origin: str = Field(max_length=8)  # ISO alpha-2, or "mixed"
    issuing_authority: str = Field(max_length=200)
    carats: Decimal = Field(sa_type=CARATS)
    usd_value: Decimal = Field(sa_type=USD)
    parcels: int = Field(ge=1)
    hs_code: str = Field(max_length=8)
    issued_at: datetime = Field(sa_type=UTCDateTime, index=True)
    issue_date: date
    expiry_date: date
    issued_by: uuid.UUID = Field(foreign_key="app_user.id")
    evidence_report_id: uuid.UUID = Field(foreign_key="evidence_report.id")
    evidence_digest: str = Field(max_length=64)
    override_id: uuid.UUID | None = Field(default=None, foreign_key="evidence_override.id")
    override_reason: str | None = Field(default=None, max_length=4000)
    replaces_id: uuid.UUID | None = Field(default=None, foreign_key="certificate.id", unique=True)
    replaces_number: str | None = Field(default=None, max_length=32)
    key_id: str = Field(max_length=16)
    payload: str = Field(max_length=4000)
    voided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    voided_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    void_reason: str | None = Field(default=None, max_length=2000)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    confirmed_by: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    confirmation_received_on: date | None = None
    confirmation_authority: str | None = Field(default=None, max_length=200)
    confirmation_reference: str | None = Field(default=None, max_length=100)
