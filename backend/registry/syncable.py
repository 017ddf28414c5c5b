"""How registry records reach devices: their feed entity, scope, published form and mirrors."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from backend import changes
from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.changes import NATIONAL, TRADE, Presented, Syncable, district
from backend.clock import utcnow
from backend.registry import queries
from backend.registry.models import (
    Jurisdiction,
    Licence,
    LicenceKind,
    Miner,
    Organisation,
    Site,
    SiteVisit,
)
from backend.registry.views import (
    jurisdiction_feature,
    licence_feature,
    miner_public,
    organisation_public,
    site_feature,
    visit_feature,
)

# The feed stores records whole, as an administrator sees them; the sync layer redacts on pull.
FULL_VIEW = Principal(user_id=uuid.UUID(int=0), username="feed", role=Role.admin)


def flat(feature: dict[str, Any]) -> dict[str, Any]:
    """A Feature as one flat record: id, properties, geometry."""
    return {"id": feature["id"], **feature["properties"], "geometry": feature["geometry"]}


def _miners(session: Session, rows: list[Miner]) -> list[Presented]:
    numbers = queries.licence_numbers_by_miner(session, [m.id for m in rows])
    return [(district(m.district_code), miner_public(m, numbers[m.id], FULL_VIEW)) for m in rows]


def _licences(session: Session, rows: list[Licence]) -> list[Presented]:
    names = queries.holder_names(session, rows)
    today = utcnow().date()
    out: list[Presented] = []
    for lic in rows:
        holder = lic.holder_miner_id or lic.holder_organisation_id
        data = flat(licence_feature(lic, names.get(holder) if holder else None, FULL_VIEW, today))
        # A feed row is written once and read for months: a status computed today would be
        # stale tomorrow. Devices get what it depends on (status, valid_from, valid_to) and
        # derive it on their own date (offline_sync.client.derived.licence_status).
        data.pop("effective_status", None)
        scope = (
            district(lic.district_code)
            if lic.kind == LicenceKind.artisanal_mining and lic.district_code
            else NATIONAL
        )
        out.append((scope, data))
    return out


def _licence_holder(session: Session, lic: Licence) -> list[Any]:
    """A licence's change alters its miner's published licence numbers."""
    if lic.holder_miner_id is None:
        return []
    holder = session.get(Miner, lic.holder_miner_id)
    return [] if holder is None else [holder]


def _sites(session: Session, rows: list[Site]) -> list[Presented]:
    return [(district(s.district_code), flat(site_feature(s))) for s in rows]


def _visits(session: Session, rows: list[SiteVisit]) -> list[Presented]:
    return [(district(v.district_code), flat(visit_feature(v, FULL_VIEW))) for v in rows]


def _jurisdictions(session: Session, rows: list[Jurisdiction]) -> list[Presented]:
    return [(NATIONAL, flat(jurisdiction_feature(j))) for j in rows]


def _organisations(session: Session, rows: list[Organisation]) -> list[Presented]:
    return [(NATIONAL, organisation_public(o)) for o in rows]


def install() -> None:
    changes.register(Miner, Syncable("miner", _miners, mirrors=(TRADE,)))
    changes.register(Site, Syncable("site", _sites, mirrors=(TRADE,)))
    changes.register(SiteVisit, Syncable("site_visit", _visits))
    changes.register(Licence, Syncable("licence", _licences, also=_licence_holder))
    changes.register(Jurisdiction, Syncable("jurisdiction", _jurisdictions))
    changes.register(Organisation, Syncable("organisation", _organisations))


install()
