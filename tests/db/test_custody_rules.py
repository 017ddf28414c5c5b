"""Custody write rules on both databases: every refusal changes nothing; suspicious facts flag.

`World` builds fresh organisations with licences of their own in the rolled-back session, so
tests never depend on what other tests (or the end-to-end tier) left in the shared database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.audit.models import AuditEntry
from backend.auth.models import Role, User
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.custody import chain, queries, service
from backend.custody.errors import LicenceInvalid, LotUnavailable
from backend.custody.models import (
    CustodyEvent,
    EventInput,
    Lot,
    LotOrigin,
    LotStatus,
)
from backend.custody.schemas import (
    AcceptIn,
    ConsolidateIn,
    ExportIn,
    LotOut,
    PointIn,
    ProduceIn,
    PurchaseIn,
    ReweighIn,
    SealIn,
    SplitIn,
    TransferIn,
    ValueIn,
    VoidIn,
)
from backend.errors import Duplicate, Forbidden, ValidationFailed
from backend.registry.models import (
    Licence,
    LicenceKind,
    LicenceStatus,
    Miner,
    Organisation,
    OrganisationKind,
    Site,
)
from backend.spatial import from_db
from tests.conftest import principal

KONO = "SL-E-KO"


def _user(session: Session, role: Role, org: uuid.UUID | None = None, *districts: str) -> Principal:
    p = principal(role, districts=districts, organisation_id=org)
    p = Principal(
        user_id=p.user_id,
        username=p.username,
        role=role,
        districts=p.districts,
        organisation_id=org,
        device_id="tablet-7",
    )
    session.add(
        User(
            id=p.user_id,
            username=p.username,
            password_hash="-",
            role=role.value,
            organisation_id=org,
        )
    )
    session.commit()
    return p


def _organisation(
    session: Session, kind: OrganisationKind, **licence: Any
) -> tuple[Organisation, Licence]:
    org = Organisation(
        name=f"Test {kind.value} {uuid.uuid4().hex[:6]}",
        kind=kind,
        country_code="SL",
        district_code=KONO,
    )
    session.add(org)
    session.flush()
    today = date.today()
    lic = Licence(
        kind=LicenceKind.exporter if kind is OrganisationKind.exporter else LicenceKind.buyer,
        number=f"T-{uuid.uuid4().hex[:10]}",
        holder_organisation_id=org.id,
        valid_from=licence.pop("valid_from", today - timedelta(days=100)),
        valid_to=licence.pop("valid_to", today + timedelta(days=100)),
        status=licence.pop("status", LicenceStatus.active),
        fit_and_proper=licence.pop("fit_and_proper", True),
    )
    session.add(lic)
    session.commit()
    return org, lic


@dataclass
class World:
    """Fresh buyer and exporter organisations with users, plus a licensed and unlicensed site."""

    session: Session
    buyer_org: Organisation
    buyer_licence: Licence
    exporter_org: Organisation
    buyer: Principal
    exporter: Principal
    export_office: Principal
    admin: Principal
    officer: Principal
    site: Site
    miner: Miner
    unlicensed_site: Site
    clock: datetime = field(default_factory=lambda: utcnow() - timedelta(days=30))

    def tick(self, minutes: int = 5) -> datetime:
        self.clock += timedelta(minutes=minutes)
        return self.clock

    def site_point(self, site: Site | None = None) -> PointIn:
        shape = from_db((site or self.site).geometry)
        assert shape is not None
        c = shape.representative_point()
        return PointIn(type="Point", coordinates=(c.x, c.y))

    def record(self, who: Principal, body: Any) -> CustodyEvent:
        return service.record_event(session=self.session, principal=who, body=body)

    def purchase(
        self, carats: str = "1.000", stones: int = 3, *, who: Principal | None = None, **kw: Any
    ) -> Lot:
        event = self.record(who or self.buyer, self.purchase_body(carats, stones, **kw))
        return self.output(event)

    def purchase_body(self, carats: str = "1.000", stones: int = 3, **kw: Any) -> PurchaseIn:
        site = kw.pop("site", self.site)
        return PurchaseIn(
            kind="purchase",
            occurred_at=kw.pop("occurred_at", self.tick()),
            site_id=site.id,
            miner_id=kw.pop("miner_id", self.miner.id),
            output=LotOut(
                tag=kw.pop("tag", f"B-{uuid.uuid4().hex[:6]}"),
                carats=Decimal(carats),
                stone_count=stones,
            ),
            price=Decimal(kw.pop("price", "500.00")),
            currency="USD",
            usd_value=Decimal(kw.pop("usd_value", "500.00")),
            receipt_number=kw.pop("receipt_number", f"R-{uuid.uuid4().hex[:8]}"),
            location=kw.pop("location", self.site_point(site)),
            **kw,
        )

    def consolidate(
        self, lots: list[Lot], carats: str, stones: int, who: Principal | None = None, **kw: Any
    ) -> Lot:
        body = ConsolidateIn(
            kind="consolidate",
            occurred_at=kw.pop("occurred_at", self.tick()),
            inputs=[lot.id for lot in lots],
            output=LotOut(
                tag=f"C-{uuid.uuid4().hex[:6]}", carats=Decimal(carats), stone_count=stones
            ),
            **kw,
        )
        return self.output(self.record(who or self.buyer, body))

    def transfer(self, lot: Lot, who: Principal | None = None, **kw: Any) -> CustodyEvent:
        body = TransferIn(
            kind="transfer",
            occurred_at=kw.pop("occurred_at", self.tick()),
            lot_id=lot.id,
            to_organisation_id=kw.pop("to", self.exporter_org.id),
            **kw,
        )
        return self.record(who or self.buyer, body)

    def accept(
        self, transfer: CustodyEvent, carats: str, stones: int, who: Principal | None = None
    ) -> Lot:
        body = AcceptIn(
            kind="accept",
            occurred_at=self.tick(),
            transfer_event_id=transfer.id,
            output=LotOut(
                tag=f"X-{uuid.uuid4().hex[:6]}", carats=Decimal(carats), stone_count=stones
            ),
        )
        return self.output(self.record(who or self.exporter, body))

    def output(self, event: CustodyEvent) -> Lot:
        outs = queries.outputs_of(self.session, [event.id])[event.id]
        lot = self.session.get(Lot, outs[0].lot_id)
        assert lot is not None
        return lot

    def lot(self, lot_id: uuid.UUID) -> Lot:
        found = queries.lots_by_id(self.session, [lot_id])[lot_id]
        return found

    def counts(self) -> tuple[int, int, int, int]:
        s = self.session
        return (
            s.scalar(select(func.count()).select_from(CustodyEvent)) or 0,
            s.scalar(select(func.count()).select_from(Lot)) or 0,
            s.scalar(select(func.count()).select_from(EventInput)) or 0,
            s.scalar(select(func.count()).select_from(LotOrigin)) or 0,
        )


def make_world(session: Session) -> World:
    buyer_org, buyer_licence = _organisation(session, OrganisationKind.buying_office)
    exporter_org, _ = _organisation(session, OrganisationKind.exporter)
    today = date.today()
    licensed = session.execute(
        select(Site, Licence)
        .join(Licence, Licence.id == Site.licence_id)
        .where(
            Licence.status == LicenceStatus.active,
            Licence.valid_from <= today - timedelta(days=30),
            Licence.valid_to >= today,
            Site.status == "active",
        )
        .order_by(Site.id)
    ).first()
    assert licensed is not None, "the demo seed has licensed sites"
    site, licence = licensed
    miner = session.get(Miner, licence.holder_miner_id)
    assert miner is not None
    unlicensed = session.scalars(
        select(Site).where(Site.licence_id.is_(None)).order_by(Site.id)  # type: ignore[union-attr]
    ).first()
    assert unlicensed is not None
    return World(
        session=session,
        buyer_org=buyer_org,
        buyer_licence=buyer_licence,
        exporter_org=exporter_org,
        buyer=_user(session, Role.buyer, buyer_org.id),
        exporter=_user(session, Role.exporter, exporter_org.id),
        export_office=_user(session, Role.export_office),
        admin=_user(session, Role.admin),
        officer=_user(session, Role.field_officer, None, site.district_code),
        site=site,
        miner=miner,
        unlicensed_site=unlicensed,
    )


@pytest.fixture
def world(session: Session) -> World:
    return make_world(session)


def refused(world: World, exc: type[Exception], who: Principal, body: Any, field: str) -> Any:
    """The event is refused with `exc` naming `field`, and no row of any custody table changed."""
    before = world.counts()
    with pytest.raises(exc) as info:
        world.record(who, body)
    err: Any = info.value
    fields = [e.pointer for e in getattr(err, "errors", [])]
    assert field in fields, (fields, err)
    assert world.counts() == before
    return err


def flags_of(event: CustodyEvent) -> set[str]:
    return {f["code"] for f in event.flags}


# --- purchases ------------------------------------------------------------------------------------


def test_purchase_creates_a_lot_held_by_the_buyer_with_its_origin(world: World) -> None:
    lot = world.purchase("1.250", 4)
    assert lot.holder_organisation_id == world.buyer_org.id
    assert lot.carats == Decimal("1.250") and lot.status == LotStatus.active
    event = world.session.get(CustodyEvent, lot.created_by_event_id)
    assert event is not None
    assert event.organisation_licence_id == world.buyer_licence.id
    assert event.recorded_by == world.buyer.user_id and event.device_id == "tablet-7"
    assert event.miner_licence_id == world.site.licence_id
    assert flags_of(event) == set()
    origins = queries.origins_of(world.session, [lot.id])
    assert [(o.site_id, o.miner_id, o.purchase_event_id, o.carats_share) for o in origins] == [
        (world.site.id, world.miner.id, event.id, Decimal("1.250"))
    ]


def test_purchase_point_far_from_the_site_is_recorded_and_flagged(world: World) -> None:
    far = world.site_point()
    body = world.purchase_body(
        location=PointIn(type="Point", coordinates=(far.coordinates[0] + 0.05, far.coordinates[1]))
    )
    event = world.record(world.buyer, body)
    assert "purchase_point_outside_site" in flags_of(event)
    assert event.distance_to_site_m is not None and event.distance_to_site_m > 5000


def test_purchase_at_an_unlicensed_site_is_recorded_and_flagged(world: World) -> None:
    event = world.record(
        world.buyer,
        world.purchase_body(site=world.unlicensed_site, miner_id=world.miner.id),
    )
    assert "site_unlicensed" in flags_of(event)


def test_purchase_from_a_miner_whose_licence_lapsed_is_flagged_not_refused(world: World) -> None:
    lic = world.session.get(Licence, world.site.licence_id)
    assert lic is not None
    world.session.execute(
        update(Licence).where(Licence.id == lic.id).values(status=LicenceStatus.suspended)
    )
    event = world.record(world.buyer, world.purchase_body())
    assert "miner_licence_invalid" in flags_of(event)


@pytest.mark.parametrize(
    "licence",
    [
        {"status": LicenceStatus.suspended},
        {"valid_to": date.today() - timedelta(days=60)},
        {"fit_and_proper": False},
    ],
    ids=["suspended", "expired-on-the-date", "not-fit-and-proper"],
)
def test_purchase_by_a_buyer_without_a_valid_licence_is_refused(
    session: Session, licence: dict[str, Any]
) -> None:
    world = make_world(session)
    org, _ = _organisation(session, OrganisationKind.buying_office, **licence)
    buyer = _user(session, Role.buyer, org.id)
    refused(world, LicenceInvalid, buyer, world.purchase_body(), "/organisation_id")


def test_buyer_licence_is_judged_on_the_event_date_not_today(session: Session) -> None:
    world = make_world(session)
    org, _ = _organisation(
        session, OrganisationKind.buying_office, valid_from=date.today() - timedelta(days=5)
    )
    buyer = _user(session, Role.buyer, org.id)
    refused(world, LicenceInvalid, buyer, world.purchase_body(), "/organisation_id")
    body = world.purchase_body(occurred_at=utcnow() - timedelta(days=1))
    assert world.record(buyer, body).kind == "purchase"


def test_duplicate_receipt_number_is_refused(world: World) -> None:
    world.purchase(receipt_number="R-SAME")
    refused(
        world,
        Duplicate,
        world.buyer,
        world.purchase_body(receipt_number="R-SAME"),
        "/receipt_number",
    )


def test_purchase_in_the_future_is_refused(world: World) -> None:
    body = world.purchase_body(occurred_at=utcnow() + timedelta(hours=2))
    refused(world, ValidationFailed, world.buyer, body, "/occurred_at")


def test_buyer_cannot_act_for_another_organisation(world: World) -> None:
    body = world.purchase_body(organisation_id=world.exporter_org.id)
    refused(world, Forbidden, world.buyer, body, "/organisation_id")


def test_exporter_may_not_record_a_purchase(world: World) -> None:
    refused(world, Forbidden, world.exporter, world.purchase_body(), "/kind")


# --- production -----------------------------------------------------------------------------------


def _produce(world: World, site: Site, carats: str = "2.000") -> ProduceIn:
    return ProduceIn(
        kind="produce",
        occurred_at=world.tick(),
        site_id=site.id,
        miner_id=world.miner.id,
        outputs=[LotOut(tag="P-1", carats=Decimal(carats), stone_count=5)],
    )


def test_field_officer_records_production_in_their_district_only(world: World) -> None:
    event = world.record(world.officer, _produce(world, world.site))
    lot = world.output(event)
    assert lot.holder_miner_id == world.miner.id and event.chain_id == world.miner.id
    other = world.session.scalars(
        select(Site).where(Site.district_code != world.site.district_code)
    ).first()
    assert other is not None
    refused(world, ValidationFailed, world.officer, _produce(world, other), "/site_id")


def test_buyer_may_not_record_production(world: World) -> None:
    refused(world, Forbidden, world.buyer, _produce(world, world.site), "/kind")


def test_purchase_of_a_recorded_production_lot_consumes_it_and_keeps_its_origin(
    world: World,
) -> None:
    produced = world.output(world.record(world.officer, _produce(world, world.site)))
    bought = world.purchase("1.995", 5, production_lot_id=produced.id)
    assert world.lot(produced.id).status == LotStatus.consumed
    origin = queries.origins_of(world.session, [bought.id])
    assert [(o.production_lot_id, o.carats_share) for o in origin] == [
        (produced.id, Decimal("1.995"))
    ]
    body = world.purchase_body("1.000", 5, production_lot_id=produced.id)
    refused(world, LotUnavailable, world.buyer, body, "/production_lot_id")


# --- mass balance and stones ----------------------------------------------------------------------


def test_consolidation_consumes_its_inputs(world: World) -> None:
    a, b = world.purchase("1.000", 2), world.purchase("2.000", 3)
    merged = world.consolidate([a, b], "3.000", 5)
    assert world.lot(a.id).status == LotStatus.consumed
    assert world.lot(b.id).status == LotStatus.consumed
    assert merged.carats == Decimal("3.000")
    shares = {
        o.purchase_event_id: o.carats_share for o in queries.origins_of(world.session, [merged.id])
    }
    assert shares == {
        a.created_by_event_id: Decimal("1.000"),
        b.created_by_event_id: Decimal("2.000"),
    }


def test_outputs_may_exceed_inputs_by_the_scale_resolution_and_no_more(world: World) -> None:
    a, b = world.purchase("1.000", 2), world.purchase("1.000", 3)
    body = ConsolidateIn(
        kind="consolidate",
        occurred_at=world.tick(),
        inputs=[a.id, b.id],
        output=LotOut(tag="C", carats=Decimal("2.002"), stone_count=5),
    )
    refused(world, ValidationFailed, world.buyer, body, "/output")
    assert world.consolidate([a, b], "2.001", 5).carats == Decimal("2.001")


def test_loss_above_tolerance_needs_a_reason(world: World) -> None:
    a, b = world.purchase("5.000", 2), world.purchase("5.000", 3)
    # tolerance on 10 ct is max(0.050, 0.02) = 0.050 ct
    body = ConsolidateIn(
        kind="consolidate",
        occurred_at=world.tick(),
        inputs=[a.id, b.id],
        output=LotOut(tag="C", carats=Decimal("9.949"), stone_count=5),
    )
    refused(world, ValidationFailed, world.buyer, body, "/reason")
    within = world.consolidate([a, b], "9.950", 5)
    assert within.carats == Decimal("9.950")


def test_loss_with_a_reason_is_recorded(world: World) -> None:
    lot = world.purchase("1.000", 2)
    body = ReweighIn(
        kind="reweigh",
        occurred_at=world.tick(),
        lot_id=lot.id,
        output=LotOut(tag=lot.tag, carats=Decimal("0.900"), stone_count=2),
        reason="cleaned: clay and gravel removed",
    )
    event = world.record(world.buyer, body)
    assert event.reason is not None and world.output(event).carats == Decimal("0.900")


def test_small_lot_loss_tolerance_is_the_carat_floor(world: World) -> None:
    lot = world.purchase("0.500", 1)
    ok = ReweighIn(
        kind="reweigh",
        occurred_at=world.tick(),
        lot_id=lot.id,
        output=LotOut(tag=lot.tag, carats=Decimal("0.480"), stone_count=1),
    )
    assert world.output(world.record(world.buyer, ok)).carats == Decimal("0.480")


def test_stone_count_is_conserved_unless_breakage_is_declared(world: World) -> None:
    lot = world.purchase("1.000", 4)
    outputs = [
        LotOut(tag="S1", carats=Decimal("0.500"), stone_count=2),
        LotOut(tag="S2", carats=Decimal("0.500"), stone_count=3),
    ]
    body = SplitIn(kind="split", occurred_at=world.tick(), lot_id=lot.id, outputs=outputs)
    refused(world, ValidationFailed, world.buyer, body, "/outputs")
    body = SplitIn(
        kind="split",
        occurred_at=world.tick(),
        lot_id=lot.id,
        outputs=outputs,
        breakage_declared=True,
    )
    refused(world, ValidationFailed, world.buyer, body, "/reason")
    body = SplitIn(
        kind="split",
        occurred_at=world.tick(),
        lot_id=lot.id,
        outputs=outputs,
        breakage_declared=True,
        reason="one stone cracked along a cleavage plane",
    )
    event = world.record(world.buyer, body)
    assert len(queries.outputs_of(world.session, [event.id])[event.id]) == 2


def test_size_classes_must_add_up_to_the_stone_count(world: World) -> None:
    body = world.purchase_body()
    body.output.size_classes = {"+11": 1, "+9": 1}
    refused(world, ValidationFailed, world.buyer, body, "/output/size_classes")


# --- inputs: held, active, used once ------------------------------------------------------------


def test_a_consumed_lot_is_never_used_again(world: World) -> None:
    a, b = world.purchase("1.000", 2), world.purchase("1.000", 2)
    world.consolidate([a, b], "2.000", 4)
    c = world.purchase("1.000", 2)
    body = ConsolidateIn(
        kind="consolidate",
        occurred_at=world.tick(),
        inputs=[c.id, a.id],
        output=LotOut(tag="C", carats=Decimal("2.000"), stone_count=4),
    )
    refused(world, LotUnavailable, world.buyer, body, "/inputs/1")
    assert world.lot(c.id).status == LotStatus.active


def test_a_lot_held_by_another_organisation_cannot_be_an_input(world: World) -> None:
    theirs = world.purchase("1.000", 2)
    other_org, _ = _organisation(world.session, OrganisationKind.buying_office)
    other = _user(world.session, Role.buyer, other_org.id)
    mine = world.purchase("1.000", 2, who=other)
    body = ConsolidateIn(
        kind="consolidate",
        occurred_at=world.tick(),
        inputs=[mine.id, theirs.id],
        output=LotOut(tag="C", carats=Decimal("2.000"), stone_count=4),
    )
    refused(world, ValidationFailed, other, body, "/inputs/1")


def test_the_same_lot_twice_in_one_event_is_refused(world: World) -> None:
    a = world.purchase("1.000", 2)
    body = ConsolidateIn(
        kind="consolidate",
        occurred_at=world.tick(),
        inputs=[a.id, a.id],
        output=LotOut(tag="C", carats=Decimal("2.000"), stone_count=4),
    )
    refused(world, ValidationFailed, world.buyer, body, "/inputs/1")


def test_an_event_cannot_predate_the_last_event_of_its_inputs(world: World) -> None:
    a = world.purchase("1.000", 2)
    body = ReweighIn(
        kind="reweigh",
        occurred_at=world.clock - timedelta(hours=1),
        lot_id=a.id,
        output=LotOut(tag=a.tag, carats=Decimal("1.000"), stone_count=2),
    )
    refused(world, ValidationFailed, world.buyer, body, "/occurred_at")


def test_compare_and_set_lets_only_one_consumer_win(world: World) -> None:
    lot = world.purchase("1.000", 2)
    assert queries.claim_lot(world.session, lot.id, lot.version, "active", "consumed")
    # a second consumer that read the same version loses, whatever it wants to do
    assert not queries.claim_lot(world.session, lot.id, lot.version, "active", "consumed")


def test_the_database_refuses_a_second_consumption_of_a_lot(world: World) -> None:
    a, b = world.purchase("1.000", 2), world.purchase("1.000", 2)
    merged = world.consolidate([a, b], "2.000", 4)
    world.session.add(
        EventInput(
            event_id=merged.created_by_event_id,
            lot_id=merged.id,
            carats=Decimal("2.000"),
            stone_count=4,
            consumed=True,
        )
    )
    world.session.flush()
    other = world.purchase("1.000", 2)
    world.session.add(
        EventInput(
            event_id=other.created_by_event_id,
            lot_id=merged.id,
            carats=Decimal("2.000"),
            stone_count=4,
            consumed=True,
        )
    )
    with pytest.raises(IntegrityError):
        world.session.flush()
    world.session.rollback()


# --- transfer and acceptance --------------------------------------------------------------------


def test_transfer_is_pending_until_the_exporter_accepts(world: World) -> None:
    lot = world.purchase("3.000", 6)
    transfer = world.transfer(lot)
    assert world.lot(lot.id).status == LotStatus.in_transit
    assert transfer.counterparty_organisation_id == world.exporter_org.id
    received = world.accept(transfer, "2.995", 6)
    assert received.holder_organisation_id == world.exporter_org.id
    assert world.lot(lot.id).status == LotStatus.consumed
    body = AcceptIn(
        kind="accept",
        occurred_at=world.tick(),
        transfer_event_id=transfer.id,
        output=LotOut(tag="again", carats=Decimal("2.995"), stone_count=6),
    )
    refused(world, LotUnavailable, world.exporter, body, "/transfer_event_id")


def test_an_in_transit_lot_cannot_be_used_by_the_sender(world: World) -> None:
    lot = world.purchase("3.000", 6)
    world.transfer(lot)
    body = ReweighIn(
        kind="reweigh",
        occurred_at=world.tick(),
        lot_id=lot.id,
        output=LotOut(tag=lot.tag, carats=Decimal("3.000"), stone_count=6),
    )
    refused(world, LotUnavailable, world.buyer, body, "/lot_id")


def test_only_the_addressed_exporter_accepts_a_transfer(world: World) -> None:
    lot = world.purchase("3.000", 6)
    transfer = world.transfer(lot)
    other_org, _ = _organisation(world.session, OrganisationKind.exporter)
    other = _user(world.session, Role.exporter, other_org.id)
    body = AcceptIn(
        kind="accept",
        occurred_at=world.tick(),
        transfer_event_id=transfer.id,
        output=LotOut(tag="X", carats=Decimal("3.000"), stone_count=6),
    )
    refused(world, ValidationFailed, other, body, "/transfer_event_id")


def test_transfer_goes_to_a_licensed_exporter_only(world: World) -> None:
    lot = world.purchase("3.000", 6)
    other_buyer, _ = _organisation(world.session, OrganisationKind.buying_office)
    body = TransferIn(
        kind="transfer", occurred_at=world.tick(), lot_id=lot.id, to_organisation_id=other_buyer.id
    )
    refused(world, ValidationFailed, world.buyer, body, "/to_organisation_id")
    lapsed, _ = _organisation(
        world.session, OrganisationKind.exporter, status=LicenceStatus.revoked
    )
    body = TransferIn(
        kind="transfer", occurred_at=world.tick(), lot_id=lot.id, to_organisation_id=lapsed.id
    )
    refused(world, LicenceInvalid, world.buyer, body, "/to_organisation_id")


def test_accepting_more_than_was_sent_is_refused(world: World) -> None:
    lot = world.purchase("3.000", 6)
    transfer = world.transfer(lot)
    body = AcceptIn(
        kind="accept",
        occurred_at=world.tick(),
        transfer_event_id=transfer.id,
        output=LotOut(tag="X", carats=Decimal("3.010"), stone_count=6),
    )
    refused(world, ValidationFailed, world.exporter, body, "/output")


# --- export office ------------------------------------------------------------------------------


def _export_parcel(world: World) -> Lot:
    return world.accept(world.transfer(world.purchase("4.000", 8)), "4.000", 8)


def test_value_seal_export_by_the_export_office(world: World) -> None:
    parcel = _export_parcel(world)
    export = ExportIn(kind="export", occurred_at=world.tick(), lot_id=parcel.id)
    refused(world, ValidationFailed, world.export_office, export, "/lot_id")
    world.record(
        world.export_office,
        ValueIn(
            kind="value", occurred_at=world.tick(), lot_id=parcel.id, usd_value=Decimal("2400.00")
        ),
    )
    seal = SealIn(kind="seal", occurred_at=world.tick(), lot_id=parcel.id, container_id="SEAL-001")
    event = world.record(world.export_office, seal)
    assert event.chain_id == world.exporter_org.id
    sealed = world.lot(parcel.id)
    assert sealed.status == LotStatus.sealed and sealed.container_id == "SEAL-001"
    assert sealed.usd_value == Decimal("2400.00")
    world.record(
        world.export_office, ExportIn(kind="export", occurred_at=world.tick(), lot_id=parcel.id)
    )
    assert world.lot(parcel.id).status == LotStatus.exported


def test_buyers_and_exporters_may_not_seal(world: World) -> None:
    parcel = _export_parcel(world)
    seal = SealIn(kind="seal", occurred_at=world.tick(), lot_id=parcel.id, container_id="S")
    refused(world, Forbidden, world.exporter, seal, "/kind")


def test_export_office_seals_only_exporters_lots(world: World) -> None:
    lot = world.purchase("1.000", 2)
    seal = SealIn(kind="seal", occurred_at=world.tick(), lot_id=lot.id, container_id="S")
    refused(world, ValidationFailed, world.export_office, seal, "/lot_id")


# --- corrections ----------------------------------------------------------------------------------


def test_a_void_corrects_an_event_without_editing_it(world: World) -> None:
    lot = world.purchase("1.000", 2)
    original = world.session.get(CustodyEvent, lot.created_by_event_id)
    assert original is not None
    original_hash = original.hash
    body = VoidIn(
        kind="void",
        occurred_at=world.tick(),
        lot_id=lot.id,
        corrects_event_id=original.id,
        reason="recorded twice by mistake",
    )
    void = world.record(world.buyer, body)
    assert void.corrects_event_id == original.id
    assert world.lot(lot.id).status == LotStatus.void
    world.session.refresh(original)
    assert original.hash == original_hash


def test_a_correction_names_an_event_in_scope_and_a_reason(world: World) -> None:
    lot = world.purchase("1.000", 2)
    body = ReweighIn(
        kind="reweigh",
        occurred_at=world.tick(),
        lot_id=lot.id,
        output=LotOut(tag=lot.tag, carats=Decimal("1.000"), stone_count=2),
        corrects_event_id=uuid.uuid4(),
        reason="typo in the purchase weight",
    )
    refused(world, ValidationFailed, world.buyer, body, "/corrects_event_id")
    body = ReweighIn(
        kind="reweigh",
        occurred_at=world.tick(),
        lot_id=lot.id,
        output=LotOut(tag=lot.tag, carats=Decimal("1.000"), stone_count=2),
        corrects_event_id=lot.created_by_event_id,
    )
    refused(world, ValidationFailed, world.buyer, body, "/reason")


# --- hash chain, audit, scope --------------------------------------------------------------------


def test_events_chain_per_holder_and_tampering_shows(world: World) -> None:
    a, b = world.purchase("1.000", 2), world.purchase("2.000", 3)
    world.consolidate([a, b], "3.000", 5)
    events = list(queries.chain_events(world.session, world.buyer_org.id))
    assert [e.chain_seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash is None
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert chain.verify(world.session, world.buyer_org.id) == (3, [])
    world.session.execute(
        update(CustodyEvent)
        .where(CustodyEvent.id == a.created_by_event_id)
        .values(price=Decimal("1.00"))
    )
    world.session.expire_all()
    count, breaks = chain.verify(world.session, world.buyer_org.id)
    assert count == 3
    assert [(b.event_id, b.problem.split(":")[0]) for b in breaks] == [
        (a.created_by_event_id, "content changed")
    ]


def test_every_event_and_lot_change_is_audited(world: World) -> None:
    a, b = world.purchase("1.000", 2), world.purchase("1.000", 2)
    merged = world.consolidate([a, b], "2.000", 4)
    entries = world.session.scalars(
        select(AuditEntry).where(
            AuditEntry.entity_id.in_(  # type: ignore[attr-defined]
                [str(merged.created_by_event_id), str(a.id), str(b.id)]
            )
        )
    ).all()
    assert {(e.entity_type, e.action) for e in entries} == {
        ("custody_event", "create"),
        ("lot", "consolidate"),
    }
    assert all(e.device_id == "tablet-7" for e in entries)


def test_buyers_see_only_their_own_lots_and_events(world: World) -> None:
    mine = world.purchase("1.000", 2)
    other_org, _ = _organisation(world.session, OrganisationKind.buying_office)
    other = _user(world.session, Role.buyer, other_org.id)
    assert queries.one_lot(world.session, other, mine.id) is None
    assert queries.one_event(world.session, other, mine.created_by_event_id) is None
    assert queries.one_lot(world.session, world.buyer, mine.id) is not None
    ministry = principal(Role.ministry)
    assert queries.one_lot(world.session, ministry, mine.id) is not None


def test_the_exporter_sees_a_transferred_lot_and_the_buyer_keeps_its_history(
    world: World,
) -> None:
    lot = world.purchase("1.000", 2)
    transfer = world.transfer(lot)
    assert queries.one_lot(world.session, world.exporter, lot.id) is not None
    received = world.accept(transfer, "1.000", 2)
    # the buyer is a party to the acceptance (its receipt), not to what the exporter does next
    assert queries.one_lot(world.session, world.buyer, received.id) is not None
    other = world.accept(world.transfer(world.purchase("1.000", 2)), "1.000", 2)
    merged = world.consolidate([received, other], "2.000", 4, who=world.exporter)
    assert queries.one_lot(world.session, world.buyer, merged.id) is None
    assert queries.one_lot(world.session, world.buyer, lot.id) is not None


def test_field_officers_see_production_in_their_districts_only(world: World) -> None:
    produced = world.output(world.record(world.officer, _produce(world, world.site)))
    bought = world.purchase("1.000", 2)
    assert queries.one_lot(world.session, world.officer, produced.id) is not None
    assert queries.one_lot(world.session, world.officer, bought.id) is None
    elsewhere = principal(Role.field_officer, districts=("SL-W-WU",))
    assert queries.one_lot(world.session, elsewhere, produced.id) is None
