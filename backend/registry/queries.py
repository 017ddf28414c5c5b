"""Registry queries as SQLAlchemy expressions, each role's scope applied in the WHERE clause."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session, defer
from sqlmodel import col

from backend.auth.principal import Principal
from backend.models_base import Record
from backend.registry.models import (
    Jurisdiction,
    Licence,
    LicenceKind,
    LicenceStatus,
    Miner,
    Organisation,
    Site,
    SiteVisit,
)
from backend.spatial import intersects_bbox

M = TypeVar("M", bound=Record)


@dataclass(frozen=True)
class Filters:
    district: str | None = None
    status: str | None = None
    kind: str | None = None
    level: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    updated_since: datetime | None = None
    site_id: uuid.UUID | None = None
    holder_miner_id: uuid.UUID | None = None
    licence_number: str | None = None


def _common(stmt: Select[Any], model: Any, f: Filters) -> Select[Any]:
    if f.updated_since is not None:
        stmt = stmt.where(model.updated_at > f.updated_since)
    if f.district is not None and hasattr(model, "district_code"):
        stmt = stmt.where(model.district_code == f.district)
    if f.status is not None and hasattr(model, "status"):
        stmt = stmt.where(model.status == f.status)
    return stmt


def _in_districts(column: Any, principal: Principal) -> Any:
    return column.in_(sorted(principal.districts)) if principal.districts else false()


# --- jurisdictions ---------------------------------------------------------------------------


def jurisdictions(f: Filters) -> Select[Any]:
    stmt = _common(select(Jurisdiction), Jurisdiction, Filters(updated_since=f.updated_since))
    if f.level is not None:
        stmt = stmt.where(col(Jurisdiction.level) == f.level)
    if f.district is not None:
        stmt = stmt.where(
            or_(col(Jurisdiction.code) == f.district, col(Jurisdiction.parent_code) == f.district)
        )
    if f.bbox is not None:
        stmt = stmt.where(intersects_bbox(col(Jurisdiction.boundary), f.bbox))
    return stmt


def jurisdiction_by_code(session: Session, code: str) -> Jurisdiction | None:
    """The row without its boundary (loaded on first use, or via placement.boundary_of)."""
    return session.scalars(
        select(Jurisdiction)
        .where(col(Jurisdiction.code) == code)
        .options(defer(Jurisdiction.boundary))
    ).first()


# --- organisations ---------------------------------------------------------------------------


def organisations(f: Filters) -> Select[Any]:
    stmt = _common(select(Organisation), Organisation, f)
    if f.kind is not None:
        stmt = stmt.where(col(Organisation.kind) == f.kind)
    return stmt


# --- miners ------------------------------------------------------------------------------------


def miners(principal: Principal, f: Filters) -> Select[Any]:
    stmt = _common(select(Miner).where(col(Miner.deleted_at).is_(None)), Miner, f)
    if f.licence_number is not None:
        holders = select(col(Licence.holder_miner_id)).where(
            col(Licence.number) == f.licence_number
        )
        stmt = stmt.where(col(Miner.id).in_(holders))
    if principal.is_district_scoped:
        stmt = stmt.where(_in_districts(col(Miner.district_code), principal))
    return stmt


def licence_numbers_by_miner(
    session: Session, miner_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    ids = list(miner_ids)
    found: dict[uuid.UUID, list[str]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = session.execute(
        select(col(Licence.holder_miner_id), col(Licence.number))
        .where(col(Licence.holder_miner_id).in_(ids))
        .order_by(col(Licence.number))
    )
    for miner_id, number in rows:
        if miner_id is not None:
            found[miner_id].append(number)
    return found


# --- licences ----------------------------------------------------------------------------------


def licences(principal: Principal, f: Filters) -> Select[Any]:
    stmt = _common(select(Licence), Licence, f)
    if f.kind is not None:
        stmt = stmt.where(col(Licence.kind) == f.kind)
    if f.holder_miner_id is not None:
        stmt = stmt.where(col(Licence.holder_miner_id) == f.holder_miner_id)
    if f.bbox is not None:
        stmt = stmt.where(intersects_bbox(col(Licence.area), f.bbox))
    if principal.is_district_scoped:
        # Mining licences of their districts; the national buyer/exporter register is public.
        stmt = stmt.where(
            or_(
                col(Licence.kind) != LicenceKind.artisanal_mining,
                _in_districts(col(Licence.district_code), principal),
            )
        )
    return stmt


def holder_names(session: Session, lics: Iterable[Licence]) -> dict[uuid.UUID, str]:
    lics = list(lics)
    miner_ids = {lic.holder_miner_id for lic in lics if lic.holder_miner_id}
    org_ids = {lic.holder_organisation_id for lic in lics if lic.holder_organisation_id}
    names: dict[uuid.UUID, str] = {}
    if miner_ids:
        rows = session.execute(
            select(col(Miner.id), col(Miner.full_name)).where(col(Miner.id).in_(miner_ids))
        )
        names.update({holder_id: name for holder_id, name in rows})
    if org_ids:
        rows = session.execute(
            select(col(Organisation.id), col(Organisation.name)).where(
                col(Organisation.id).in_(org_ids)
            )
        )
        names.update({holder_id: name for holder_id, name in rows})
    return names


def active_mining_licences_near(
    session: Session, bbox: tuple[float, float, float, float], *, exclude: uuid.UUID | None = None
) -> list[Licence]:
    """Candidates for an overlap test: active mining licences whose area meets the bbox."""
    stmt = select(Licence).where(
        col(Licence.kind) == LicenceKind.artisanal_mining,
        col(Licence.status) == LicenceStatus.active,
        col(Licence.area).isnot(None),
        intersects_bbox(col(Licence.area), bbox),
    )
    if exclude is not None:
        stmt = stmt.where(col(Licence.id) != exclude)
    return list(session.scalars(stmt))


# --- sites and visits ----------------------------------------------------------------------------


def sites(principal: Principal, f: Filters) -> Select[Any]:
    stmt = _common(select(Site).where(col(Site.deleted_at).is_(None)), Site, f)
    if f.bbox is not None:
        stmt = stmt.where(intersects_bbox(col(Site.geometry), f.bbox))
    if principal.is_district_scoped:
        stmt = stmt.where(_in_districts(col(Site.district_code), principal))
    return stmt


def visits(principal: Principal, f: Filters) -> Select[Any]:
    stmt = _common(select(SiteVisit).where(col(SiteVisit.deleted_at).is_(None)), SiteVisit, f)
    if f.site_id is not None:
        stmt = stmt.where(col(SiteVisit.site_id) == f.site_id)
    if f.bbox is not None:
        stmt = stmt.where(intersects_bbox(col(SiteVisit.location), f.bbox))
    if principal.is_district_scoped:
        stmt = stmt.where(_in_districts(col(SiteVisit.district_code), principal))
    return stmt


def one(session: Session, stmt: Select[Any], model: type[M], record_id: uuid.UUID) -> M | None:
    """The record if it exists *and* is in scope; otherwise None (the caller answers 404)."""
    return session.scalars(stmt.where(col(model.id) == record_id)).first()
