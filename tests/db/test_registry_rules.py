"""Registry use cases on both databases: overlaps, status, placement, versions, audit, scope."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from math import cos, radians
from typing import Any

import pytest
from shapely.geometry import Point, Polygon, box
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.models import AuditEntry
from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.errors import (
    Duplicate,
    Forbidden,
    OverlapRefused,
    StaleVersion,
    ValidationFailed,
)
from backend.registry import queries, service, views
from backend.registry.models import (
    Licence,
    LicenceKind,
    LicenceStatus,
    LicenceStatusChange,
    Miner,
    Organisation,
    OrganisationKind,
    Site,
    SiteVisit,
)
from backend.registry.schemas import (
    LicenceCreate,
    LicenceStatusChangeIn,
    LicenceUpdate,
    MinerCreate,
    MinerUpdate,
    OrganisationCreate,
    OrganisationUpdate,
    SiteCreate,
    SiteUpdate,
    SiteVisitCreate,
    SiteVisitUpdate,
)
from backend.settings import Settings
from backend.spatial import from_db
from geodata.area import geodesic_area_ha
from geodata.measure import distance_m
from tests.conftest import actor, principal

KONO = "SL-E-KO"
BO = "SL-S-BO"
# Open country in Kono, ~17 km from the demo's river sites and 16 km inside the district.
ORIGIN = (-10.75, 8.80)
BO_TOWN = (-11.74, 7.96)
REASON = "boundary re-surveyed by the ministry; both holders agree"


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def ministry(session: Session) -> Principal:
    return actor(session, Role.ministry)


@pytest.fixture
def officer(session: Session) -> Principal:
    return actor(session, Role.field_officer, KONO)


def _at(x_m: float, y_m: float, origin: tuple[float, float] = ORIGIN) -> tuple[float, float]:
    """The lon/lat x_m metres east and y_m metres north of origin (flat-earth, fine at 1 km)."""
    lon0, lat0 = origin
    return lon0 + x_m / (111_320 * cos(radians(lat0))), lat0 + y_m / 110_600


def _rect(
    x0: float, y0: float, x1: float, y1: float, origin: tuple[float, float] = ORIGIN
) -> Polygon:
    return box(*_at(x0, y0, origin), *_at(x1, y1, origin))


def _number(prefix: str = "AML-T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _miner(session: Session, who: Principal, district: str = KONO, **kw: Any) -> Miner:
    props = MinerCreate(full_name=kw.pop("full_name", "Sahr Komba"), district=district, **kw)
    return service.create_miner(session=session, principal=who, props=props)


def _licence(
    session: Session,
    settings: Settings,
    who: Principal,
    area: Polygon | None,
    *,
    district: str = KONO,
    reason: str | None = None,
    **kw: Any,
) -> Licence:
    holder = _miner(session, who, district)
    today = service.today()
    props = LicenceCreate(
        kind=LicenceKind.artisanal_mining,
        number=kw.pop("number", _number()),
        holder_miner_id=holder.id,
        district=district,
        valid_from=kw.pop("valid_from", today - timedelta(days=30)),
        valid_to=kw.pop("valid_to", today + timedelta(days=300)),
        overlap_override_reason=reason,
        **kw,
    )
    return service.create_licence(
        session=session, principal=who, settings=settings, geometry=area, props=props
    )


def _site(
    session: Session,
    settings: Settings,
    who: Principal,
    geom: Polygon,
    district: str = KONO,
    **kw: Any,
) -> Site:
    props = SiteCreate(name=kw.pop("name", f"pit {uuid.uuid4().hex[:6]}"), district=district, **kw)
    return service.create_site(
        session=session, principal=who, settings=settings, geometry=geom, props=props
    )


def _visit(
    session: Session, settings: Settings, who: Principal, site: Site, point: Point, **kw: Any
) -> SiteVisit:
    props = SiteVisitCreate(
        site_id=site.id,
        visited_at=kw.pop("visited_at", utcnow() - timedelta(hours=2)),
        diggers_counted=kw.pop("diggers_counted", 14),
        **kw,
    )
    return service.create_visit(
        session=session, principal=who, settings=settings, geometry=point, props=props
    )


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _audit(session: Session, entity_id: uuid.UUID) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.entity_id == str(entity_id)).order_by(AuditEntry.id)
    return list(session.scalars(stmt))


def _history(session: Session, licence_id: uuid.UUID) -> list[tuple[str | None, str]]:
    rows = session.scalars(
        select(LicenceStatusChange)
        .where(LicenceStatusChange.licence_id == licence_id)
        .order_by(LicenceStatusChange.id)
    )
    return [(r.from_status, r.to_status) for r in rows]


def _pointers(err: ValidationFailed | Forbidden | Duplicate) -> list[str]:
    return [e.pointer for e in err.errors]


# --- licence overlaps ------------------------------------------------------------------------


def test_overlapping_licence_is_refused_naming_the_licences_and_nothing_is_written(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    west = _licence(session, settings, ministry, _rect(0, 0, 200, 200))
    east = _licence(session, settings, ministry, _rect(300, 0, 500, 200))
    licences, audits, changes = (
        _count(session, Licence),
        _count(session, AuditEntry),
        _count(session, LicenceStatusChange),
    )
    number = _number()
    with pytest.raises(OverlapRefused) as caught:
        _licence_over(session, settings, ministry, _rect(100, 0, 400, 200), number)
    err = caught.value
    assert err.status == 422 and err.code == "licence-overlap"
    assert west.number in err.detail and east.number in err.detail
    assert {o["number"] for o in err.extra["overlaps"]} == {west.number, east.number}
    assert {o["licence_id"] for o in err.extra["overlaps"]} == {str(west.id), str(east.id)}
    assert _pointers(err) == ["/geometry"]
    # the holder miner made by the helper is committed first; everything after it is not
    assert _count(session, Licence, Licence.number == number) == 0
    assert _count(session, Licence) == licences
    assert _count(session, LicenceStatusChange) == changes
    assert _count(session, AuditEntry) == audits + 1  # the holder miner's own create entry


def _licence_over(
    session: Session, settings: Settings, who: Principal, area: Polygon, number: str
) -> Licence:
    return _licence(session, settings, who, area, number=number)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param((0, 0, 200, 200), (200, 0, 400, 200), id="touching-edge"),
        pytest.param((0, 0, 200, 200), (199, 0, 399, 200), id="0.02ha-sliver-of-4ha"),
        pytest.param((0, 0, 1000, 1000), (995, 0, 1995, 1000), id="0.5ha-but-0.5pct-of-100ha"),
        pytest.param((0, 0, 20, 20), (10, 0, 30, 20), id="half-of-a-0.04ha-licence"),
    ],
)
def test_licence_overlapping_a_neighbour_within_tolerance_is_accepted(
    session: Session,
    settings: Settings,
    ministry: Principal,
    first: tuple[float, float, float, float],
    second: tuple[float, float, float, float],
) -> None:
    _licence(session, settings, ministry, _rect(*first))
    row = _licence(session, settings, ministry, _rect(*second))
    assert row.status == LicenceStatus.active
    assert row.overlap_override_reason is None


def test_licence_over_a_revoked_licence_is_accepted(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    old = _licence(session, settings, ministry, _rect(0, 0, 200, 200))
    service.change_licence_status(
        session=session,
        principal=ministry,
        settings=settings,
        licence_id=old.id,
        change=LicenceStatusChangeIn(
            version=old.version, status=LicenceStatus.revoked, reason="abandoned"
        ),
    )
    row = _licence(session, settings, ministry, _rect(0, 0, 200, 200))
    assert row.overlap_override_reason is None


def test_ministry_override_accepts_the_overlap_and_records_reason_and_audit(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    _licence(session, settings, ministry, _rect(0, 0, 200, 200))
    row = _licence(session, settings, ministry, _rect(100, 0, 300, 200), reason=REASON)
    session.expire_all()
    stored = session.get(Licence, row.id)
    assert stored is not None and stored.overlap_override_reason == REASON
    (entry,) = _audit(session, row.id)
    assert entry.action == "create" and entry.reason == REASON
    assert entry.user_id == ministry.user_id
    assert entry.after is not None and entry.after["overlap_override_reason"] == REASON


def test_override_reason_is_not_kept_when_nothing_overlaps(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    row = _licence(session, settings, ministry, _rect(0, 0, 200, 200), reason=REASON)
    assert row.overlap_override_reason is None


def test_moving_a_licence_onto_a_neighbour_is_refused_and_the_area_is_kept(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    _licence(session, settings, ministry, _rect(0, 0, 200, 200))
    moving = _licence(session, settings, ministry, _rect(400, 0, 600, 200))
    with pytest.raises(OverlapRefused):
        service.update_licence(
            session=session,
            principal=ministry,
            settings=settings,
            licence_id=moving.id,
            geometry=_rect(100, 0, 300, 200),
            props=LicenceUpdate(version=moving.version),
        )
    session.rollback()
    session.expire_all()
    stored = session.get(Licence, moving.id)
    assert stored is not None and stored.version == 1
    assert from_db(stored.area).equals(_rect(400, 0, 600, 200))  # type: ignore[union-attr]


def test_licence_area_is_the_geodesic_area_of_its_polygon(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    area = _rect(0, 0, 300, 150)
    row = _licence(session, settings, ministry, area)
    assert row.area_ha == geodesic_area_ha(area)
    assert row.area_ha == pytest.approx(Decimal("4.5"), rel=Decimal("0.01"))


# --- licence status ----------------------------------------------------------------------------


def _status(
    session: Session,
    who: Principal,
    lic: Licence,
    status: LicenceStatus,
    reason: str = "inspection",
) -> Licence:
    change = LicenceStatusChangeIn(version=lic.version, status=status, reason=reason)
    return service.change_licence_status(
        session=session, principal=who, settings=Settings(), licence_id=lic.id, change=change
    )


def test_reinstating_a_licence_over_an_area_licensed_meanwhile_is_refused(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    old = _status(
        session,
        ministry,
        _licence(session, settings, ministry, _rect(0, 0, 200, 200)),
        LicenceStatus.suspended,
    )
    newer = _licence(session, settings, ministry, _rect(0, 0, 200, 200))
    with pytest.raises(OverlapRefused) as caught:
        _status(session, ministry, old, LicenceStatus.active)
    assert {o["number"] for o in caught.value.extra["overlaps"]} == {newer.number}
    session.rollback()
    session.expire_all()
    stored = session.get(Licence, old.id)
    assert stored is not None and stored.status == LicenceStatus.suspended


def test_licence_is_suspended_and_reinstated_with_history_rows(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    lic = _licence(session, settings, ministry, None)
    lic = _status(
        session, ministry, lic, LicenceStatus.suspended, "digging outside the licensed area"
    )
    assert lic.status == LicenceStatus.suspended and lic.version == 2
    lic = _status(session, ministry, lic, LicenceStatus.active, "area restored")
    assert lic.status == LicenceStatus.active and lic.version == 3
    assert _history(session, lic.id) == [
        (None, "active"),
        ("active", "suspended"),
        ("suspended", "active"),
    ]
    rows = list(
        session.scalars(
            select(LicenceStatusChange)
            .where(LicenceStatusChange.licence_id == lic.id)
            .order_by(LicenceStatusChange.id)
        )
    )
    assert [r.reason for r in rows] == [
        "issued",
        "digging outside the licensed area",
        "area restored",
    ]
    assert {r.changed_by for r in rows} == {ministry.user_id}
    reasons = [e.reason for e in _audit(session, lic.id) if e.action == "update"]
    assert reasons == ["digging outside the licensed area", "area restored"]


def test_revoked_licence_cannot_be_reinstated_and_the_error_names_status(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    lic = _status(
        session, ministry, _licence(session, settings, ministry, None), LicenceStatus.revoked
    )
    for target in (LicenceStatus.active, LicenceStatus.suspended, LicenceStatus.expired):
        with pytest.raises(ValidationFailed) as caught:
            _status(session, ministry, lic, target)
        assert caught.value.status == 422
        assert _pointers(caught.value) == ["/status"]
        assert "revocation is final" in caught.value.detail
        session.rollback()  # as the route does with any refused use case
    stored = session.get(Licence, lic.id)
    assert stored is not None and stored.status == LicenceStatus.revoked and stored.version == 2
    assert _history(session, lic.id) == [(None, "active"), ("active", "revoked")]


def test_field_officer_may_not_change_a_licence_status(
    session: Session, settings: Settings, ministry: Principal, officer: Principal
) -> None:
    lic = _licence(session, settings, ministry, None)
    with pytest.raises(Forbidden):
        _status(session, officer, lic, LicenceStatus.suspended)


def test_active_licence_past_valid_to_is_effectively_expired(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    today = service.today()
    lic = _licence(
        session,
        settings,
        ministry,
        None,
        valid_from=today - timedelta(days=400),
        valid_to=today - timedelta(days=1),
    )
    props = views.licence_feature(lic, None, ministry, today)["properties"]
    assert props["status"] == LicenceStatus.active
    assert props["effective_status"] == LicenceStatus.expired


# --- sites and placement -----------------------------------------------------------------------


def test_site_area_is_computed_geodesically(
    session: Session, settings: Settings, officer: Principal
) -> None:
    shape = Polygon([_at(0, 0), _at(180, 10), _at(150, 140), _at(20, 120)])
    site = _site(session, settings, officer, shape)
    assert site.area_ha == geodesic_area_ha(shape)
    session.expire_all()
    stored = session.get(Site, site.id)
    assert stored is not None and stored.area_ha == geodesic_area_ha(shape)


def test_site_reshaped_gets_its_area_recomputed(
    session: Session, settings: Settings, officer: Principal
) -> None:
    site = _site(session, settings, officer, _rect(0, 0, 100, 100))
    bigger = _rect(0, 0, 200, 100)
    site = service.update_site(
        session=session,
        principal=officer,
        settings=settings,
        site_id=site.id,
        geometry=bigger,
        props=SiteUpdate(version=1),
    )
    assert site.area_ha == geodesic_area_ha(bigger)


def test_site_outside_its_district_is_refused(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    before = _count(session, Site)
    with pytest.raises(ValidationFailed) as caught:
        _site(session, settings, ministry, _rect(0, 0, 100, 100, BO_TOWN), district=KONO)
    assert caught.value.code == "outside-boundary"
    assert "SL-E-KO" in caught.value.detail
    assert _pointers(caught.value) == ["/geometry"]
    assert _count(session, Site) == before


def test_site_outside_the_country_is_refused(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    guinea = (-9.80, 9.00)
    with pytest.raises(ValidationFailed) as caught:
        _site(session, settings, ministry, _rect(0, 0, 100, 100, guinea))
    assert caught.value.code == "outside-boundary"
    assert _pointers(caught.value) == ["/geometry"]


def test_site_with_latitude_and_longitude_swapped_is_refused(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    swapped = Polygon([(lat, lon) for lon, lat in _rect(0, 0, 100, 100).exterior.coords])
    with pytest.raises(ValidationFailed) as caught:
        _site(session, settings, ministry, swapped)
    assert caught.value.code == "swapped-coordinates"


def test_site_in_an_unknown_district_names_district(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _site(session, settings, ministry, _rect(0, 0, 100, 100), district="SL-E-XX")
    assert _pointers(caught.value) == ["/properties/district"]


def test_field_officer_cannot_map_a_site_in_another_district(
    session: Session, settings: Settings, officer: Principal
) -> None:
    with pytest.raises(Forbidden) as caught:
        _site(session, settings, officer, _rect(0, 0, 100, 100, BO_TOWN), district=BO)
    assert _pointers(caught.value) == ["/properties/district"]


def test_field_officer_cannot_register_a_miner_in_another_district(
    session: Session, officer: Principal
) -> None:
    before = _count(session, Miner)
    with pytest.raises(Forbidden) as caught:
        _miner(session, officer, BO)
    assert _pointers(caught.value) == ["/district"]
    assert _count(session, Miner) == before


def test_field_officer_cannot_move_a_miner_out_of_their_district(
    session: Session, officer: Principal
) -> None:
    miner = _miner(session, officer)
    with pytest.raises(Forbidden):
        service.update_miner(
            session=session,
            principal=officer,
            miner_id=miner.id,
            props=MinerUpdate(version=1, district=BO),
        )


# --- visits ------------------------------------------------------------------------------------


def test_visit_records_its_distance_to_the_site(
    session: Session, settings: Settings, officer: Principal
) -> None:
    site = _site(session, settings, officer, _rect(0, 0, 100, 100))
    point = Point(_at(200, 50))
    visit = _visit(session, settings, officer, site, point, notes="pits flooded")
    assert visit.distance_to_site_m is not None
    expected = distance_m(point, _rect(0, 0, 100, 100))
    assert float(visit.distance_to_site_m) == pytest.approx(expected, abs=0.06)
    assert float(visit.distance_to_site_m) == pytest.approx(100, abs=2)
    assert visit.officer_id == officer.user_id
    assert visit.district_code == KONO


def test_visit_inside_the_site_is_zero_metres_away(
    session: Session, settings: Settings, officer: Principal
) -> None:
    site = _site(session, settings, officer, _rect(0, 0, 100, 100))
    visit = _visit(session, settings, officer, site, Point(_at(50, 50)))
    assert visit.distance_to_site_m == Decimal("0.0")


def test_visit_moved_gets_its_distance_recomputed(
    session: Session, settings: Settings, officer: Principal
) -> None:
    site = _site(session, settings, officer, _rect(0, 0, 100, 100))
    visit = _visit(session, settings, officer, site, Point(_at(50, 50)))
    visit = service.update_visit(
        session=session,
        principal=officer,
        settings=settings,
        visit_id=visit.id,
        geometry=Point(_at(50, 400)),
        props=SiteVisitUpdate(version=1),
    )
    assert float(visit.distance_to_site_m or 0) == pytest.approx(300, abs=3)


def test_visit_in_the_future_is_refused_naming_visited_at(
    session: Session, settings: Settings, officer: Principal
) -> None:
    site = _site(session, settings, officer, _rect(0, 0, 100, 100))
    with pytest.raises(ValidationFailed) as caught:
        _visit(
            session,
            settings,
            officer,
            site,
            Point(_at(50, 50)),
            visited_at=utcnow() + timedelta(hours=1),
        )
    assert _pointers(caught.value) == ["/properties/visited_at"]


def test_visit_outside_the_site_district_is_refused(
    session: Session, settings: Settings, officer: Principal
) -> None:
    site = _site(session, settings, officer, _rect(0, 0, 100, 100))
    with pytest.raises(ValidationFailed) as caught:
        _visit(session, settings, officer, site, Point(BO_TOWN))
    assert caught.value.code == "outside-boundary"


# --- versions ----------------------------------------------------------------------------------


def test_stale_miner_version_raises_and_changes_nothing(
    session: Session, officer: Principal
) -> None:
    miner = _miner(session, officer, full_name="Finda Sandi")
    service.update_miner(
        session=session,
        principal=officer,
        miner_id=miner.id,
        props=MinerUpdate(version=1, full_name="Finda Sandi-Kamara"),
    )
    with pytest.raises(StaleVersion) as caught:
        service.update_miner(
            session=session,
            principal=officer,
            miner_id=miner.id,
            props=MinerUpdate(version=1, full_name="Someone Else", phone="+232 76 000000"),
        )
    assert caught.value.status == 409
    assert caught.value.extra["current_version"] == 2
    session.expire_all()
    stored = session.get(Miner, miner.id)
    assert stored is not None
    assert (stored.full_name, stored.phone, stored.version) == ("Finda Sandi-Kamara", None, 2)
    assert [e.action for e in _audit(session, miner.id)] == ["create", "update"]


def test_stale_site_version_raises_and_keeps_the_shape(
    session: Session, settings: Settings, officer: Principal
) -> None:
    site = _site(session, settings, officer, _rect(0, 0, 100, 100), name="before")
    service.update_site(
        session=session,
        principal=officer,
        settings=settings,
        site_id=site.id,
        geometry=None,
        props=SiteUpdate(version=1, notes="first"),
    )
    with pytest.raises(StaleVersion):
        service.update_site(
            session=session,
            principal=officer,
            settings=settings,
            site_id=site.id,
            geometry=_rect(0, 0, 300, 300),
            props=SiteUpdate(version=1, name="after"),
        )
    session.expire_all()
    stored = session.get(Site, site.id)
    assert stored is not None
    assert (stored.name, stored.notes, stored.version) == ("before", "first", 2)
    assert stored.area_ha == geodesic_area_ha(_rect(0, 0, 100, 100))


def test_stale_licence_status_change_raises_and_adds_no_history(
    session: Session, settings: Settings, ministry: Principal
) -> None:
    lic = _licence(session, settings, ministry, None)
    _status(session, ministry, lic, LicenceStatus.suspended)
    stale = LicenceStatusChangeIn(version=1, status=LicenceStatus.revoked, reason="too late")
    with pytest.raises(StaleVersion):
        service.change_licence_status(
            session=session, principal=ministry, settings=settings, licence_id=lic.id, change=stale
        )
    session.expire_all()
    assert _history(session, lic.id) == [(None, "active"), ("active", "suspended")]


# --- audit and device ids ----------------------------------------------------------------------


def _make_and_edit(
    kind: str,
    session: Session,
    settings: Settings,
    who: Principal,
    record_id: uuid.UUID | None = None,
) -> tuple[Any, str, Any]:
    """Create a record of `kind` (with record_id if given) and update it: (row, field, value)."""
    if kind == "miner":
        row = _miner(session, who, id=record_id)
        service.update_miner(
            session=session,
            principal=who,
            miner_id=row.id,
            props=MinerUpdate(version=1, phone="+232 77 123456"),
        )
        return row, "phone", "+232 77 123456"
    if kind == "organisation":
        row = service.create_organisation(
            session=session,
            principal=who,
            props=OrganisationCreate(
                id=record_id,
                name=f"Test Buying {uuid.uuid4().hex[:6]}",
                kind=OrganisationKind.buying_office,
                country_code="SL",
            ),
        )
        service.update_organisation(
            session=session,
            principal=who,
            organisation_id=row.id,
            props=OrganisationUpdate(version=1, address="12 Main Road"),
        )
        return row, "address", "12 Main Road"
    if kind == "licence":
        row = _licence(session, settings, who, _rect(0, 0, 100, 100), id=record_id)
        today = service.today()
        service.update_licence(
            session=session,
            principal=who,
            settings=settings,
            licence_id=row.id,
            geometry=None,
            props=LicenceUpdate(version=1, valid_to=today + timedelta(days=999)),
        )
        return row, "valid_to", (today + timedelta(days=999)).isoformat()
    if kind == "site":
        row = _site(session, settings, who, _rect(0, 0, 100, 100), id=record_id)
        service.update_site(
            session=session,
            principal=who,
            settings=settings,
            site_id=row.id,
            geometry=None,
            props=SiteUpdate(version=1, notes="new pits"),
        )
        return row, "notes", "new pits"
    assert kind == "site_visit"
    site = _site(session, settings, who, _rect(0, 0, 100, 100))
    row = _visit(session, settings, who, site, Point(_at(50, 50)), id=record_id)
    service.update_visit(
        session=session,
        principal=who,
        settings=settings,
        visit_id=row.id,
        geometry=None,
        props=SiteVisitUpdate(version=1, diggers_counted=40),
    )
    return row, "diggers_counted", 40


KINDS = ["miner", "organisation", "licence", "site", "site_visit"]
MODELS = {
    "miner": Miner,
    "organisation": Organisation,
    "licence": Licence,
    "site": Site,
    "site_visit": SiteVisit,
}


@pytest.mark.parametrize("kind", KINDS)
def test_create_and_update_each_write_an_audit_entry_with_before_and_after(
    kind: str, session: Session, settings: Settings, ministry: Principal
) -> None:
    row, field, value = _make_and_edit(kind, session, settings, ministry)
    created, updated = _audit(session, row.id)
    assert (created.action, created.entity_type, created.before) == ("create", kind, None)
    assert (
        created.after is not None
        and created.after["id"] == str(row.id)
        and created.after["version"] == 1
    )
    assert created.user_id == ministry.user_id and created.username == ministry.username
    assert (updated.action, updated.entity_type) == ("update", kind)
    assert updated.before is not None and updated.after is not None
    assert updated.before["version"] == 1 and updated.after["version"] == 2
    assert updated.before[field] != value
    assert updated.after[field] == value


@pytest.mark.parametrize("kind", KINDS)
def test_an_id_made_by_a_device_is_kept(
    kind: str, session: Session, settings: Settings, ministry: Principal
) -> None:
    device_id = uuid.uuid4()
    row, _, _ = _make_and_edit(kind, session, settings, ministry, record_id=device_id)
    assert row.id == device_id
    session.expire_all()
    assert session.get(MODELS[kind], device_id) is not None


def test_a_device_id_already_taken_is_a_duplicate_naming_id(
    session: Session, officer: Principal
) -> None:
    device_id = uuid.uuid4()
    _miner(session, officer, id=device_id)
    with pytest.raises(Duplicate) as caught:
        _miner(session, officer, id=device_id, full_name="Another Person")
    assert _pointers(caught.value) == ["/id"]


# --- field officer scope in queries ------------------------------------------------------------


@pytest.fixture
def bo_and_kono(
    session: Session, settings: Settings, ministry: Principal
) -> dict[str, dict[str, Any]]:
    """A miner, a site with a visit, and a mining licence in each of Kono and Bo."""
    made: dict[str, dict[str, Any]] = {}
    for district, origin in ((KONO, ORIGIN), (BO, BO_TOWN)):
        site = _site(session, settings, ministry, _rect(0, 0, 100, 100, origin), district=district)
        made[district] = {
            "miner": _miner(session, ministry, district),
            "site": site,
            "visit": _visit(session, settings, ministry, site, Point(_at(50, 50, origin))),
            "licence": _licence(session, settings, ministry, None, district=district),
        }
    return made


@pytest.mark.parametrize("what", ["miner", "site", "visit"])
def test_field_officer_queries_return_only_their_district(
    what: str, session: Session, officer: Principal, bo_and_kono: dict[str, dict[str, Any]]
) -> None:
    query = {"miner": queries.miners, "site": queries.sites, "visit": queries.visits}[what]
    rows = list(session.scalars(query(officer, queries.Filters())))
    assert rows and {r.district_code for r in rows} == {KONO}
    ids = {r.id for r in rows}
    assert bo_and_kono[KONO][what].id in ids
    assert bo_and_kono[BO][what].id not in ids


@pytest.mark.parametrize("what", ["miner", "site", "visit"])
def test_a_district_filter_cannot_widen_a_field_officer_scope(
    what: str, session: Session, officer: Principal, bo_and_kono: dict[str, dict[str, Any]]
) -> None:
    query = {"miner": queries.miners, "site": queries.sites, "visit": queries.visits}[what]
    assert list(session.scalars(query(officer, queries.Filters(district=BO)))) == []


def test_field_officer_without_districts_sees_no_miners(
    session: Session, bo_and_kono: dict[str, dict[str, Any]]
) -> None:
    nobody = principal(Role.field_officer)
    assert list(session.scalars(queries.miners(nobody, queries.Filters()))) == []
    assert list(session.scalars(queries.sites(nobody, queries.Filters()))) == []


def test_field_officer_sees_mining_licences_of_their_district_and_every_trade_licence(
    session: Session,
    officer: Principal,
    ministry: Principal,
    bo_and_kono: dict[str, dict[str, Any]],
) -> None:
    rows = list(session.scalars(queries.licences(officer, queries.Filters())))
    ids = {r.id for r in rows}
    assert bo_and_kono[KONO]["licence"].id in ids
    assert bo_and_kono[BO]["licence"].id not in ids
    assert {r.district_code for r in rows if r.kind == LicenceKind.artisanal_mining} == {KONO}
    trade = {
        r.id for r in session.scalars(queries.licences(ministry, queries.Filters(kind="buyer")))
    }
    assert trade and trade <= ids


def test_national_roles_see_both_districts(
    session: Session, ministry: Principal, bo_and_kono: dict[str, dict[str, Any]]
) -> None:
    for role in (Role.ministry, Role.auditor, Role.export_office, Role.donor):
        ids = {r.id for r in session.scalars(queries.sites(principal(role), queries.Filters()))}
        assert {bo_and_kono[KONO]["site"].id, bo_and_kono[BO]["site"].id} <= ids
