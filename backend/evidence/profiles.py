"""Regional reference data the checks compare against: footprint profiles and capacity rates."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.audit.service import record as audit
from backend.audit.service import snapshot
from backend.auth.permissions import Action, require
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.custody.models import CustodyEvent, EventKind, EventOutput, Lot
from backend.errors import FieldError, NotFound, StaleVersion, field_error
from backend.evidence.models import CapacityRate, FootprintProfile
from backend.registry.models import Jurisdiction, JurisdictionLevel
from backend.usecase import use_case


def regions(session: Session) -> list[Jurisdiction]:
    return list(
        session.scalars(
            select(Jurisdiction)
            .where(col(Jurisdiction.level) == JurisdictionLevel.region)
            .order_by(col(Jurisdiction.code))
        )
    )


@use_case
def refresh_profiles(*, session: Session, principal: Principal) -> list[FootprintProfile]:
    """Rebuild every region's profile from the purchases recorded at its sites (new rows).

    A purchase's output lot carries the stones the miner sold, with their sieve classes;
    summed per region they are the region's size-frequency profile, and their prices its
    USD/ct. Lots without size classes count towards USD/ct only through their carats.
    """
    require(principal, "footprint_profile", Action.write)
    parent = {
        code: parent_code
        for code, parent_code in session.execute(
            select(col(Jurisdiction.code), col(Jurisdiction.parent_code))
        )
    }
    stones: dict[str, int] = defaultdict(int)
    lots: dict[str, int] = defaultdict(int)
    carats: dict[str, Decimal] = defaultdict(Decimal)
    usd: dict[str, Decimal] = defaultdict(Decimal)
    classes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = session.execute(
        select(
            col(CustodyEvent.district_code),
            col(CustodyEvent.usd_value),
            col(Lot.carats),
            col(Lot.size_classes),
        )
        .join(EventOutput, col(EventOutput.event_id) == col(CustodyEvent.id))
        .join(Lot, col(Lot.id) == col(EventOutput.lot_id))
        .where(
            col(CustodyEvent.kind) == EventKind.purchase,
            col(Lot.size_classes).is_not(None),
        )
    )
    for district, usd_value, ct, sizes in rows:
        region = parent.get(district) if district else None
        if region is None or not sizes:
            continue
        lots[region] += 1
        carats[region] += ct
        usd[region] += usd_value or Decimal(0)
        for k, n in sizes.items():
            classes[region][k] += int(n)
            stones[region] += int(n)
    now = utcnow()
    made = []
    for j in regions(session):
        code = j.code
        row = FootprintProfile(
            region_code=code,
            built_at=now,
            built_by=principal.user_id,
            lots=lots[code],
            stones=stones[code],
            carats=carats[code].quantize(Decimal("0.001")),
            usd_value=usd[code].quantize(Decimal("0.01")),
            size_classes=dict(classes[code]),
        )
        session.add(row)
        made.append(row)
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="refresh",
        entity_type="footprint_profile",
        entity_id=made[0].id if made else "none",
        before=None,
        after={r.region_code: {"lots": r.lots, "stones": r.stones} for r in made},
    )
    session.commit()
    return made


def rate_rows(session: Session) -> list[tuple[Jurisdiction, CapacityRate | None]]:
    stored = {r.region_code: r for r in session.scalars(select(CapacityRate))}
    return [(j, stored.get(j.code)) for j in regions(session)]


@use_case
def set_rate(
    *,
    session: Session,
    principal: Principal,
    region_code: str,
    carats_per_digger_day: Decimal,
    working_days_per_year: int,
    note: str | None,
    version: int | None,
) -> CapacityRate:
    """Create or change a region's capacity rate; a change needs the version that was read."""
    require(principal, "capacity_rate", Action.write)
    region = session.scalars(
        select(Jurisdiction).where(
            col(Jurisdiction.code) == region_code,
            col(Jurisdiction.level) == JurisdictionLevel.region,
        )
    ).first()
    if region is None:
        raise NotFound(f"no region {region_code}")
    row = session.scalars(
        select(CapacityRate).where(col(CapacityRate.region_code) == region_code)
    ).first()
    if row is None:
        if version not in (None, 0):
            raise StaleVersion(
                f"region {region_code} has no stored rate yet; send version 0 or none",
                errors=[FieldError("/version", "no stored rate")],
            )
        row = CapacityRate(
            region_code=region_code,
            carats_per_digger_day=carats_per_digger_day,
            working_days_per_year=working_days_per_year,
            note=note,
        )
        before = None
        session.add(row)
    else:
        if version is None:
            raise field_error("/version", "send the version you read to change a stored rate")
        if version != row.version:
            raise StaleVersion(
                f"the rate of {region_code} is at version {row.version}, not {version}",
                errors=[FieldError("/version", f"current version is {row.version}")],
            )
        before = snapshot(row)
        row.carats_per_digger_day = carats_per_digger_day
        row.working_days_per_year = working_days_per_year
        row.note = note
        row.version += 1
        row.updated_at = utcnow()
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="update" if before else "create",
        entity_type="capacity_rate",
        entity_id=row.id,
        before=before,
        after=snapshot(row),
    )
    session.commit()
    return row
