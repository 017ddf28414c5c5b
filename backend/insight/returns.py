"""KP statistics returns: production per half-year, exports per quarter, reconciled, JSON and CSV.

Certificates are not recorded in this release, so issuance figures come from export events:
each export event is one shipment that needs one certificate, counted with its carats and
value. The response says so in `certificate_source`. Imports are not recorded at all, so the
return has no import section. Reconciliation lists every export whose certificate figures
cannot equal the exported ones (a parcel exported without a valuation), never hides one.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.custody.models import CustodyEvent, EventInput, EventKind, Lot
from backend.insight import rules
from backend.insight.models import Dimension, InsightStat
from backend.insight.periods import Period, bounds, keys_between
from backend.insight.statistics import _sum_type

CERTIFICATE_SOURCE = "export_events"
CERTIFICATE_NOTE = (
    "Certificates are not recorded yet: each export event counts as one certificate, with the "
    "exported lot's carats and valuation."
)
UNRECORDED = "unrecorded"  # HS code and destination are not captured by export events
HS_ROUGH = "7102"  # rough diamonds (the sub-heading is not recorded on export events)


def production(session: Session, year: int, country: str | None) -> list[dict[str, Any]]:
    """Semi-annual production: recorded production and first purchases (with their value)."""
    S = InsightStat
    rows = session.execute(
        select(
            col(S.half),
            func.sum(col(S.produced_carats)),
            func.sum(col(S.produced_stones)),
            func.sum(col(S.purchased_carats)),
            func.sum(col(S.purchased_usd)),
            func.sum(col(S.purchases)),
        )
        .where(col(S.dim) == Dimension.district, col(S.half).in_([f"{year}-H1", f"{year}-H2"]))
        .group_by(col(S.half))
    ).all()
    found = {r[0]: r for r in rows}
    out = []
    for half in (f"{year}-H1", f"{year}-H2"):
        r = found.get(half)
        produced = _sum_type(session, r[1] if r else None, 3)
        carats = _sum_type(session, r[3] if r else None, 3)
        usd = _sum_type(session, r[4] if r else None, 2)
        out.append(
            {
                "period": half,
                "produced_carats": produced,
                "produced_stones": int(r[2] or 0) if r else 0,
                "purchased_carats": carats,
                "purchased_usd": usd,
                "purchases": int(r[5] or 0) if r else 0,
                "usd_per_carat": rules.usd_per_carat(usd, carats),
            }
        )
    return out


def _export_rows(session: Session, start: Any, end: Any) -> list[tuple[Any, ...]]:
    ev = CustodyEvent
    return list(
        session.execute(
            select(
                col(ev.id),
                col(ev.occurred_at),
                col(ev.organisation_id),
                col(EventInput.carats),
                col(Lot.usd_value),
                col(Lot.id),
                col(Lot.tag),
            )
            .join(EventInput, col(EventInput.event_id) == col(ev.id))
            .join(Lot, col(Lot.id) == col(EventInput.lot_id))
            .where(
                col(ev.kind) == EventKind.export,
                col(ev.occurred_at) >= start,
                col(ev.occurred_at) < end,
            )
            .order_by(col(ev.occurred_at), col(ev.id))
        )
    )


def exports(session: Session, year: int, quarter: str | None) -> dict[str, Any]:
    """Quarterly exports by HS code and destination, with certificate counts, reconciled."""
    keys = [quarter] if quarter else keys_between(f"{year}-01", f"{year}-12", Period.quarter)
    start, _ = bounds(keys[0])
    _, end = bounds(keys[-1])
    groups: dict[str, dict[str, Any]] = {}
    mismatches: list[dict[str, Any]] = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for key in keys:
        groups[key] = {
            "period": key,
            "hs_code": HS_ROUGH,
            "destination": UNRECORDED,
            "exported_carats": Decimal("0.000"),
            "exported_usd": Decimal("0.00"),
            "shipments": 0,
            "certificates": 0,
            "certificate_carats": Decimal("0.000"),
            "certificate_usd": Decimal("0.00"),
        }
    for event_id, occurred_at, _org, carats, usd, lot_id, tag in _export_rows(session, start, end):
        key = next(k for k in keys if bounds(k)[0] <= occurred_at < bounds(k)[1])
        g = groups[key]
        g["exported_carats"] += carats
        g["shipments"] += 1
        g["certificates"] += 1
        g["certificate_carats"] += carats
        if usd is None:
            mismatches.append(
                {
                    "period": key,
                    "export_event_id": str(event_id),
                    "lot_id": str(lot_id),
                    "lot_tag": tag,
                    "problem": "exported without a valuation: its value cannot be certified",
                    "exported_carats": carats,
                    "certificate_carats": carats,
                    "exported_usd": None,
                    "certificate_usd": None,
                }
            )
        else:
            g["exported_usd"] += usd
            g["certificate_usd"] += usd
    rows = [g for g in groups.values()]
    for g in rows:
        g["usd_per_carat"] = rules.usd_per_carat(g["exported_usd"], g["exported_carats"])
        for k in ("exported_carats", "exported_usd", "certificate_carats", "certificate_usd"):
            totals[k] += g[k]
    return {
        "rows": rows,
        "totals": dict(totals),
        "reconciliation": {
            "balanced": not mismatches
            and totals["certificate_carats"] == totals["exported_carats"]
            and totals["certificate_usd"] == totals["exported_usd"],
            "mismatches": mismatches,
        },
    }


def kp_return(session: Session, year: int, quarter: str | None, country: str) -> dict[str, Any]:
    return {
        "country": country,
        "year": year,
        "certificate_source": CERTIFICATE_SOURCE,
        "certificate_note": CERTIFICATE_NOTE,
        "imports_recorded": False,
        "production": production(session, year, country),
        "exports": exports(session, year, quarter),
    }


CSV_HEADER = (
    "country",
    "period",
    "flow",
    "hs_code",
    "destination",
    "carats",
    "value_usd",
    "usd_per_carat",
    "certificates",
    "certificate_carats",
    "certificate_value_usd",
)


def csv_lines(ret: dict[str, Any]) -> Iterator[str]:
    """The return in the KP statistics template's long layout: one row per period and flow."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")

    def line(row: list[Any]) -> str:
        buf.seek(0)
        buf.truncate()
        w.writerow(["" if v is None else str(v) for v in row])
        return buf.getvalue()

    yield line(list(CSV_HEADER))
    c = ret["country"]
    for p in ret["production"]:
        yield line(
            [
                c,
                p["period"],
                "production",
                HS_ROUGH,
                "",
                p["purchased_carats"],
                p["purchased_usd"],
                p["usd_per_carat"],
                "",
                "",
                "",
            ]
        )
    for e in ret["exports"]["rows"]:
        yield line(
            [
                c,
                e["period"],
                "export",
                e["hs_code"],
                e["destination"],
                e["exported_carats"],
                e["exported_usd"],
                e["usd_per_carat"],
                e["certificates"],
                e["certificate_carats"],
                e["certificate_usd"],
            ]
        )
    for m in ret["exports"]["reconciliation"]["mismatches"]:
        yield line(
            [
                c,
                m["period"],
                "export-mismatch",
                HS_ROUGH,
                UNRECORDED,
                m["exported_carats"],
                "",
                "",
                "",
                m["certificate_carats"],
                "",
            ]
        )
