"""KP statistics returns: production per half-year, exports per quarter, reconciled, JSON and CSV.

Issuance figures come from the `certificate` table: valid certificates only (a voided one is
not counted; its replacement is, in the quarter it was issued), per quarter of issue, HS code
and destination country, with counts, carats and values. Each row also carries the figures of
the export events of its certificates' lots; exports without a valid certificate form an
`uncertified` row. Reconciliation matches certificates and export events by lot and lists
every mismatch, never hides one. Imports are not recorded, so the return has no import section.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.certificates.models import Certificate, CertificateStatus
from backend.clock import as_utc
from backend.custody.models import CustodyEvent, EventInput, EventKind, Lot
from backend.insight import rules
from backend.insight.models import Dimension, InsightStat
from backend.insight.periods import Period, bounds, keys_between
from backend.insight.statistics import _sum_type

CERTIFICATE_SOURCE = "certificates"
UNCERTIFIED = "uncertified"  # the destination of exports whose lot has no valid certificate
HS_ROUGH = "7102"  # rough diamonds: production and uncertified exports have no sub-heading
CENT = Decimal("0.01")  # certificates carry carats to 2 decimals
CHUNK = 500  # ids per IN (...) list
EXPORT_WITHOUT_CERTIFICATE = "export without certificate"
CERTIFICATE_WITHOUT_EXPORT = "certificate without export"
CARATS_DIFFER = "carats differ"
VALUE_DIFFERS = "value differs"


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
    """(event id, occurred_at, carats, lot usd, lot id, tag) of exports in [start, end)."""
    ev = CustodyEvent
    return list(
        session.execute(
            select(
                col(ev.id),
                col(ev.occurred_at),
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


def _exports_of(session: Session, lot_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[Any, ...]]:
    """Export events of these lots, whenever they happened: lot id -> (event id, carats, usd)."""
    found: dict[uuid.UUID, tuple[Any, ...]] = {}
    for i in range(0, len(lot_ids), CHUNK):
        for event_id, carats, usd, lot_id in session.execute(
            select(col(CustodyEvent.id), col(EventInput.carats), col(Lot.usd_value), col(Lot.id))
            .join(EventInput, col(EventInput.event_id) == col(CustodyEvent.id))
            .join(Lot, col(Lot.id) == col(EventInput.lot_id))
            .where(
                col(CustodyEvent.kind) == EventKind.export,
                col(Lot.id).in_(lot_ids[i : i + CHUNK]),
            )
        ):
            found[lot_id] = (event_id, carats, usd)
    return found


def _valid_certificates(session: Session, start: Any, end: Any) -> list[Certificate]:
    return list(
        session.scalars(
            select(Certificate)
            .where(
                col(Certificate.status) == CertificateStatus.valid,
                col(Certificate.issued_at) >= start,
                col(Certificate.issued_at) < end,
            )
            .order_by(col(Certificate.issued_at), col(Certificate.number))
        )
    )


def _certified_lots(session: Session, lot_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for i in range(0, len(lot_ids), CHUNK):
        found.update(
            session.scalars(
                select(col(Certificate.lot_id)).where(
                    col(Certificate.status) == CertificateStatus.valid,
                    col(Certificate.lot_id).in_(lot_ids[i : i + CHUNK]),
                )
            )
        )
    return found


def _quarter_of(keys: list[str], at: datetime) -> str:
    return next(k for k in keys if bounds(k)[0] <= at < bounds(k)[1])


def _row(period: str, hs_code: str, destination: str) -> dict[str, Any]:
    return {
        "period": period,
        "hs_code": hs_code,
        "destination": destination,
        "certificates": 0,
        "certificate_carats": Decimal("0.00"),
        "certificate_usd": Decimal("0.00"),
        "exported_carats": Decimal("0.000"),
        "exported_usd": Decimal("0.00"),
        "shipments": 0,
    }


def _mismatch(period: str, problem: str, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "period": period,
        "problem": problem,
        "certificate_number": None,
        "lot_id": None,
        "lot_tag": None,
        "export_event_id": None,
        "certificate_carats": None,
        "exported_carats": None,
        "certificate_usd": None,
        "exported_usd": None,
    }
    return {**base, **values}


def exports(session: Session, year: int, quarter: str | None) -> dict[str, Any]:
    """Quarterly exports by HS code and destination from valid certificates, reconciled.

    A row is the valid certificates issued in a quarter for one HS code and destination, with
    the figures of the export events of their lots; exports whose lot has no valid certificate
    form an `uncertified` row of the quarter they left in. Reconciliation matches certificates
    and export events by lot and lists every export without a certificate, certificate without
    an export, and differing carats (at the certificate's 2 decimals) or value.
    """
    keys = [quarter] if quarter else keys_between(f"{year}-01", f"{year}-12", Period.quarter)
    start, _ = bounds(keys[0])
    _, end = bounds(keys[-1])
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    mismatches: list[dict[str, Any]] = []
    certs = _valid_certificates(session, start, end)
    exported = _exports_of(session, [c.lot_id for c in certs])
    for c in certs:
        key = _quarter_of(keys, as_utc(c.issued_at))
        g = groups.setdefault(
            (key, c.hs_code, c.destination_country), _row(key, c.hs_code, c.destination_country)
        )
        g["certificates"] += 1
        g["certificate_carats"] += c.carats
        g["certificate_usd"] += c.usd_value
        found = exported.get(c.lot_id)
        ids = {"certificate_number": c.number, "lot_id": str(c.lot_id)}
        if found is None:
            mismatches.append(
                _mismatch(
                    key,
                    CERTIFICATE_WITHOUT_EXPORT,
                    certificate_carats=c.carats,
                    certificate_usd=c.usd_value,
                    **ids,
                )
            )
            continue
        event_id, carats, usd = found
        g["exported_carats"] += carats
        g["exported_usd"] += usd or 0
        g["shipments"] += 1
        figures = {
            "export_event_id": str(event_id),
            "certificate_carats": c.carats,
            "exported_carats": carats,
            "certificate_usd": c.usd_value,
            "exported_usd": usd,
        }
        if c.carats != carats.quantize(CENT, rounding=ROUND_HALF_UP):
            mismatches.append(_mismatch(key, CARATS_DIFFER, **ids, **figures))
        if usd is None or c.usd_value != usd:
            mismatches.append(_mismatch(key, VALUE_DIFFERS, **ids, **figures))
    events = _export_rows(session, start, end)
    certified = _certified_lots(session, [r[4] for r in events])
    for event_id, occurred_at, carats, usd, lot_id, tag in events:
        if lot_id in certified:
            continue
        key = _quarter_of(keys, as_utc(occurred_at))
        g = groups.setdefault((key, HS_ROUGH, UNCERTIFIED), _row(key, HS_ROUGH, UNCERTIFIED))
        g["exported_carats"] += carats
        g["exported_usd"] += usd or 0
        g["shipments"] += 1
        mismatches.append(
            _mismatch(
                key,
                EXPORT_WITHOUT_CERTIFICATE,
                lot_id=str(lot_id),
                lot_tag=tag,
                export_event_id=str(event_id),
                exported_carats=carats,
                exported_usd=usd,
            )
        )
    rows = [groups[k] for k in sorted(groups)]
    totals: dict[str, Decimal] = {
        k: Decimal("0.000") if k == "exported_carats" else Decimal("0.00")
        for k in ("certificate_carats", "certificate_usd", "exported_carats", "exported_usd")
    }
    for g in rows:
        g["usd_per_carat"] = rules.usd_per_carat(g["exported_usd"], g["exported_carats"])
        for k in totals:
            totals[k] += g[k]
    mismatches.sort(key=lambda m: (m["period"], m["problem"], m["lot_id"] or ""))
    return {
        "rows": rows,
        "totals": totals,
        "certificates": sum(g["certificates"] for g in rows),
        "reconciliation": {"balanced": not mismatches, "mismatches": mismatches},
    }


def kp_return(session: Session, year: int, quarter: str | None, country: str) -> dict[str, Any]:
    return {
        "country": country,
        "year": year,
        "certificate_source": CERTIFICATE_SOURCE,
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
                "export-mismatch: " + m["problem"],
                "",
                m["certificate_number"] or m["lot_tag"] or m["lot_id"],
                m["exported_carats"],
                m["exported_usd"],
                "",
                "",
                m["certificate_carats"],
                m["certificate_usd"],
            ]
        )
