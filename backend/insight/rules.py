"""Pure insight arithmetic: USD per carat, shares, capacity, and the spot-check score."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
SHARE = Decimal("0.0001")
# A regional rate for capacity (carats one digger recovers in a day of work); the capacity of a
# site in a period is the diggers counted at its visits (their mean) x days x this rate.
CARATS_PER_DIGGER_DAY = Decimal("0.05")


def usd_per_carat(usd: Decimal, carats: Decimal) -> Decimal | None:
    if carats == 0:
        return None
    return (usd / carats).quantize(CENT, rounding=ROUND_HALF_UP)


def share(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """part / whole to four decimals (0.1234 = 12.34 %); None when there is no whole."""
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(SHARE, rounding=ROUND_HALF_UP)


def capacity(mean_diggers: Decimal | None, days: int) -> Decimal | None:
    if mean_diggers is None:
        return None
    return (mean_diggers * days * CARATS_PER_DIGGER_DAY).quantize(
        Decimal("0.001"), rounding=ROUND_HALF_UP
    )


# --- spot-check scoring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteSignals:
    purchases: int
    flagged_purchases: int
    purchased_carats: Decimal
    produced_carats: Decimal
    capacity_carats: Decimal | None
    days_since_visit: int | None  # None: never visited
    licensed: bool
    licence_silent: bool  # its mining licence recorded no production in the window
    evidence: ParcelEvidence | None = None
    open_incidents: tuple[str, ...] = ()  # "kind since date" of each open incident about it


@dataclass(frozen=True)
class BuyerSignals:
    purchases: int
    flagged_purchases: int
    silent: bool  # licensed but no purchases or returns in the window
    evidence: ParcelEvidence | None = None
    open_incidents: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParcelEvidence:
    """Tags of the parcels it contributed to whose latest evidence report fails or warns."""

    failed: tuple[str, ...] = ()
    warned: tuple[str, ...] = ()


@dataclass
class Score:
    points: Decimal = Decimal(0)
    reasons: list[dict[str, Any]] = field(default_factory=list)

    def add(self, code: str, points: Decimal, text: str) -> None:
        points = points.quantize(CENT, rounding=ROUND_HALF_UP)
        if points <= 0:
            return
        self.points += points
        self.reasons.append({"code": code, "points": points, "text": text})


WEIGHTS = {
    "flagged": Decimal(40),
    "over_capacity": Decimal(25),
    "over_production": Decimal(15),
    "unvisited": Decimal(20),
    "unlicensed": Decimal(20),
    "silent": Decimal(10),
    "evidence_fail": Decimal(30),
    "evidence_warn": Decimal(10),
    "incident": Decimal(30),
}


def _evidence_and_incidents(
    out: Score, evidence: ParcelEvidence | None, incidents: tuple[str, ...]
) -> None:
    """Flat weights: any failing parcel, any warning parcel, any open incident."""
    if evidence is not None and evidence.failed:
        out.add(
            "evidence_fail",
            WEIGHTS["evidence_fail"],
            f"{len(evidence.failed)} parcel(s) it contributed to fail their evidence: "
            + ", ".join(evidence.failed),
        )
    if evidence is not None and evidence.warned:
        out.add(
            "evidence_warn",
            WEIGHTS["evidence_warn"],
            f"{len(evidence.warned)} parcel(s) it contributed to have evidence warnings: "
            + ", ".join(evidence.warned),
        )
    if incidents:
        out.add(
            "incident",
            WEIGHTS["incident"],
            f"{len(incidents)} open incident(s): " + "; ".join(incidents),
        )


def score_site(s: SiteSignals, unvisited_days: int) -> Score:
    out = Score()
    if s.purchases:
        flagged = Decimal(s.flagged_purchases) / s.purchases
        out.add(
            "flagged",
            WEIGHTS["flagged"] * flagged,
            f"{s.flagged_purchases} of {s.purchases} purchases flagged",
        )
    if s.capacity_carats is not None and s.capacity_carats > 0:
        ratio = s.purchased_carats / s.capacity_carats
        if ratio > 1:
            out.add(
                "over_capacity",
                WEIGHTS["over_capacity"] * min(ratio - 1, Decimal(2)) / 2,
                f"purchases {s.purchased_carats} ct exceed capacity {s.capacity_carats} ct",
            )
    if s.produced_carats > 0 and s.purchased_carats > s.produced_carats:
        ratio = s.purchased_carats / s.produced_carats
        out.add(
            "over_production",
            WEIGHTS["over_production"] * min(ratio - 1, Decimal(1)),
            f"purchases {s.purchased_carats} ct exceed recorded production {s.produced_carats} ct",
        )
    if s.days_since_visit is None:
        out.add("unvisited", WEIGHTS["unvisited"], "never visited")
    elif s.days_since_visit > unvisited_days:
        out.add(
            "unvisited",
            WEIGHTS["unvisited"]
            * min(Decimal(s.days_since_visit) / unvisited_days - 1, Decimal(1)),
            f"last visited {s.days_since_visit} days ago",
        )
    if not s.licensed and s.purchases:
        out.add("unlicensed", WEIGHTS["unlicensed"], "purchases name a site with no active licence")
    if s.licence_silent:
        out.add("silent", WEIGHTS["silent"], "its mining licence recorded no production")
    _evidence_and_incidents(out, s.evidence, s.open_incidents)
    return out


def score_buyer(s: BuyerSignals) -> Score:
    out = Score()
    if s.purchases:
        flagged = Decimal(s.flagged_purchases) / s.purchases
        out.add(
            "flagged",
            WEIGHTS["flagged"] * flagged,
            f"{s.flagged_purchases} of {s.purchases} purchases flagged",
        )
    if s.silent:
        out.add("silent", WEIGHTS["silent"] * 2, "licensed but no purchases or returns")
    _evidence_and_incidents(out, s.evidence, s.open_incidents)
    return out
