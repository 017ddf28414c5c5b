"""A certificate as signed fields, as its readers' JSON, and as the public verifier's answer."""

from __future__ import annotations

from datetime import date
from typing import Any

from backend.certificates.models import Certificate


def signed_fields(cert: Certificate) -> dict[str, Any]:
    """The payload body (see `offline.FIELDS`): what the signature covers, in wire form."""
    return {
        "v": 1,
        "kid": cert.key_id,
        "no": cert.number,
        "iss": cert.country_code,
        "auth": cert.issuing_authority,
        "org": cert.country_of_origin,
        "exp": cert.exporter_name,
        "imp": cert.importer_name,
        "dst": cert.destination_country,
        "ct": str(cert.carats),
        "usd": str(cert.usd_value),
        "n": cert.parcels,
        "hs": cert.hs_code,
        "di": cert.issue_date.isoformat(),
        "de": cert.expiry_date.isoformat(),
        "ev": cert.evidence_digest,
        "ovr": 1 if cert.override_id is not None else 0,
        "rep": cert.replaces_number or "",
    }


def fields_public(cert: Certificate) -> dict[str, Any]:
    """The certificate's own fields with readable names: all the public verifier shows."""
    return {
        "number": cert.number,
        "issuing_country": cert.country_code,
        "issuing_authority": cert.issuing_authority,
        "country_of_origin": cert.country_of_origin,
        "exporter": cert.exporter_name,
        "importer": cert.importer_name,
        "destination_country": cert.destination_country,
        "carats": cert.carats,
        "usd_value": cert.usd_value,
        "parcels": cert.parcels,
        "hs_code": cert.hs_code,
        "issue_date": cert.issue_date,
        "expiry_date": cert.expiry_date,
        "evidence_digest": cert.evidence_digest,
        "issued_on_override": cert.override_id is not None,
        "replaces": cert.replaces_number,
        "key_id": cert.key_id,
    }


def certificate_public(cert: Certificate, replaced_by: str | None) -> dict[str, Any]:
    confirmation = None
    if cert.confirmed_at is not None:
        confirmation = {
            "confirmed_at": cert.confirmed_at,
            "received_on": cert.confirmation_received_on,
            "importing_authority": cert.confirmation_authority,
            "reference": cert.confirmation_reference,
        }
    return {
        **fields_public(cert),
        "id": cert.id,
        "version": cert.version,
        "status": cert.status,
        "lot_id": cert.lot_id,
        "exporter_organisation_id": cert.exporter_organisation_id,
        "importer_address": cert.importer_address,
        "issued_at": cert.issued_at,
        "issued_by": cert.issued_by,
        "evidence_report_id": cert.evidence_report_id,
        "override_reason": cert.override_reason,
        "voided_at": cert.voided_at,
        "void_reason": cert.void_reason,
        "replaced_by": replaced_by,
        "confirmation": confirmation,
        "payload": cert.payload,
    }


def is_expired(cert: Certificate, today: date) -> bool:
    return today > cert.expiry_date
