"""Risk-based spot-check plans: sites and buyers of a district ranked by their anomaly signals.

Signals (over a window of N days): flagged purchases, purchases above capacity or above
recorded production, days since the last visit, purchases naming an unlicensed site, silent
licences; parcels it contributed to (its purchases or production are in their backward trace)
whose latest evidence report, computed in the window, fails or warns; and open incidents about
it (`incidents.queries.open_touching`, whenever they occurred). `rules.score_site` /
`rules.score_buyer` weigh them; every reason is shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.clock import as_utc
from backend.custody.models import CustodyEvent, EventKind, EventOutput, Lot
from backend.custody.trace import ancestors
from backend.evidence.models import EvidenceReport, Verdict
from backend.incidents.models import Incident
from backend.incidents.queries import open_touching
from backend.insight import rules
from backend.insight.models import Dimension, InsightStat
from backend.registry.models import (
    Licence,
    LicenceKind,
    LicenceStatus,
    Organisation,
    OrganisationKind,
    Site,
    SiteVisit,
)

S = InsightStat


@dataclass(frozen=True)
class Window:
    now: datetime
    days: int = 90
    unvisited_days: int = 90

    @property
    def start(self) -> datetime:
        return self.now - timedelta(days=self.days)

    @property
    def first_month(self) -> str:
        return self.start.strftime("%Y-%m")

    @property
    def last_month(self) -> str:
        return self.now.strftime("%Y-%m")


def _stat_sums(session: Session, dim: Dimension, district: str, w: Window) -> dict[Any, Any]:
    rows = session.execute(
        select(
            col(S.key_id),
            func.sum(col(S.purchases)),
            func.sum(col(S.flagged_purchases)),
            func.sum(col(S.purchased_carats)),
            func.sum(col(S.produced_carats)),
            func.sum(col(S.productions)),
        )
        .where(
            col(S.dim) == dim,
            col(S.district_code) == district,
            col(S.month) >= w.first_month,
            col(S.month) <= w.last_month,
        )
        .group_by(col(S.key_id))
    )
    return {r[0]: r[1:] for r in rows}


@dataclass
class Contributions:
    """Parcel tags with failing / warning latest evidence, per site and per buyer."""

    sites: dict[Any, dict[str, set[str]]]
    buyers: dict[Any, dict[str, set[str]]]

    @staticmethod
    def of(found: dict[str, set[str]] | None) -> rules.ParcelEvidence | None:
        if not found:
            return None
        return rules.ParcelEvidence(
            failed=tuple(sorted(found.get(Verdict.fail, ()))),
            warned=tuple(sorted(found.get(Verdict.warn, ()))),
        )


def _flagged_parcels(session: Session, w: Window) -> list[tuple[uuid.UUID, str, str]]:
    """(lot id, tag, verdict) of lots whose latest report by `w.now` was computed in the window
    and fails or warns."""
    R = EvidenceReport
    recent = select(col(R.lot_id)).where(col(R.computed_at) >= w.start, col(R.computed_at) <= w.now)
    latest: dict[uuid.UUID, tuple[Any, str]] = {}
    for lot_id, computed_at, verdict in session.execute(
        select(col(R.lot_id), col(R.computed_at), col(R.verdict))
        .where(col(R.lot_id).in_(recent), col(R.computed_at) <= w.now)
        .order_by(col(R.lot_id), col(R.computed_at), col(R.id))
    ):
        latest[lot_id] = (as_utc(computed_at), verdict)
    flagged = [
        (lot_id, verdict)
        for lot_id, (at, verdict) in latest.items()
        if at >= w.start and verdict in (Verdict.fail, Verdict.warn)
    ]
    if not flagged:
        return []
    tags = dict(
        session.execute(
            select(col(Lot.id), col(Lot.tag)).where(col(Lot.id).in_([f[0] for f in flagged]))
        ).all()
    )
    return [(lot_id, tags[lot_id], verdict) for lot_id, verdict in flagged]


def contributions(session: Session, district: str, w: Window) -> Contributions:
    """Which sites and buyers of the district each failing or warning parcel traces back to."""
    out = Contributions(sites={}, buyers={})
    for lot_id, tag, verdict in _flagged_parcels(session, w):
        tree = ancestors(lot_id)
        for kind, site_id, org_id in session.execute(
            select(
                col(CustodyEvent.kind), col(CustodyEvent.site_id), col(CustodyEvent.organisation_id)
            )
            .join(EventOutput, col(EventOutput.event_id) == col(CustodyEvent.id))
            .join(tree, tree.c.lot_id == col(EventOutput.lot_id))
            .where(
                col(CustodyEvent.district_code) == district,
                col(CustodyEvent.kind).in_([EventKind.purchase, EventKind.produce]),
            )
            .distinct()
        ):
            if site_id is not None:
                out.sites.setdefault(site_id, {}).setdefault(verdict, set()).add(tag)
            if kind == EventKind.purchase and org_id is not None:
                out.buyers.setdefault(org_id, {}).setdefault(verdict, set()).add(tag)
    return out


def _incidents_by(incidents: list[Incident], attr: str) -> dict[Any, tuple[str, ...]]:
    found: dict[Any, list[str]] = {}
    for i in incidents:
        key = getattr(i, attr)
        if key is not None:
            found.setdefault(key, []).append(f"{i.kind} since {as_utc(i.occurred_at).date()}")
    return {k: tuple(v) for k, v in found.items()}


def site_ranking(
    session: Session, district: str, w: Window, parcels: Contributions | None = None
) -> list[dict[str, Any]]:
    sums = _stat_sums(session, Dimension.site, district, w)
    parcels = parcels if parcels is not None else contributions(session, district, w)
    visits = {
        site_id: (as_utc(last), mean)
        for site_id, last, mean in session.execute(
            select(
                col(SiteVisit.site_id),
                func.max(col(SiteVisit.visited_at)),
                func.avg(col(SiteVisit.diggers_counted)),
            )
            .where(col(SiteVisit.district_code) == district, col(SiteVisit.deleted_at).is_(None))
            .group_by(col(SiteVisit.site_id))
        )
    }
    window_diggers = {
        site_id: mean
        for site_id, mean in session.execute(
            select(col(SiteVisit.site_id), func.avg(col(SiteVisit.diggers_counted)))
            .where(
                col(SiteVisit.district_code) == district,
                col(SiteVisit.deleted_at).is_(None),
                col(SiteVisit.visited_at) >= w.start,
                col(SiteVisit.visited_at) <= w.now,
            )
            .group_by(col(SiteVisit.site_id))
        )
    }
    sites = list(
        session.execute(
            select(col(Site.id), col(Site.name), col(Licence.status))
            .outerjoin(Licence, col(Licence.id) == col(Site.licence_id))
            .where(col(Site.district_code) == district, col(Site.deleted_at).is_(None))
        )
    )
    incidents = _incidents_by(open_touching(session, site_ids=[r[0] for r in sites]), "site_id")
    out = []
    for site_id, name, licence_status in sites:
        n, flagged, carats, produced, productions = sums.get(site_id, (0, 0, None, None, 0))
        last = visits.get(site_id, (None, None))[0]
        mean = window_diggers.get(site_id)
        licensed = licence_status == LicenceStatus.active
        signals = rules.SiteSignals(
            purchases=int(n or 0),
            flagged_purchases=int(flagged or 0),
            purchased_carats=Decimal(carats or 0),
            produced_carats=Decimal(produced or 0),
            capacity_carats=rules.capacity(None if mean is None else Decimal(str(mean)), w.days),
            days_since_visit=None if last is None else (w.now - last).days,
            licensed=licensed,
            licence_silent=licensed and int(productions or 0) == 0,
            evidence=Contributions.of(parcels.sites.get(site_id)),
            open_incidents=incidents.get(site_id, ()),
        )
        score = rules.score_site(signals, w.unvisited_days)
        if score.points > 0:
            out.append(
                {
                    "kind": "site",
                    "site_id": site_id,
                    "name": name,
                    "score": score.points,
                    "reasons": score.reasons,
                }
            )
    out.sort(key=lambda r: (-Decimal(str(r["score"])), str(r["site_id"])))
    return out


def buyer_ranking(
    session: Session, district: str, w: Window, parcels: Contributions | None = None
) -> list[dict[str, Any]]:
    sums = _stat_sums(session, Dimension.buyer, district, w)
    parcels = parcels if parcels is not None else contributions(session, district, w)
    local = set(
        session.scalars(
            select(col(Organisation.id)).where(
                col(Organisation.district_code) == district,
                col(Organisation.kind) == OrganisationKind.buying_office,
            )
        )
    )
    incidents = _incidents_by(
        open_touching(session, organisation_ids=sorted(local | set(sums))), "organisation_id"
    )
    flagged = set(parcels.buyers) | set(incidents)
    today = w.now.date()
    licensed = {
        org_id: name
        for org_id, name in session.execute(
            select(col(Organisation.id), col(Organisation.name))
            .join(Licence, col(Licence.holder_organisation_id) == col(Organisation.id))
            .where(
                col(Licence.kind) == LicenceKind.buyer,
                col(Licence.status) == LicenceStatus.active,
                col(Licence.valid_from) <= today,
                col(Licence.valid_to) >= today,
                col(Organisation.district_code) == district,
            )
        )
    }
    names = (
        dict(
            session.execute(
                select(col(Organisation.id), col(Organisation.name)).where(
                    col(Organisation.id).in_(set(sums) | set(licensed) | flagged)
                )
            ).all()
        )
        if (sums or licensed or flagged)
        else {}
    )
    out = []
    for org_id in set(sums) | set(licensed) | flagged:
        n, flagged, *_ = sums.get(org_id, (0, 0, None, None, 0))
        signals = rules.BuyerSignals(
            purchases=int(n or 0),
            flagged_purchases=int(flagged or 0),
            silent=org_id in licensed and not int(n or 0),
            evidence=Contributions.of(parcels.buyers.get(org_id)),
            open_incidents=incidents.get(org_id, ()),
        )
        score = rules.score_buyer(signals)
        if score.points > 0:
            out.append(
                {
                    "kind": "buyer",
                    "organisation_id": org_id,
                    "name": names.get(org_id),
                    "score": score.points,
                    "reasons": score.reasons,
                }
            )
    out.sort(key=lambda r: (-Decimal(str(r["score"])), str(r["organisation_id"])))
    return out


def plan(session: Session, district: str, w: Window) -> dict[str, Any]:
    parcels = contributions(session, district, w)
    return {
        "district": district,
        "as_of": w.now,
        "window_days": w.days,
        "unvisited_days": w.unvisited_days,
        "sites": site_ranking(session, district, w, parcels),
        "buyers": buyer_ranking(session, district, w, parcels),
    }


def site_ids(ranked: list[dict[str, Any]]) -> list[uuid.UUID]:
    return [r["site_id"] for r in ranked]
