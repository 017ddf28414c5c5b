"""Coverage, non-reporting and spot-check plans on the fixed dataset, and inspection tasks that
reach the officers' feed and close when a visit is recorded for their site."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.audit.models import AuditEntry
from backend.auth.models import Role, UserDistrict
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.custody.models import CustodyEvent, EventInput, EventOutput, Lot
from backend.errors import Forbidden, ValidationFailed
from backend.evidence.models import EvidenceReport
from backend.incidents import service as incident_service
from backend.incidents.models import Incident, IncidentKind
from backend.incidents.schemas import IncidentCreate
from backend.insight import aggregates, coverage, nonreporting, spotcheck, tasks
from backend.insight.models import InspectionTask
from backend.registry import service
from backend.registry.models import Licence, LicenceKind, LicenceStatus
from backend.registry.schemas import SiteVisitCreate
from backend.settings import Settings
from backend.spatial import from_db
from offline_sync.server.tables import SyncChange
from tests import insight_data
from tests.conftest import actor, principal

D = insight_data.DISTRICT
END_2019 = datetime(2019, 12, 31, 12, 0, tzinfo=UTC)


@pytest.fixture
def fixed(session: Session) -> insight_data.Fixed:
    f = insight_data.build(session)
    aggregates.refresh(session=session, principal=actor(session, Role.ministry))
    return f


def test_coverage_per_district_equals_the_hand_figures(
    session: Session, fixed: insight_data.Fixed
) -> None:
    (row,) = coverage.snapshot(
        session, principal(Role.donor), now=utcnow(), unvisited_days=90, district=D
    )
    assert row == {
        "district": D,
        "sites_known": 2,
        "sites_licensed": 1,
        "share_sites_licensed": Decimal("0.5000"),
        "miners_registered": 3,
        "diggers_counted": 20,  # S1's latest visit
        "registered_per_digger_counted": Decimal("0.1500"),
        "purchases": 4,
        "purchases_inside_licensed_site": 3,
        "share_purchases_inside_licensed_site": Decimal("0.7500"),
        "sites_not_visited": 2,
        "unvisited_days": 90,
        "exported_carats": Decimal("15.000"),  # E1 12 ct + E2 3 ct, no evidence reports yet
        "exported_carats_with_passing_evidence": Decimal("0.000"),
        "share_exported_carats_with_passing_evidence": Decimal("0.0000"),
        "exported_carats_overridden": Decimal("0.000"),
        "exported_carats_without_evidence": Decimal("15.000"),
    }
    trend = coverage.trends(
        session, principal(Role.donor), first="2019-Q1", last="2019-Q2", district=D
    )
    assert [
        (
            t["quarter"],
            t["purchases"],
            t["purchases_inside_licensed_site"],
            t["sites_visited"],
            t["diggers_counted"],
        )
        for t in trend
    ] == [
        ("2019-Q1", 2, 2, 1, 20),
        ("2019-Q2", 1, 0, 0, 0),
    ]


def test_coverage_share_of_exported_carats_with_passing_evidence_equals_the_hand_figures(
    session: Session, fixed: insight_data.Fixed
) -> None:
    insight_data.certify(session, fixed)
    (row,) = coverage.snapshot(
        session, principal(Role.donor), now=utcnow(), unvisited_days=90, district=D
    )
    # E1's latest report warns (an earlier one failed): 12 of 15 ct pass; E2 fails, overridden.
    assert (
        row["exported_carats"],
        row["exported_carats_with_passing_evidence"],
        row["share_exported_carats_with_passing_evidence"],
        row["exported_carats_overridden"],
        row["exported_carats_without_evidence"],
    ) == (Decimal("15.000"), Decimal("12.000"), Decimal("0.8000"), Decimal("3.000"), Decimal("0"))
    trend = coverage.trends(
        session, principal(Role.donor), first="2019-Q1", last="2019-Q4", district=D
    )
    assert [
        (t["quarter"], t["exported_carats"], t["share_exported_carats_with_passing_evidence"])
        for t in trend
    ] == [
        ("2019-Q1", Decimal("12.000"), Decimal("1.0000")),
        ("2019-Q2", Decimal("0.000"), None),
        ("2019-Q3", Decimal("0.000"), None),
        ("2019-Q4", Decimal("3.000"), Decimal("0.0000")),
    ]
    assert trend[3]["exported_carats_overridden"] == Decimal("3.000")


def test_an_officer_sees_coverage_of_her_districts_only(
    session: Session, fixed: insight_data.Fixed
) -> None:
    rows = coverage.snapshot(
        session,
        principal(Role.field_officer, districts=("SL-E-KO",)),
        now=utcnow(),
        unvisited_days=90,
    )
    assert [r["district"] for r in rows] == ["SL-E-KO"]


def test_silent_traders_and_mining_licences_are_listed(
    session: Session, fixed: insight_data.Fixed
) -> None:
    session.add(
        Licence(
            kind=LicenceKind.buyer,
            number=f"B-{fixed.b1.id.hex[:8]}",
            holder_organisation_id=fixed.b1.id,
            valid_from=date(2018, 1, 1),
            valid_to=date(2040, 1, 1),
            status=LicenceStatus.active,
            fit_and_proper=True,
        )
    )
    session.commit()
    silent = nonreporting.traders(session, now=utcnow(), days=30)
    mine = [r for r in silent if r["organisation_id"] == fixed.b1.id]
    assert len(mine) == 1 and mine[0]["last_record_at"] == datetime(2019, 8, 10, 12, tzinfo=UTC)
    # In 2019 terms B1 was active (its last purchase is 143 days before the year's end).
    assert not [
        r
        for r in nonreporting.traders(session, now=END_2019, days=180)
        if r["organisation_id"] == fixed.b1.id
    ]
    lic = [
        r
        for r in nonreporting.mining_licences(
            session, principal(Role.ministry), now=utcnow(), days=30
        )
        if r["licence_id"] == fixed.l1.id
    ]
    assert lic[0]["last_production_at"] == datetime(2019, 1, 10, 12, tzinfo=UTC)
    assert "holder" not in lic[0] and "full_name" not in lic[0]
    habitual = nonreporting.habitual(session, now=utcnow(), quarters=4, threshold=4)
    assert fixed.b1.id in {r["organisation_id"] for r in habitual}


def test_spot_check_plan_ranks_sites_with_the_hand_scores_and_reasons(
    session: Session, fixed: insight_data.Fixed
) -> None:
    plan = spotcheck.plan(session, D, spotcheck.Window(now=END_2019, days=365, unvisited_days=90))
    ranked = [(r["name"], r["score"], [x["code"] for x in r["reasons"]]) for r in plan["sites"]]
    # S2: produced 1 ct, bought 2.25 ct (15); never visited (20); unlicensed purchases (20).
    # S1: 1 of 3 purchases flagged (13.33); 19.5 ct bought on 9 ct produced (15); last visit
    #     329 days before (20).
    assert ranked == [
        ("Insight S2", Decimal("55.00"), ["over_production", "unvisited", "unlicensed"]),
        ("Insight S1", Decimal("48.33"), ["flagged", "over_production", "unvisited"]),
    ]
    buyers = {r["organisation_id"]: r["score"] for r in plan["buyers"]}
    assert buyers == {fixed.b2.id: Decimal("40.00")}  # its only purchase was flagged


def _officer(session: Session) -> tuple[Principal, Principal]:
    officer = actor(session, Role.field_officer, D)
    session.add(UserDistrict(user_id=officer.user_id, district_code=D))
    session.commit()
    return officer, actor(session, Role.ministry)


def test_tasks_reach_the_district_feed_and_a_visit_closes_its_site_task(
    session: Session, fixed: insight_data.Fixed, settings: Settings
) -> None:
    officer, ministry = _officer(session)
    made = tasks.issue(
        session=session,
        principal=ministry,
        district_code=D,
        officer_id=officer.user_id,
        top=1,
        window=spotcheck.Window(now=utcnow(), days=90, unvisited_days=90),
    )
    assert len(made) == 1 and made[0].status == "open"
    task = made[0]
    assert task.reasons and task.site_id in (fixed.s1.id, fixed.s2.id)
    feed = session.scalars(
        select(SyncChange).where(
            SyncChange.entity == "inspection_task", SyncChange.record_id == task.id
        )
    ).all()
    assert [e.scope for e in feed] == [f"district:{D}"]
    site = fixed.s1 if task.site_id == fixed.s1.id else fixed.s2
    shape = from_db(site.geometry)
    assert shape is not None
    p = shape.representative_point()
    service.create_visit(
        session=session,
        principal=officer,
        settings=settings,
        geometry=Point(p.x, p.y),
        props=SiteVisitCreate(site_id=site.id, visited_at=utcnow(), diggers_counted=7),
    )
    session.refresh(task)
    assert task.status == "closed" and task.closed_by_visit_id is not None
    versions = session.scalars(
        select(SyncChange.version).where(
            SyncChange.entity == "inspection_task", SyncChange.record_id == task.id
        )
    ).all()
    assert versions == [2]  # the closed task replaced the open one in the officers' feed
    # the officer reads the closed task in her district
    listed = tasks.tasks_for(session, officer, "closed")
    assert task.id in {t.id for t in listed}


def test_only_supervisors_issue_tasks_and_only_to_an_officer_of_the_district(
    session: Session, fixed: insight_data.Fixed
) -> None:
    officer, ministry = _officer(session)
    window = spotcheck.Window(now=utcnow())
    with pytest.raises(Forbidden):
        tasks.issue(
            session=session,
            principal=officer,
            district_code=D,
            officer_id=officer.user_id,
            top=1,
            window=window,
        )
    with pytest.raises(ValidationFailed) as err:
        tasks.issue(
            session=session,
            principal=ministry,
            district_code="SL-E-KO",
            officer_id=officer.user_id,
            top=1,
            window=window,
        )
    assert err.value.errors[0].pointer == "/officer_id"
    assert session.scalars(select(InspectionTask)).all() == []


def test_an_incident_reported_at_a_task_site_closes_the_task_but_an_earlier_one_does_not(
    session: Session, fixed: insight_data.Fixed
) -> None:
    officer, ministry = _officer(session)
    (task,) = tasks.issue(
        session=session,
        principal=ministry,
        district_code=D,
        officer_id=officer.user_id,
        top=1,
        window=spotcheck.Window(now=utcnow(), days=90, unvisited_days=90),
    )
    assert task.site_id is not None

    def report(occurred_at: datetime) -> Incident:
        return incident_service.report_incident(
            session=session,
            principal=officer,
            props=IncidentCreate(
                kind=IncidentKind.licence_violation,
                occurred_at=occurred_at,
                summary="digging outside the licence area",
                site_id=task.site_id,
            ),
        )

    report(task.issued_at - timedelta(days=1))  # before the task: it stays open
    session.refresh(task)
    assert task.status == "open"
    found = report(utcnow())
    session.refresh(task)
    assert task.status == "closed" and task.closed_by_visit_id is None
    entry = session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity_type == "inspection_task",
            AuditEntry.entity_id == str(task.id),
            AuditEntry.action == "close",
        )
    ).one()
    assert str(found.id) in (entry.reason or "")
    versions = session.scalars(
        select(SyncChange.version).where(
            SyncChange.entity == "inspection_task", SyncChange.record_id == task.id
        )
    ).all()
    assert versions == [2]


def test_spot_check_plan_adds_evidence_of_contributed_parcels_and_open_incidents(
    session: Session, fixed: insight_data.Fixed
) -> None:
    def made_by(event: str) -> Lot:
        lot_id = session.scalars(
            select(col(EventOutput.lot_id)).where(
                col(EventOutput.event_id) == fixed.events[event].id
            )
        ).one()
        lot = session.get(Lot, lot_id)
        assert lot is not None
        return lot

    p1, p2, p3 = made_by("P1"), made_by("P2"), made_by("P3")
    # A parcel of P1 (S1, B1) and P3 (S2, B1) fails; P2's own lot (S1, B2) warns.
    mix = CustodyEvent(
        kind="transfer",
        occurred_at=datetime(2019, 9, 1, 12, tzinfo=UTC),
        organisation_id=fixed.x.id,
        recorded_by=fixed.user.id,
        country_code="SL",
        chain_id=fixed.x.id,
        chain_seq=5000,
        hash="f" * 64,
    )
    session.add(mix)
    session.flush()
    for lot in (p1, p3):
        session.add(
            EventInput(
                event_id=mix.id, lot_id=lot.id, carats=lot.carats, stone_count=1, consumed=True
            )
        )
    parcel = Lot(
        tag="T-PARCEL",
        carats=Decimal("12.250"),
        stone_count=7,
        country_code="SL",
        created_by_event_id=mix.id,
    )
    session.add(parcel)
    session.flush()
    session.add(EventOutput(event_id=mix.id, lot_id=parcel.id, carats=parcel.carats, stone_count=7))
    for lot, verdict, when in (
        (parcel, "pass", datetime(2019, 9, 2, tzinfo=UTC)),
        (parcel, "fail", datetime(2019, 9, 3, tzinfo=UTC)),  # the latest one counts
        (p2, "warn", datetime(2019, 9, 4, tzinfo=UTC)),
        (p1, "fail", datetime(2019, 9, 5, tzinfo=UTC)),
        (p1, "pass", datetime(2019, 9, 6, tzinfo=UTC)),  # P1 itself passes in the end
    ):
        session.add(
            EvidenceReport(
                lot_id=lot.id,
                computed_at=when,
                verdict=verdict,
                checks=[],
                data_version="-",
                digest=hashlib.sha256(f"{lot.id}{when}".encode()).hexdigest(),
            )
        )
    for site, org, status in (
        (fixed.s2, None, "open"),
        (None, fixed.b2, "open"),
        (fixed.s1, None, "closed"),
    ):
        session.add(
            Incident(
                kind="licence_violation",
                status=status,
                occurred_at=datetime(2019, 10, 1, 12, tzinfo=UTC),
                district_code=D,
                site_id=None if site is None else site.id,
                organisation_id=None if org is None else org.id,
                summary="-",
                reported_by=fixed.user.id,
            )
        )
    session.commit()
    plan = spotcheck.plan(session, D, spotcheck.Window(now=END_2019, days=365, unvisited_days=90))
    ranked = [(r["name"], r["score"], [x["code"] for x in r["reasons"]]) for r in plan["sites"]]
    # S2: 55 as before + its purchase P3 is in the failing parcel (30) + an open incident (30).
    # S1: 48.33 + P1 in the failing parcel (30) + P2's lot warns (10); its incident is closed.
    assert ranked == [
        (
            "Insight S2",
            Decimal("115.00"),
            ["over_production", "unvisited", "unlicensed", "evidence_fail", "incident"],
        ),
        (
            "Insight S1",
            Decimal("88.33"),
            ["flagged", "over_production", "unvisited", "evidence_fail", "evidence_warn"],
        ),
    ]
    s1 = plan["sites"][1]["reasons"]
    assert "T-PARCEL" in s1[3]["text"] and p2.tag in s1[4]["text"]
    assert "licence_violation since 2019-10-01" in plan["sites"][0]["reasons"][4]["text"]
    buyers = {
        r["organisation_id"]: (r["score"], [x["code"] for x in r["reasons"]])
        for r in plan["buyers"]
    }
    assert buyers == {
        fixed.b1.id: (Decimal("30.00"), ["evidence_fail"]),
        fixed.b2.id: (Decimal("80.00"), ["flagged", "evidence_warn", "incident"]),
    }
    # Reports computed before the window do not count.
    late = spotcheck.plan(
        session, D, spotcheck.Window(now=datetime(2020, 12, 31, tzinfo=UTC), days=90)
    )
    assert all(
        x["code"] not in ("evidence_fail", "evidence_warn")
        for r in late["sites"] + late["buyers"]
        for x in r["reasons"]
    )
