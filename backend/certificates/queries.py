"""Certificate reads, scoped to the reader: exporters see their own, national readers all."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.certificates.models import Certificate, CertificateStatus


def _scoped(principal: Principal, stmt: Select[Any]) -> Select[Any]:
    if principal.role is Role.exporter:
        return stmt.where(col(Certificate.exporter_organisation_id) == principal.organisation_id)
    return stmt


def by_number(session: Session, number: str) -> Certificate | None:
    """Unscoped: the public verifier and the issuing use cases look certificates up by number."""
    return session.scalars(select(Certificate).where(col(Certificate.number) == number)).first()


def visible_by_number(session: Session, principal: Principal, number: str) -> Certificate | None:
    stmt = _scoped(principal, select(Certificate).where(col(Certificate.number) == number))
    return session.scalars(stmt).first()


def valid_for_lot(session: Session, lot_id: Any) -> Certificate | None:
    return session.scalars(
        select(Certificate).where(
            col(Certificate.lot_id) == lot_id, col(Certificate.status) == CertificateStatus.valid
        )
    ).first()


def replaced_by(session: Session, cert_ids: list[Any]) -> dict[Any, str]:
    """For each certificate id, the number of the certificate that replaces it (if any)."""
    if not cert_ids:
        return {}
    rows = session.execute(
        select(col(Certificate.replaces_id), col(Certificate.number)).where(
            col(Certificate.replaces_id).in_(cert_ids)
        )
    )
    return {r[0]: r[1] for r in rows}


def listing(
    principal: Principal, *, status: str | None, overdue_before: datetime | None
) -> Select[Any]:
    """Certificates in scope; `overdue_before`: valid, unconfirmed, issued before that time."""
    stmt = _scoped(principal, select(Certificate))
    if status is not None:
        stmt = stmt.where(col(Certificate.status) == status)
    if overdue_before is not None:
        stmt = stmt.where(
            col(Certificate.status) == CertificateStatus.valid,
            col(Certificate.confirmed_at).is_(None),
            col(Certificate.issued_at) < overdue_before,
        )
    return stmt


def counts_by_year(session: Session, overdue_before: datetime) -> list[dict[str, int]]:
    valid = col(Certificate.status) == CertificateStatus.valid
    confirmed = col(Certificate.confirmed_at).is_not(None)
    overdue = valid & col(Certificate.confirmed_at).is_(None)
    overdue = overdue & (col(Certificate.issued_at) < overdue_before)

    def count_if(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    rows = session.execute(
        select(
            col(Certificate.year),
            func.count(),
            count_if(valid),
            count_if(~valid),
            count_if(confirmed),
            count_if(overdue),
        )
        .group_by(col(Certificate.year))
        .order_by(col(Certificate.year))
    )
    return [
        {
            "year": int(r[0]),
            "issued": int(r[1]),
            "valid": int(r[2] or 0),
            "voided": int(r[3] or 0),
            "confirmed": int(r[4] or 0),
            "awaiting_confirmation_overdue": int(r[5] or 0),
        }
        for r in rows
    ]
