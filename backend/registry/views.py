"""How registry records leave the server, per role: Features for geometry, redaction by view."""

from __future__ import annotations

from datetime import date
from typing import Any

from backend.auth.models import Role
from backend.auth.permissions import FULL_MINER_VIEW
from backend.auth.principal import Principal
from backend.registry.models import Jurisdiction, Licence, Miner, Organisation, Site, SiteVisit
from backend.registry.rules import effective_status
from backend.registry.schemas import (
    LicenceProperties,
    MinerForPurchase,
    MinerPublic,
    OrganisationPublic,
    SiteProperties,
    SiteVisitProperties,
)
from backend.spatial import from_db, simplest
from geodata.geojson import to_geojson


def _geometry(value: Any) -> dict[str, Any] | None:
    shape = from_db(value)
    return None if shape is None else to_geojson(simplest(shape))


def jurisdiction_feature(j: Jurisdiction, *, with_geometry: bool = True) -> dict[str, Any]:
    props = {
        "code": j.code,
        "name": j.name,
        "level": j.level,
        "country_code": j.country_code,
        "parent_code": j.parent_code,
        "version": j.version,
        "updated_at": j.updated_at,
    }
    return {
        "type": "Feature",
        "id": str(j.id),
        "geometry": _geometry(j.boundary) if with_geometry else None,
        "properties": props,
    }


def organisation_public(o: Organisation) -> dict[str, Any]:
    return OrganisationPublic(
        id=o.id,
        name=o.name,
        kind=o.kind,
        country_code=o.country_code,
        district=o.district_code,
        registration_number=o.registration_number,
        address=o.address,
        active=o.active,
        version=o.version,
        created_at=o.created_at,
        updated_at=o.updated_at,
    ).model_dump()


def miner_public(m: Miner, licence_numbers: list[str], principal: Principal) -> dict[str, Any]:
    if principal.role in FULL_MINER_VIEW:
        return MinerPublic(
            id=m.id,
            full_name=m.full_name,
            national_id=m.national_id,
            phone=m.phone,
            photo_ref=m.photo_ref,
            district=m.district_code,
            status=m.status,
            licence_numbers=licence_numbers,
            version=m.version,
            created_at=m.created_at,
            updated_at=m.updated_at,
        ).model_dump()
    return MinerForPurchase(
        id=m.id, full_name=m.full_name, licence_numbers=licence_numbers
    ).model_dump()


def licence_feature(
    lic: Licence, holder_name: str | None, principal: Principal, today: date
) -> dict[str, Any]:
    if principal.role is Role.donor and lic.holder_miner_id is not None:
        holder_name = None
    props = LicenceProperties(
        kind=lic.kind,
        number=lic.number,
        holder_miner_id=None if principal.role is Role.donor else lic.holder_miner_id,
        holder_organisation_id=lic.holder_organisation_id,
        holder_name=holder_name,
        district=lic.district_code,
        valid_from=lic.valid_from,
        valid_to=lic.valid_to,
        status=lic.status,
        effective_status=effective_status(lic.status, lic.valid_to, today),
        fit_and_proper=lic.fit_and_proper,
        overlap_override_reason=lic.overlap_override_reason,
        area_ha=None if lic.area_ha is None else str(lic.area_ha),
        version=lic.version,
        created_at=lic.created_at,
        updated_at=lic.updated_at,
    ).model_dump()
    return {
        "type": "Feature",
        "id": str(lic.id),
        "geometry": _geometry(lic.area),
        "properties": props,
    }


def site_feature(s: Site) -> dict[str, Any]:
    props = SiteProperties(
        name=s.name,
        district=s.district_code,
        licence_id=s.licence_id,
        status=s.status,
        area_ha=str(s.area_ha),
        notes=s.notes,
        version=s.version,
        created_at=s.created_at,
        updated_at=s.updated_at,
    ).model_dump()
    return {
        "type": "Feature",
        "id": str(s.id),
        "geometry": _geometry(s.geometry),
        "properties": props,
    }


def visit_feature(v: SiteVisit, principal: Principal) -> dict[str, Any]:
    donor = principal.role is Role.donor
    props = SiteVisitProperties(
        site_id=v.site_id,
        district=v.district_code,
        visited_at=v.visited_at,
        diggers_counted=v.diggers_counted,
        notes=None if donor else v.notes,
        officer_id=None if donor else v.officer_id,
        distance_to_site_m=None if v.distance_to_site_m is None else str(v.distance_to_site_m),
        version=v.version,
        created_at=v.created_at,
        updated_at=v.updated_at,
    ).model_dump()
    return {
        "type": "Feature",
        "id": str(v.id),
        "geometry": _geometry(v.location),
        "properties": props,
    }
