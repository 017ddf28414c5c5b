"""Certificate use cases: issue on passing evidence (or a reasoned override), void, confirm.

Each takes `*, session` and commits once, or rolls back everything (the serial included, so a
refused or failed issuance leaves no gap in the numbers).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.audit.service import record as audit
from backend.audit.service import snapshot
from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.certificates import numbering, queries
from backend.certificates.errors import CertificateRefused, EvidenceFails, SigningKeyMissing
from backend.certificates.keys import SETTING, KeyRing
from backend.certificates.models import Certificate, CertificateStatus
from backend.certificates.offline import sign
from backend.certificates.schemas import CertificateIn, ConfirmationIn, ReplacementIn, ShipmentIn
from backend.certificates.views import signed_fields
from backend.clock import utcnow
from backend.custody.models import Lot, LotStatus
from backend.errors import Duplicate, Forbidden, NotFound, field_error
from backend.evidence.models import EvidenceOverride, EvidenceReport, Verdict
from backend.evidence.reports import is_current, latest_report, record_override
from backend.registry.models import Organisation, OrganisationKind
from backend.settings import Settings
from backend.usecase import use_case

# The evidence check whose `pass` means every upstream lot is domestic (DESIGN §5, check 9).
ORIGIN_CHECK = "origin"
MIXED = "mixed"
CENT = Decimal("0.01")


def _signer(keyring: KeyRing) -> None:
    if keyring.signer is None:
        raise SigningKeyMissing(
            "",
            f"no certificate signing key is configured: set {SETTING} to a key file made by "
            "`python -m backend keygen` and restart the server",
        )


def _certifiable_lot(session: Session, lot: Lot | None, *, replacing: bool) -> Organisation:
    if lot is None:
        raise field_error("/lot_id", "no such lot")
    allowed = {LotStatus.sealed, LotStatus.exported} if replacing else {LotStatus.sealed}
    if lot.status not in allowed:
        raise CertificateRefused(
            "/lot_id", f"the lot is {lot.status}; only a sealed export lot can be certified"
        )
    org = (
        session.get(Organisation, lot.holder_organisation_id)
        if lot.holder_organisation_id is not None
        else None
    )
    if org is None or org.kind != OrganisationKind.exporter:
        raise CertificateRefused("/lot_id", "the lot is not held by an exporter")
    if lot.usd_value is None:
        raise CertificateRefused("/lot_id", "the lot has not been valued (record a value event)")
    return org


def _evidence(
    session: Session, principal: Principal, lot: Lot, body: ShipmentIn
) -> tuple[EvidenceReport, bool]:
    """The lot's current report, and whether issuance proceeds on an override."""
    report = latest_report(session, lot.id)
    if report is None:
        raise CertificateRefused(
            "/lot_id", "the lot has no evidence report; compute one before issuing"
        )
    if not is_current(session, report):
        raise CertificateRefused(
            "/lot_id",
            "the evidence report was computed on data that has changed since; recompute it",
        )
    if report.verdict != Verdict.fail:
        if body.override_reason is not None:
            raise field_error(
                "/override_reason", "the evidence does not fail; there is nothing to override"
            )
        return report, False
    failing = [c for c in report.checks if c.get("verdict") == Verdict.fail]
    if body.override_reason is None:
        names = ", ".join(str(c.get("id")) for c in failing) or "(none named)"
        raise EvidenceFails(
            "/override_reason",
            f"the evidence report fails check(s) {names}; an export-office officer may "
            "override with a written reason",
            extra={
                "evidence_report_id": str(report.id),
                "failing_checks": [
                    {"id": c.get("id"), "sentence": c.get("sentence")} for c in failing
                ],
            },
        )
    if principal.role is not Role.export_office:
        raise Forbidden("only an export-office officer may override failing evidence")
    return report, True


def _origin(report: EvidenceReport, lot: Lot) -> str:
    check = next((c for c in report.checks if c.get("id") == ORIGIN_CHECK), None)
    return lot.country_code if check and check.get("verdict") == Verdict.passed else MIXED


def _issue(
    session: Session,
    principal: Principal,
    settings: Settings,
    keyring: KeyRing,
    lot: Lot | None,
    body: ShipmentIn,
    replaces: Certificate | None,
) -> Certificate:
    _signer(keyring)
    assert keyring.signer is not None and keyring.signer_kid is not None
    exporter = _certifiable_lot(session, lot, replacing=replaces is not None)
    assert lot is not None and lot.usd_value is not None
    held = queries.valid_for_lot(session, lot.id)
    if held is not None:
        raise Duplicate(f"the lot already has a valid certificate, {held.number}; void it first")
    report, overriding = _evidence(session, principal, lot, body)
    now = utcnow()
    # Last, so the counter's lock is held only for the few writes that follow.
    serial = numbering.next_serial(session, lot.country_code, now.year)
    number = numbering.format_number(lot.country_code, now.year, serial)
    override: EvidenceOverride | None = None
    if overriding:
        assert body.override_reason is not None
        override = record_override(
            session=session,
            principal=principal,
            report=report,
            reason=body.override_reason,
            purpose=f"certificate:{number}",
        )
    cert = Certificate(
        number=number,
        country_code=lot.country_code,
        year=now.year,
        serial=serial,
        lot_id=lot.id,
        exporter_organisation_id=exporter.id,
        exporter_name=exporter.name,
        importer_name=body.importer_name,
        importer_address=body.importer_address,
        destination_country=body.destination_country,
        country_of_origin=_origin(report, lot),
        issuing_authority=settings.certificate_issuing_authority,
        carats=lot.carats.quantize(CENT, rounding=ROUND_HALF_UP),
        usd_value=lot.usd_value,
        parcels=body.parcels,
        hs_code=body.hs_code.value,
        issued_at=now,
        issue_date=now.date(),
        expiry_date=now.date() + timedelta(days=settings.certificate_validity_days),
        issued_by=principal.user_id,
        evidence_report_id=report.id,
        evidence_digest=report.digest,
        override_id=override.id if override else None,
        override_reason=override.reason if override else None,
        replaces_id=replaces.id if replaces else None,
        replaces_number=replaces.number if replaces else None,
        key_id=keyring.signer_kid,
        payload="",
    )
    cert.payload = sign(signed_fields(cert), keyring.signer)
    session.add(cert)
    try:
        session.flush()
    except IntegrityError as exc:
        # Another issuer certified the same lot in the meantime (the partial unique index).
        raise Duplicate("the lot was certified concurrently; reload it") from exc
    audit(
        session=session,
        principal=principal,
        action="issue",
        entity_type="certificate",
        entity_id=cert.id,
        before=None,
        after=snapshot(cert),
        reason=body.override_reason,
    )
    return cert


@use_case
def issue(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    keyring: KeyRing,
    body: CertificateIn,
) -> Certificate:
    lot = session.get(Lot, body.lot_id)
    cert = _issue(session, principal, settings, keyring, lot, body, None)
    session.commit()
    return cert


def _locked(session: Session, number: str) -> Certificate:
    cert = session.scalars(
        select(Certificate).where(col(Certificate.number) == number).with_for_update()
    ).first()
    if cert is None:
        raise NotFound(f"no certificate {number}")
    return cert


def _void(session: Session, principal: Principal, cert: Certificate, reason: str) -> None:
    if cert.status != CertificateStatus.valid:
        raise CertificateRefused("", f"certificate {cert.number} is already {cert.status}")
    before = snapshot(cert)
    now = utcnow()
    cert.status = CertificateStatus.voided
    cert.voided_at, cert.voided_by, cert.void_reason = now, principal.user_id, reason
    cert.version += 1
    cert.updated_at = now
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="void",
        entity_type="certificate",
        entity_id=cert.id,
        before=before,
        after=snapshot(cert),
        reason=reason,
    )


@use_case
def void(*, session: Session, principal: Principal, number: str, reason: str) -> Certificate:
    cert = _locked(session, number)
    _void(session, principal, cert, reason)
    session.commit()
    return cert


@use_case
def replace(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    keyring: KeyRing,
    number: str,
    body: ReplacementIn,
) -> Certificate:
    """Void `number` (if still valid) and issue its replacement for the same lot, at once."""
    _signer(keyring)
    old = _locked(session, number)
    if queries.replaced_by(session, [old.id]):
        raise Duplicate(f"certificate {number} has already been replaced")
    if old.status == CertificateStatus.valid:
        _void(session, principal, old, body.void_reason)
    cert = _issue(session, principal, settings, keyring, session.get(Lot, old.lot_id), body, old)
    session.commit()
    return cert


@use_case
def confirm(
    *, session: Session, principal: Principal, number: str, body: ConfirmationIn
) -> Certificate:
    """Record the importing authority's confirmation (the return slip)."""
    cert = _locked(session, number)
    if cert.status != CertificateStatus.valid:
        raise CertificateRefused("", f"certificate {number} is {cert.status}; nothing to confirm")
    if cert.confirmed_at is not None:
        raise Duplicate(f"certificate {number} was confirmed already")
    if body.received_on < cert.issue_date:
        raise field_error("/received_on", "the return slip cannot predate the certificate")
    before: dict[str, Any] = snapshot(cert)
    now = utcnow()
    cert.confirmed_at, cert.confirmed_by = now, principal.user_id
    cert.confirmation_received_on = body.received_on
    cert.confirmation_authority = body.importing_authority
    cert.confirmation_reference = body.reference
    cert.version += 1
    cert.updated_at = now
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="confirm",
        entity_type="certificate",
        entity_id=cert.id,
        before=before,
        after=snapshot(cert),
    )
    session.commit()
    return cert
