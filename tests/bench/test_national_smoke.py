"""bench.national at a tiny scale keeps the custody invariants, checked with the app's code."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.models import Role
from backend.custody import balance, chain, trace
from backend.custody.models import CustodyEvent
from backend.custody.rules import check_mass_balance
from backend.db import make_engine, session_factory
from backend.registry.models import Organisation
from backend.settings import Settings
from backend.tables import metadata
from bench import national
from tests.conftest import _autocommit, fresh_postgis_database, postgis_url, principal

LOADED_TABLES = national.TABLES


@pytest.fixture(scope="module")
def loaded(request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, Any]]]:
    url = postgis_url()
    try:
        probe = _autocommit(url)
        with probe.connect() as conn:
            conn.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as err:  # any failure to reach PostgreSQL means the generator cannot run
        why = f"PostgreSQL at {url}: {err}"
        if request.config.getoption("--require-all-dialects"):
            pytest.fail(f"required database unavailable: {why}")
        pytest.skip(why)
    with fresh_postgis_database(url) as db_url:
        args = national.parse_args(["--database-url", db_url, "--scale", "0.001"])
        result = national.run(national.sizes_from(args), db_url, chunk=500)
        yield db_url, result


@pytest.fixture
def session(loaded: tuple[str, dict[str, Any]]) -> Iterator[Session]:
    engine = make_engine(Settings(database_url=loaded[0]))
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def rows(session: Session, sql: str) -> list[Any]:
    return list(session.execute(text(sql)).all())


def test_generator_writes_every_custody_table_and_a_parcel_with_most_purchases_upstream(
    loaded: tuple[str, dict[str, Any]],
) -> None:
    result = loaded[1]
    copier = result["copier"]
    for table in ("custody_event", "event_input", "event_output", "lot", "lot_origin", "site"):
        assert copier.rows[table] > 0, table
    assert result["purchases"] == 2000
    _lot_id, upstream = result["big_parcel"]
    assert upstream >= 500  # half the purchases is the cap at this scale; 2/3 flow to exporter 0


def test_every_lot_is_made_by_one_event_and_consumed_at_most_once(session: Session) -> None:
    assert (
        rows(
            session,
            "SELECT lot_id FROM event_input WHERE consumed GROUP BY lot_id HAVING count(*) > 1",
        )
        == []
    )
    # consumed and exported lots have exactly their one consuming input; others none
    assert (
        rows(
            session,
            "SELECT l.id, l.status FROM lot l LEFT JOIN event_input ei "
            "ON ei.lot_id = l.id AND ei.consumed "
            "WHERE (l.status IN ('consumed', 'exported')) <> (ei.id IS NOT NULL)",
        )
        == []
    )
    assert (
        rows(
            session,
            "SELECT l.id FROM lot l LEFT JOIN event_output eo ON eo.lot_id = l.id "
            "WHERE eo.id IS NULL OR eo.event_id <> l.created_by_event_id",
        )
        == []
    )


def test_every_reference_holds_though_the_load_ran_without_foreign_key_triggers(
    session: Session,
) -> None:
    broken = []
    for name in LOADED_TABLES:
        table = metadata.tables[name]
        for fk in table.foreign_keys:
            col, ref = fk.parent.name, fk.column
            n = session.execute(
                text(
                    f"SELECT count(*) FROM {name} t WHERE t.{col} IS NOT NULL AND NOT EXISTS "
                    f"(SELECT 1 FROM {ref.table.name} r WHERE r.{ref.name} = t.{col})"
                )
            ).scalar_one()
            if n:
                broken.append(f"{name}.{col} -> {ref.table.name}.{ref.name}: {n}")
    assert broken == []


def test_each_transformation_passes_the_apps_mass_balance_rule(session: Session) -> None:
    events = rows(
        session,
        "SELECT e.id, e.reason, "
        "(SELECT sum(carats) FROM event_input i WHERE i.event_id = e.id), "
        "(SELECT sum(carats) FROM event_output o WHERE o.event_id = e.id) "
        "FROM custody_event e WHERE e.kind IN ('consolidate', 'accept', 'purchase', 'split', "
        "'reweigh') AND EXISTS (SELECT 1 FROM event_input i WHERE i.event_id = e.id)",
    )
    assert events
    for event_id, reason, carats_in, carats_out in events:
        assert check_mass_balance(Decimal(carats_in), Decimal(carats_out), reason) == [], event_id


def test_mass_balance_per_organisation_is_non_negative_and_matches_stock_on_hand(
    session: Session,
) -> None:
    orgs = session.scalars(
        select(Organisation).where(
            col(Organisation.id).in_(select(col(CustodyEvent.organisation_id)).distinct())
        )
    ).all()
    assert orgs
    for org in orgs:
        report = balance.report(session, org, None, None)
        closing = Decimal(report["closing"])
        assert closing >= 0, report
        assert closing == Decimal(report["on_hand"]), report
        assert Decimal(report["losses"]) >= 0, report


def test_lot_origin_shares_sum_to_each_lots_carats(session: Session) -> None:
    assert (
        rows(
            session,
            "SELECT l.id FROM lot l LEFT JOIN lot_origin o ON o.lot_id = l.id "
            "GROUP BY l.id, l.carats HAVING coalesce(sum(o.carats_share), 0) <> l.carats",
        )
        == []
    )


def test_hash_chains_verify_for_buyers_exporters_and_miners(session: Session) -> None:
    chains = rows(
        session,
        "(SELECT chain_id FROM custody_event WHERE kind = 'purchase' GROUP BY chain_id LIMIT 2) "
        "UNION ALL (SELECT chain_id FROM custody_event WHERE kind = 'export' "
        "GROUP BY chain_id LIMIT 2) "
        "UNION ALL (SELECT chain_id FROM custody_event WHERE kind = 'produce' "
        "GROUP BY chain_id ORDER BY count(*) DESC LIMIT 2)",
    )
    assert len(chains) >= 5
    for (chain_id,) in chains:
        count, breaks = chain.verify(session, uuid.UUID(str(chain_id)))
        assert count > 0
        assert breaks == [], (chain_id, breaks[:3])


def test_backward_trace_of_the_big_parcel_returns_its_sites_miners_and_purchases(
    session: Session, loaded: tuple[str, dict[str, Any]]
) -> None:
    lot_id, upstream = loaded[1]["big_parcel"]
    found = trace.backward(session, principal(Role.ministry), lot_id, with_path=True)
    assert len(found["purchases"]) == upstream
    assert found["sites"] and found["miners"] and found["production_lots"]
    assert sum(Decimal(s["carats_estimate"]) for s in found["sites"]) == Decimal(found["carats"])
    kinds = {step["kind"] for step in found["path"] or []}
    assert {"consolidate", "accept", "purchase"} <= kinds


def test_forward_trace_of_the_busiest_site_reaches_an_export(
    session: Session, loaded: tuple[str, dict[str, Any]]
) -> None:
    site_id, purchases = loaded[1]["busiest_site"]
    found = trace.forward(session, principal(Role.ministry), "site", site_id)
    assert len(found["lots"]) >= purchases
    assert found["exports"]
