"""Risk-based spot-check plans: sites and buyers of a district ranked by their anomaly signals.

Signals (over a window of N days): flagged purchases, purchases above capacity or above
recorded production, days since the last visit, purchases naming an unlicensed site, silent
licences. `rules.score_site` / `rules.score_buyer` weigh them; every reason is shown.
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
from backend.insight import rules
from backend.insight.models import Dimension, InsightStat
from backend.registry.models import (
    Licence,
    LicenceKind,
    LicenceStatus,
    Organisation,
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


def site_ranking(session: Session, district: str, w: Window) -> list[dict[str, Any]]:
    sums = _stat_sums(session, Dimension.site, district, w)
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
    sites = session.execute(
        select(col(Site.id), col(Site.name), col(Licence.status))
        .outerjoin(Licence, col(Licence.id) == col(Site.licence_id))
        .where(col(Site.district_code) == district, col(Site.deleted_at).is_(None))
    )
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


def buyer_ranking(session: Session, district: str, w: Window) -> list[dict[str, Any]]:
    sums = _stat_sums(session, Dimension.buyer, district, w)
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
                    col(Organisation.id).in_(set(sums) | set(licensed))
                )
            ).all()
        )
        if (sums or licensed)
        else {}
    )
    out = []
    for org_id in set(sums) | set(licensed):
        n, flagged, *_ = sums.get(org_id, (0, 0, None, None, 0))
        signals = rules.BuyerSignals(
            purchases=int(n or 0),
            flagged_purchases=int(flagged or 0),
            silent=org_id in licensed and not int(n or 0),
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
    return {
        "district": district,
        "as_of": w.now,
        "window_days": w.days,
        "unvisited_days": w.unvisited_days,
        "sites": site_ranking(session, district, w),
        "buyers": buyer_ranking(session, district, w),
    }


def site_ids(ranked: list[dict[str, Any]]) -> list[uuid.UUID]:
    return [r["site_id"] for r in ranked]
