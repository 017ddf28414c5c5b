"""Trace both ways, mass balance with stock takes, and the EPCIS document, on both databases."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.models import Role
from backend.custody import balance, epcis, queries, service, trace
from backend.custody.models import Lot, LotOrigin
from backend.custody.schemas import (
    ExportIn,
    LotOut,
    ReweighIn,
    SealIn,
    StockTakeIn,
    ValueIn,
    VoidIn,
)
from backend.registry.models import Organisation
from tests.conftest import principal
from tests.db.test_custody_rules import World, make_world


def _parcel(world: World) -> tuple[Lot, list[Lot]]:
    """Three purchases (two from one site) consolidated, transferred, accepted, sealed, exported."""
    a = world.purchase("1.000", 2)
    b = world.purchase("3.000", 4)
    c = world.purchase("2.000", 2, site=world.unlicensed_site)
    merged = world.consolidate([a, b, c], "5.994", 8)
    parcel = world.accept(world.transfer(merged), "5.994", 8)
    world.record(
        world.export_office,
        SealIn(kind="seal", occurred_at=world.tick(), lot_id=parcel.id, container_id="SL-SEAL-9"),
    )
    world.record(
        world.export_office, ExportIn(kind="export", occurred_at=world.tick(), lot_id=parcel.id)
    )
    return parcel, [a, b, c]


def test_backward_trace_attributes_carats_to_sites_miners_and_purchases(
    session: Session,
) -> None:
    world = make_world(session)
    parcel, (a, b, c) = _parcel(world)
    ministry = principal(Role.ministry)
    found = trace.backward(session, ministry, parcel.id, with_path=True)
    assert found["carats"] == "5.994"
    sites = {s["site_id"]: Decimal(s["carats_estimate"]) for s in found["sites"]}
    # ids come as canonical text on both databases (SQLite keeps 32 hex digits underneath)
    assert sites == {
        str(world.site.id): Decimal("3.996"),
        str(world.unlicensed_site.id): Decimal("1.998"),
    }
    assert [s["share"] for s in found["sites"]] == ["0.6667", "0.3333"]
    purchases = {p["event_id"]: Decimal(p["carats_estimate"]) for p in found["purchases"]}
    assert purchases == {
        str(a.created_by_event_id): Decimal("0.999"),
        str(b.created_by_event_id): Decimal("2.997"),
        str(c.created_by_event_id): Decimal("1.998"),
    }
    times = [p["occurred_at"] for p in found["purchases"]]
    assert times == sorted(times)
    assert {p["organisation_id"] for p in found["purchases"]} == {str(world.buyer_org.id)}
    assert all(p["receipt_number"] for p in found["purchases"])
    assert {p["miner_id"] for p in found["purchases"]} <= {m["miner_id"] for m in found["miners"]}
    assert sum(purchases.values()) == parcel.carats
    assert "estimate" in found["estimate"]
    kinds = [step["kind"] for step in found["path"]]
    assert kinds.count("purchase") == 3 and "consolidate" in kinds and kinds[0] == "accept"
    assert max(step["depth"] for step in found["path"]) == 2


def test_backward_trace_orders_origins_by_carats_and_writes_them_exactly(
    session: Session,
) -> None:
    # 12.345 ct sorts after 9.5 ct as text; the trace must rank by carats, on both databases
    world = make_world(session)
    big = world.purchase("12.345", 9)
    small = world.purchase("9.500", 4, site=world.unlicensed_site)
    tiny = world.purchase("0.005", 1, site=world.unlicensed_site)
    merged = world.consolidate([big, small, tiny], "21.850", 14)
    found = trace.backward(session, principal(Role.ministry), merged.id, with_path=False)
    assert [(s["site_id"], s["carats_estimate"]) for s in found["sites"]] == [
        (str(world.site.id), "12.345"),
        (str(world.unlicensed_site.id), "9.505"),
    ]
    assert [s["share"] for s in found["sites"]] == ["0.5650", "0.4350"]
    assert [p["carats_estimate"] for p in found["purchases"]] == ["12.345", "9.500", "0.005"]
    assert [p["event_id"] for p in found["purchases"]] == [
        str(lot.created_by_event_id) for lot in (big, small, tiny)
    ]
    assert found["miners"] == [
        {
            "miner_id": str(world.miner.id),
            "full_name": world.miner.full_name,
            "carats_estimate": "21.850",
        }
    ]


def test_origins_are_one_lookup_and_agree_with_the_recursive_path(session: Session) -> None:
    world = make_world(session)
    parcel, bought = _parcel(world)
    origins = session.scalars(select(LotOrigin).where(LotOrigin.lot_id == parcel.id)).all()
    assert {o.purchase_event_id for o in origins} == {lot.created_by_event_id for lot in bought}
    tree = trace.ancestors(parcel.id)
    ancestors = set(session.scalars(select(tree.c.lot_id)))
    assert {lot.id for lot in bought} <= ancestors


def test_forward_trace_from_a_site_reaches_the_export(session: Session) -> None:
    world = make_world(session)
    parcel, (a, b, _c) = _parcel(world)
    found = trace.forward(session, principal(Role.auditor), "site", world.site.id)
    reached = {row["lot_id"] for row in found["lots"]}
    assert {a.id, b.id, parcel.id} <= reached
    exports = [e for e in found["exports"] if e["lot_id"] == parcel.id]
    assert len(exports) == 1 and exports[0]["container_id"] == "SL-SEAL-9"
    assert Decimal(exports[0]["carats_estimate"]) == Decimal("3.996")
    # the recursive walk downstream from the site's first lots reaches the same lots
    tree = trace.descendants(select(Lot.id).where(Lot.id.in_([a.id, b.id])))  # type: ignore[attr-defined]
    assert {a.id, b.id, parcel.id} <= set(session.scalars(select(tree.c.lot_id)))


def test_forward_trace_of_a_miner_is_scoped_for_buyers(session: Session) -> None:
    world = make_world(session)
    mine = world.purchase("1.000", 2)
    other_world = make_world(session)
    theirs = other_world.purchase("1.000", 2)
    found = trace.forward(session, world.buyer, "miner", world.miner.id)
    reached = {row["lot_id"] for row in found["lots"]}
    assert mine.id in reached and theirs.id not in reached


def test_backward_trace_for_an_exporter_hides_other_buyers_receipts_and_steps(
    session: Session,
) -> None:
    world = make_world(session)
    lot = world.purchase("2.000", 3)
    parcel = world.accept(world.transfer(lot), "2.000", 3)
    found = trace.backward(session, world.exporter, parcel.id, with_path=True)
    assert [p["receipt_number"] for p in found["purchases"]] == [None]
    assert {s["kind"] for s in found["path"]} == {"accept"}
    assert [p["organisation_id"] for p in found["purchases"]] == [None]
    assert found["sites"][0]["site_id"] == str(world.site.id)


def test_mass_balance_closes_on_the_stock_on_hand(session: Session) -> None:
    world = make_world(session)
    a = world.purchase("1.000", 2)
    b = world.purchase("2.000", 3)
    c = world.purchase("0.500", 1)
    merged = world.consolidate([a, b], "2.990", 5)
    world.record(
        world.buyer,
        ReweighIn(
            kind="reweigh",
            occurred_at=world.tick(),
            lot_id=merged.id,
            output=LotOut(tag="RW", carats=Decimal("2.800"), stone_count=5),
            reason="washed",
        ),
    )
    world.record(
        world.buyer,
        VoidIn(
            kind="void",
            occurred_at=world.tick(),
            lot_id=c.id,
            corrects_event_id=c.created_by_event_id,
            reason="entered twice",
        ),
    )
    d = world.purchase("4.000", 6)
    world.transfer(d)
    org = session.get(Organisation, world.buyer_org.id)
    assert org is not None
    report = balance.report(session, org, None, None)
    assert report["opening"] == "0.000"
    assert Decimal(report["received"]) == Decimal("7.500")
    assert Decimal(report["dispatched"]) == Decimal("4.000")
    assert Decimal(report["losses"]) == Decimal("0.200")
    assert Decimal(report["voided"]) == Decimal("0.500")
    assert Decimal(report["closing"]) == Decimal(report["on_hand"]) == Decimal("2.800")


def test_balance_periods_chain_opening_to_closing(session: Session) -> None:
    world = make_world(session)
    world.purchase("1.000", 2)
    cut = world.tick()
    world.purchase("2.000", 3)
    org = session.get(Organisation, world.buyer_org.id)
    assert org is not None
    before = balance.report(session, org, None, cut)
    after = balance.report(session, org, cut, None)
    assert before["closing"] == after["opening"] == "1.000"
    assert after["closing"] == "3.000"


def test_stock_take_shows_the_difference_from_the_books(session: Session) -> None:
    world = make_world(session)
    world.purchase("1.000", 2)
    world.purchase("2.000", 3)
    counted_at = world.tick()
    service.record_stock_take(
        session=session,
        principal=world.buyer,
        props=StockTakeIn(counted_at=counted_at, counted_carats=Decimal("2.950")),
    )
    world.purchase("5.000", 3)
    org = session.get(Organisation, world.buyer_org.id)
    assert org is not None
    report = balance.report(session, org, None, None)
    [take] = report["stock_takes"]
    assert take["book_carats"] == "3.000" and take["difference"] == "-0.050"


def test_epcis_document_maps_each_kind_to_its_event_type_and_biz_step(session: Session) -> None:
    world = make_world(session)
    lot = world.purchase("2.000", 3)
    parcel = world.accept(world.transfer(lot), "2.000", 3)
    world.record(
        world.export_office,
        ValueIn(kind="value", occurred_at=world.tick(), lot_id=parcel.id, usd_value=Decimal("900")),
    )
    world.record(
        world.export_office,
        SealIn(kind="seal", occurred_at=world.tick(), lot_id=parcel.id, container_id="C-1"),
    )
    events = trace.lot_events(session, principal(Role.ministry), parcel.id, upstream=True)
    doc = epcis.document(session, events, parcel)
    assert doc["@context"][0] == epcis.EPCIS_CONTEXT and doc["type"] == "EPCISDocument"
    listed = doc["epcisBody"]["eventList"]
    assert [(e["type"], e["bizStep"]) for e in listed] == [
        ("TransactionEvent", "receiving"),
        ("ObjectEvent", "shipping"),
        ("TransformationEvent", "accepting"),
        ("ObjectEvent", "inspecting"),
        ("AggregationEvent", "packing"),
    ]
    purchase, _, accept, _, seal = listed
    assert purchase["quantityList"][0] == {
        "epcClass": f"urn:alluvial-trace:lot:{lot.id}",
        "quantity": 2.0,
        "uom": "CTM",
    }
    assert purchase["bizTransactionList"][0]["type"] == "inv"
    assert purchase["readPoint"]["id"].startswith("geo:")
    assert accept["inputQuantityList"][0]["epcClass"].endswith(str(lot.id))
    assert seal["parentID"] == "urn:alluvial-trace:container:C-1"


def test_epcis_marks_a_corrected_event_with_an_error_declaration(session: Session) -> None:
    world = make_world(session)
    lot = world.purchase("1.000", 2)
    void = world.record(
        world.buyer,
        VoidIn(
            kind="void",
            occurred_at=world.tick(),
            lot_id=lot.id,
            corrects_event_id=lot.created_by_event_id,
            reason="wrong miner",
        ),
    )
    events = trace.lot_events(session, world.buyer, lot.id, upstream=False)
    doc = epcis.document(session, events, lot)
    first, second = doc["epcisBody"]["eventList"]
    assert first["errorDeclaration"]["correctiveEventIDs"] == [f"urn:uuid:{void.id}"]
    assert (second["type"], second["action"], second["bizStep"]) == (
        "ObjectEvent",
        "DELETE",
        "decommissioning",
    )
    assert queries.one_lot(session, world.buyer, lot.id) is not None
