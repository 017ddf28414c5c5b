"""A small fixed dataset for insight figures computed by hand (docs/insight.md walks it through).

It lives in its own district (SL-T-IN) and in 2019, so nothing else in the shared test
database touches its figures. Rows are written directly, as the national generator does:
the insight queries read only the columns set here.

    site S1 (licensed, L1)     site S2 (no licence)
    P1 2019-01-15 S1 B1 10.000 ct  1000.00 USD 5 st  inside
    P2 2019-02-20 S1 B2  5.500 ct   660.00 USD 3 st  inside, flagged
    P3 2019-05-03 S2 B1  2.250 ct   180.00 USD 2 st  120.5 m away
    P4 2019-08-10 S1 B1  4.000 ct   500.00 USD 2 st  inside
    R1 2019-01-10 S1 produce 6.000 + 3.000 ct (2 + 2 stones)
    R2 2019-07-01 S2 produce 1.000 ct (1 stone)
    V  S1 2019-01-05 10 diggers, S1 2019-02-05 20 diggers   (Q1 mean 15)
    E1 2019-03-30 export 12.000 ct valued 1500.00 USD
    E2 2019-11-02 export  3.000 ct not valued
    miners registered in SL-T-IN: 3
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from shapely.geometry import Point, box
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.models import Role, User
from backend.custody.models import CustodyEvent, EventInput, EventOutput, Lot, LotStatus
from backend.registry.models import (
    Jurisdiction,
    Licence,
    LicenceKind,
    LicenceStatus,
    Miner,
    Organisation,
    OrganisationKind,
    Site,
    SiteVisit,
)
from backend.spatial import as_multipolygon, to_db

DISTRICT = "SL-T-IN"
YEAR = 2019
# The exact purchase point: inside S1, and distinctive, so a test can look for it in a response.
ORIGIN = (-10.7987654, 8.5012345)


@dataclass
class Fixed:
    user: User
    s1: Site
    s2: Site
    l1: Licence
    b1: Organisation
    b2: Organisation
    x: Organisation
    miners: list[Miner] = field(default_factory=list)
    events: dict[str, CustodyEvent] = field(default_factory=dict)
    seq: int = 0


# A flag as the custody rules write one: a code and a sentence (the API shows both).
PRICE_FLAG = [{"code": "price", "detail": "price far off the district median"}]


def _event(session: Session, f: Fixed, name: str, **values: Any) -> CustodyEvent:
    f.seq += 1
    chain = values.get("organisation_id") or values.get("miner_id") or uuid.uuid4()
    ev = CustodyEvent(
        recorded_by=f.user.id,
        country_code="SL",
        chain_id=chain,
        chain_seq=1000 + f.seq,
        hash=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        **values,
    )
    session.add(ev)
    session.flush()
    f.events[name] = ev
    return ev


def _lot(session: Session, ev: CustodyEvent, carats: str, stones: int, **values: Any) -> Lot:
    lot = Lot(
        tag=f"T-{uuid.uuid4().hex[:8]}",
        carats=Decimal(carats),
        stone_count=stones,
        country_code="SL",
        created_by_event_id=ev.id,
        **values,
    )
    session.add(lot)
    session.flush()
    return lot


def _out(session: Session, ev: CustodyEvent, carats: str, stones: int, **lot: Any) -> Lot:
    row = _lot(session, ev, carats, stones, **lot)
    session.add(EventOutput(event_id=ev.id, lot_id=row.id, carats=row.carats, stone_count=stones))
    session.flush()
    return row


def build(session: Session, district: str = DISTRICT, year: int = YEAR) -> Fixed:
    """The dataset in `district` (created here) and `year` (2019 keeps the docs' figures)."""

    def at(y: int, m: int, d: int) -> datetime:
        return datetime(year + y - YEAR, m, d, 12, 0, tzinfo=UTC)

    session.add(
        Jurisdiction(
            code=district,
            name=f"Insight test district {district}",
            level="district",
            country_code="SL",
            parent_code="SL",
            boundary=to_db(as_multipolygon(box(-10.9, 8.4, -10.7, 8.6))),
        )
    )
    user = User(username=f"insight-{uuid.uuid4().hex[:8]}", password_hash="-", role=Role.admin)
    session.add(user)
    session.flush()
    miners = [
        Miner(
            full_name=f"Miner {i} Kamara-{district}",
            national_id=f"NID-{i}",
            phone=f"+232 7{i}",
            district_code=district,
        )
        for i in range(3)
    ]
    session.add_all(miners)
    orgs = {
        n: Organisation(
            name=f"Insight {n} {uuid.uuid4().hex[:6]}",
            kind=k,
            country_code="SL",
            district_code=district,
        )
        for n, k in (
            ("b1", OrganisationKind.buying_office),
            ("b2", OrganisationKind.buying_office),
            ("x", OrganisationKind.exporter),
        )
    }
    session.add_all(orgs.values())
    session.flush()
    l1 = Licence(
        kind=LicenceKind.artisanal_mining,
        number=f"IN-{uuid.uuid4().hex[:8]}",
        holder_miner_id=miners[0].id,
        district_code=district,
        valid_from=date(2018, 1, 1),
        valid_to=date(2040, 1, 1),
        status=LicenceStatus.active,
        area=to_db(as_multipolygon(box(-10.81, 8.49, -10.79, 8.51))),
    )
    session.add(l1)
    session.flush()
    s1 = Site(
        name="Insight S1",
        district_code=district,
        licence_id=l1.id,
        geometry=to_db(as_multipolygon(box(-10.805, 8.495, -10.795, 8.505))),
        area_ha=Decimal("121.0000"),
    )
    s2 = Site(
        name="Insight S2",
        district_code=district,
        geometry=to_db(as_multipolygon(box(-10.755, 8.445, -10.745, 8.455))),
        area_ha=Decimal("121.0000"),
    )
    session.add_all([s1, s2])
    session.flush()
    f = Fixed(
        user=user, s1=s1, s2=s2, l1=l1, b1=orgs["b1"], b2=orgs["b2"], x=orgs["x"], miners=miners
    )
    for name, when, site, org, carats, usd, stones, dist, flags in (
        ("P1", at(2019, 1, 15), s1, f.b1, "10.000", "1000.00", 5, "0", []),
        (
            "P2",
            at(2019, 2, 20),
            s1,
            f.b2,
            "5.500",
            "660.00",
            3,
            "0",
            [{"code": "price", "detail": "price far from the district median"}],
        ),
        ("P3", at(2019, 5, 3), s2, f.b1, "2.250", "180.00", 2, "120.5", []),
        ("P4", at(2019, 8, 10), s1, f.b1, "4.000", "500.00", 2, "0", []),
    ):
        ev = _event(
            session,
            f,
            name,
            kind="purchase",
            occurred_at=when,
            site_id=site.id,
            organisation_id=org.id,
            miner_id=miners[0].id,
            district_code=district,
            usd_value=Decimal(usd),
            distance_to_site_m=Decimal(dist),
            flags=flags,
            location=to_db(Point(ORIGIN)),
            price=Decimal(usd),
            currency="USD",
        )
        _out(session, ev, carats, stones, holder_organisation_id=org.id)
    r1 = _event(
        session,
        f,
        "R1",
        kind="produce",
        occurred_at=at(2019, 1, 10),
        site_id=s1.id,
        miner_id=miners[0].id,
        district_code=district,
    )
    _out(session, r1, "6.000", 2, holder_miner_id=miners[0].id)
    _out(session, r1, "3.000", 2, holder_miner_id=miners[0].id)
    r2 = _event(
        session,
        f,
        "R2",
        kind="produce",
        occurred_at=at(2019, 7, 1),
        site_id=s2.id,
        miner_id=miners[1].id,
        district_code=district,
    )
    _out(session, r2, "1.000", 1, holder_miner_id=miners[1].id)
    for day, diggers in ((at(2019, 1, 5), 10), (at(2019, 2, 5), 20)):
        session.add(
            SiteVisit(
                site_id=s1.id,
                district_code=district,
                visited_at=day,
                location=to_db(Point(-10.8, 8.5)),
                diggers_counted=diggers,
            )
        )
    for name, when, carats, usd in (
        ("E1", at(2019, 3, 30), "12.000", Decimal("1500.00")),
        ("E2", at(2019, 11, 2), "3.000", None),
    ):
        src = _event(
            session, f, name + "-src", kind="accept", occurred_at=when, organisation_id=f.x.id
        )
        lot = _out(
            session,
            src,
            carats,
            4,
            holder_organisation_id=f.x.id,
            usd_value=usd,
            status=LotStatus.exported,
        )
        ev = _event(session, f, name, kind="export", occurred_at=when, organisation_id=f.x.id)
        session.add(
            EventInput(
                event_id=ev.id, lot_id=lot.id, carats=lot.carats, stone_count=4, consumed=True
            )
        )
    session.commit()
    return f


@dataclass
class Issued:
    """What `certify` adds: the E1/E2 lots' reports and certificates, and a stray lot's."""

    lots: dict[str, Lot]
    reports: dict[str, Any]
    certificates: dict[str, Any]


def _lot_of(session: Session, ev: CustodyEvent) -> Lot:
    lot_id = session.scalars(
        select(col(EventInput.lot_id)).where(col(EventInput.event_id) == ev.id)
    ).one()
    lot = session.get(Lot, lot_id)
    assert lot is not None
    return lot


def certify(session: Session, f: Fixed) -> Issued:
    """Evidence reports and certificates over `build`'s exports (docs/insight.md):

    E1 lot: report fail (2019-03-01), then warn (2019-03-20); certificate C1 (7102.31, BE,
            12.00 ct, 1500.00 USD) voided, replaced by C2 (7102.31, BE, 12.00 ct, 1400.00 USD)
    E2 lot: report fail (2019-10-30) with an override; no certificate
    L3 lot (never exported): report pass; certificate C3 (7102.10, AE, 2.00 ct, 300.00 USD)
    """
    from backend.certificates.models import Certificate, CertificateStatus
    from backend.evidence.models import EvidenceOverride, EvidenceReport

    def at(m: int, d: int) -> datetime:
        return datetime(YEAR, m, d, 12, 0, tzinfo=UTC)

    lots = {"E1": _lot_of(session, f.events["E1"]), "E2": _lot_of(session, f.events["E2"])}
    src = _event(session, f, "L3-src", kind="accept", occurred_at=at(6, 1), organisation_id=f.x.id)
    lots["L3"] = _out(session, src, "2.000", 1, holder_organisation_id=f.x.id, usd_value=300)
    reports: dict[str, Any] = {}
    for name, lot, verdict, when in (
        ("E1-fail", "E1", "fail", at(3, 1)),
        ("E1", "E1", "warn", at(3, 20)),
        ("E2", "E2", "fail", at(10, 30)),
        ("L3", "L3", "pass", at(6, 2)),
    ):
        reports[name] = EvidenceReport(
            lot_id=lots[lot].id,
            computed_at=when,
            verdict=verdict,
            checks=[{"id": "custody", "verdict": verdict, "sentence": "-", "records": []}],
            data_version="-",
            digest=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        )
        session.add(reports[name])
    session.flush()
    session.add(
        EvidenceOverride(
            report_id=reports["E2"].id, reason="test", decided_by=f.user.id, purpose="test"
        )
    )
    certs: dict[str, Any] = {}
    for name, lot, hs, dest, carats, usd, when, status in (
        ("C1", "E1", "7102.31", "BE", "12.00", "1500.00", at(3, 25), CertificateStatus.voided),
        ("C2", "E1", "7102.31", "BE", "12.00", "1400.00", at(3, 28), CertificateStatus.valid),
        ("C3", "L3", "7102.10", "AE", "2.00", "300.00", at(6, 3), CertificateStatus.valid),
    ):
        serial = 900000 + uuid.uuid4().int % 90000
        certs[name] = Certificate(
            number=f"SL-{YEAR}-T{uuid.uuid4().hex[:10]}",
            country_code="SL",
            year=YEAR,
            serial=serial,
            status=status,
            lot_id=lots[lot].id,
            exporter_organisation_id=f.x.id,
            exporter_name=f.x.name,
            importer_name="Importer",
            importer_address="Antwerp",
            destination_country=dest,
            country_of_origin="SL",
            issuing_authority="test",
            carats=Decimal(carats),
            usd_value=Decimal(usd),
            parcels=1,
            hs_code=hs,
            issued_at=when,
            issue_date=when.date(),
            expiry_date=when.date(),
            issued_by=f.user.id,
            evidence_report_id=reports[lot].id,
            evidence_digest=reports[lot].digest,
            key_id="test",
            payload="-",
        )
        session.add(certs[name])
        session.flush()
    session.commit()
    return Issued(lots=lots, reports=reports, certificates=certs)
