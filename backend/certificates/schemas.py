"""Certificate API shapes: what an issuer sends, what readers and the public verifier get."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.api.fields import Day
from backend.certificates.models import HsCode

Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")]
Reason = Annotated[str, Field(min_length=10, max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ShipmentIn(Strict):
    """The fields an export office fills in; the rest comes from the lot and its evidence."""

    importer_name: Annotated[str, Field(min_length=2, max_length=200)]
    importer_address: Annotated[str, Field(min_length=2, max_length=500)]
    destination_country: Country
    hs_code: HsCode = Field(description="7102.10 unsorted, 7102.21 industrial, 7102.31 other")
    parcels: Annotated[int, Field(ge=1, le=10_000)] = 1
    override_reason: Reason | None = Field(
        default=None,
        description="export office only: why to issue although the evidence fails (audited, "
        "printed on the certificate record)",
    )


class CertificateIn(ShipmentIn):
    lot_id: uuid.UUID = Field(description="a sealed export lot held by an exporter")


class ReplacementIn(ShipmentIn):
    void_reason: Reason = Field(description="why the certificate being replaced is voided")


class CertificateVoidIn(Strict):
    reason: Reason


class ConfirmationIn(Strict):
    """The import confirmation (return slip) sent back by the importing authority."""

    received_on: Day
    importing_authority: Annotated[str, Field(min_length=2, max_length=200)]
    reference: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class CertificateFields(BaseModel):
    """The certificate's own fields (KPCS Annex I), exactly what the signature covers."""

    number: str
    issuing_country: str
    issuing_authority: str
    country_of_origin: str = Field(description="ISO alpha-2, or `mixed` if origin is not unmixed")
    exporter: str
    importer: str
    destination_country: str
    carats: Decimal
    usd_value: Decimal
    parcels: int
    hs_code: str
    issue_date: date
    expiry_date: date
    evidence_digest: str
    issued_on_override: bool
    replaces: str | None
    key_id: str


class Confirmation(BaseModel):
    confirmed_at: datetime
    received_on: date
    importing_authority: str
    reference: str | None


class CertificatePublic(CertificateFields):
    """A certificate as its readers (export office, ministry, auditors, its exporter) see it."""

    id: uuid.UUID
    version: int
    status: Literal["valid", "voided"]
    lot_id: uuid.UUID
    exporter_organisation_id: uuid.UUID
    importer_address: str
    issued_at: datetime
    issued_by: uuid.UUID
    evidence_report_id: uuid.UUID
    override_reason: str | None
    voided_at: datetime | None
    void_reason: str | None
    replaced_by: str | None
    confirmation: Confirmation | None
    payload: str = Field(description="the signed QR payload (KPC1.<body>.<signature>)")


class CertificatesPublic(BaseModel):
    items: list[CertificatePublic]
    next_cursor: str | None


class PayloadCheck(BaseModel):
    valid: bool
    detail: str


class Verification(BaseModel):
    """The public answer: the certificate's fields only, and whether it stands."""

    number: str
    status: Literal["valid", "voided", "unknown"]
    expired: bool | None
    replaced_by: str | None
    certificate: CertificateFields | None
    payload_check: PayloadCheck | None = Field(
        description="when ?payload= is given: signature and match with the record"
    )


class YearCount(BaseModel):
    year: int
    issued: int
    valid: int
    voided: int
    confirmed: int
    awaiting_confirmation_overdue: int


class CertificateCounts(BaseModel):
    confirmation_days: int
    years: list[YearCount]


class PublicKeys(BaseModel):
    keys: list[dict[str, str]] = Field(description="Ed25519 public keys as JWK (RFC 8037)")
