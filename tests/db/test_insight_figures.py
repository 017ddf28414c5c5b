"""Statistics, KP returns and coverage equal figures worked out by hand (tests/insight_data.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.models import Role
from backend.insight import aggregates, returns, statistics
from backend.insight.models import InsightQuarter, InsightStat
from backend.insight.periods import Period
from backend.insight.statistics import By, Query
from tests import insight_data
from tests.conftest import actor, principal

D = insight_data.DISTRICT


def _refreshed(session: Session) -> insight_data.Fixed:
    fixed = insight_data.build(session)
    aggregates.refresh(session=session, principal=actor(session, Role.ministry))
    return fixed


def test_district_statistics_per_quarter_equal_the_hand_figures(session: Session) -> None:
    _refreshed(session)
    rows = statistics.run(
        session, principal(Role.ministry), Query(by=By.district, period=Period.quarter, district=D)
    )
    by_q = {r["period"]: r for r in rows}
    assert sorted(by_q) == ["2019-Q1", "2019-Q2", "2019-Q3"]
    q1 = by_q["2019-Q1"]
    assert (q1["purchases"], q1["carats"], q1["usd_value"], q1["stones"]) == (
        2,
        Decimal("15.500"),
        Decimal("1660.00"),
        8,
    )
    assert q1["usd_per_carat"] == Decimal("107.10")
    assert (q1["flagged_purchases"], q1["purchases_inside_licensed_site"]) == (1, 2)
    assert (q1["productions"], q1["produced_carats"]) == (1, Decimal("9.000"))
    assert q1["capacity_carats"] == Decimal("67.500")  # 15 diggers x 90 days x 0.05
    assert q1["purchased_over_capacity"] == Decimal("0.2296")
    assert by_q["2019-Q2"]["usd_per_carat"] == Decimal("80.00")
    assert by_q["2019-Q2"]["capacity_carats"] is None  # no visit that quarter
    q3 = by_q["2019-Q3"]
    assert (q3["carats"], q3["usd_value"], q3["produced_carats"]) == (
        Decimal("4.000"),
        Decimal("500.00"),
        Decimal("1.000"),
    )


def test_buyer_statistics_per_half_year_equal_the_hand_figures(session: Session) -> None:
    f = _refreshed(session)
    rows = statistics.run(
        session, principal(Role.ministry), Query(by=By.buyer, period=Period.half, district=D)
    )
    got = {(r["buyer"], r["period"]): (r["carats"], r["usd_value"]) for r in rows}
    assert got == {
        (str(f.b1.id), "2019-H1"): (Decimal("12.250"), Decimal("1180.00")),
        (str(f.b1.id), "2019-H2"): (Decimal("4.000"), Decimal("500.00")),
        (str(f.b2.id), "2019-H1"): (Decimal("5.500"), Decimal("660.00")),
    }


def test_a_buyer_sees_only_its_own_organisation_statistics(session: Session) -> None:
    f = _refreshed(session)
    me = principal(Role.buyer, organisation_id=f.b2.id)
    rows = statistics.run(session, me, Query(by=By.buyer, period=Period.month))
    assert {r["buyer"] for r in rows} == {str(f.b2.id)}


def test_kp_return_production_and_exports_reconcile_and_list_the_unvalued_export(
    session: Session,
) -> None:
    f = _refreshed(session)
    ret = returns.kp_return(session, 2019, None, "SL")
    h1, h2 = ret["production"]
    assert (h1["produced_carats"], h1["purchased_carats"], h1["purchased_usd"]) == (
        Decimal("9.000"),
        Decimal("17.750"),
        Decimal("1840.00"),
    )
    assert (h2["produced_carats"], h2["purchased_carats"], h2["purchased_usd"]) == (
        Decimal("1.000"),
        Decimal("4.000"),
        Decimal("500.00"),
    )
    rows = {(r["period"], r["destination"]): r for r in ret["exports"]["rows"]}
    assert sorted(rows) == [("2019-Q1", "uncertified"), ("2019-Q4", "uncertified")]
    assert (
        rows["2019-Q1", "uncertified"]["exported_carats"],
        rows["2019-Q1", "uncertified"]["exported_usd"],
    ) == (
        Decimal("12.000"),
        Decimal("1500.00"),
    )
    assert rows["2019-Q1", "uncertified"]["certificates"] == 0
    assert ret["certificate_source"] == "certificates"
    assert "certificate_note" not in ret
    rec = ret["exports"]["reconciliation"]
    assert rec["balanced"] is False
    assert [(m["problem"], m["export_event_id"]) for m in rec["mismatches"]] == [
        ("export without certificate", str(f.events["E1"].id)),
        ("export without certificate", str(f.events["E2"].id)),
    ]


def test_kp_return_exports_come_from_valid_certificates_and_list_every_mismatch(
    session: Session,
) -> None:
    f = _refreshed(session)
    issued = insight_data.certify(session, f)
    c = issued.certificates
    ret = returns.kp_return(session, 2019, None, "SL")
    got = [
        (
            r["period"],
            r["hs_code"],
            r["destination"],
            r["certificates"],
            r["certificate_carats"],
            r["certificate_usd"],
            r["shipments"],
            r["exported_carats"],
            r["exported_usd"],
        )
        for r in ret["exports"]["rows"]
    ]
    assert got == [  # C1 is voided: only its replacement C2 counts
        (
            "2019-Q1",
            "7102.31",
            "BE",
            1,
            Decimal("12.00"),
            Decimal("1400.00"),
            1,
            Decimal("12.000"),
            Decimal("1500.00"),
        ),
        (
            "2019-Q2",
            "7102.10",
            "AE",
            1,
            Decimal("2.00"),
            Decimal("300.00"),
            0,
            Decimal("0.000"),
            Decimal("0.00"),
        ),
        (
            "2019-Q4",
            "7102",
            "uncertified",
            0,
            Decimal("0.00"),
            Decimal("0.00"),
            1,
            Decimal("3.000"),
            Decimal("0.00"),
        ),
    ]
    assert ret["exports"]["certificates"] == 2
    assert ret["exports"]["totals"] == {
        "certificate_carats": Decimal("14.00"),
        "certificate_usd": Decimal("1700.00"),
        "exported_carats": Decimal("15.000"),
        "exported_usd": Decimal("1500.00"),
    }
    rec = ret["exports"]["reconciliation"]
    assert rec["balanced"] is False
    assert [
        (m["period"], m["problem"], m["certificate_number"], m["lot_id"]) for m in rec["mismatches"]
    ] == [
        ("2019-Q1", "value differs", c["C2"].number, str(issued.lots["E1"].id)),
        ("2019-Q2", "certificate without export", c["C3"].number, str(issued.lots["L3"].id)),
        ("2019-Q4", "export without certificate", None, str(issued.lots["E2"].id)),
    ]
    assert (rec["mismatches"][0]["certificate_usd"], rec["mismatches"][0]["exported_usd"]) == (
        Decimal("1400.00"),
        Decimal("1500.00"),
    )
    q2 = returns.kp_return(session, 2019, "2019-Q2", "SL")["exports"]
    assert [r["destination"] for r in q2["rows"]] == ["AE"]
    lines = list(returns.csv_lines(ret))
    assert lines[0].startswith("country,period,flow,hs_code")
    assert "SL,2019-Q1,export,7102.31,BE,12.000,1500.00,125.00,1,12.00,1400.00\n" in lines
    assert sum(",export-mismatch: " in line for line in lines) == 3


@pytest.mark.parametrize("by", [By.site, By.district, By.buyer, By.licence])
def test_pages_of_keys_cover_every_statistics_row_once(session: Session, by: By) -> None:
    _refreshed(session)
    ministry = principal(Role.ministry)
    q = Query(by=by, period=Period.month)
    whole = statistics.run(session, ministry, q)
    paged: list[dict[str, Any]] = []
    after, pages = None, 0
    while True:
        keys, more = statistics.page_keys(session, ministry, q, 1, after)
        paged += statistics.run(session, ministry, q, keys)
        pages += 1
        if not more:
            break
        cursor = statistics.key_as_cursor(by, keys[-1])
        after = statistics.key_from_cursor(by, cursor)
        assert after == keys[-1]
    assert pages == len({r[by.value] for r in whole}) >= 1
    assert paged == whole


def test_quarter_rows_are_the_monthly_site_and_district_rows_summed(session: Session) -> None:
    _refreshed(session)
    S, Q = InsightStat, InsightQuarter
    monthly = session.execute(
        select(
            S.dim,
            S.key_id,
            S.district_code,
            S.quarter,
            func.sum(S.purchases),
            func.sum(S.purchased_carats),
            func.sum(S.purchased_usd),
            func.sum(S.purchased_stones),
            func.sum(S.produced_carats),
        )
        .where(col(S.dim).in_(["site", "district"]))
        .group_by(S.dim, S.key_id, S.district_code, S.quarter)
    ).all()
    quarterly = session.execute(
        select(
            Q.dim,
            Q.key_id,
            Q.district_code,
            Q.quarter,
            Q.purchases,
            Q.purchased_carats,
            Q.purchased_usd,
            Q.purchased_stones,
            Q.produced_carats,
        )
    ).all()
    assert monthly and sorted(map(tuple, monthly), key=str) == sorted(
        map(tuple, quarterly), key=str
    )
