"""Evidence over a small synthetic economy, on both databases: the clean parcels pass, and
each planted fraud fails the check that names it (and no other check fails a clean parcel).

The economy is built once per database through the use cases (backend/evidence/scenarios.py)
inside one outer transaction, rolled back at the end like every database test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.evidence import reports
from backend.evidence.models import EvidenceReport
from backend.evidence.scenarios import CAUGHT_BY, CLEAN, FRAUDS, Config, Economy, Outcome
from backend.evidence.service import compute_report, report_digest
from backend.registry.models import SiteVisit
from backend.settings import Settings
from tests.conftest import rolled_back

SMALL = Config(
    seed=11,
    history_parcels=1,
    history_purchases=14,
    clean_parcels=1,
    frauds_each=1,
    sites_per_region=2,
    miners_per_site=1,
    buyers=2,
    lots_per_parcel=1,
    purchases_per_lot=2,
    value_parcels=False,
    rate=Decimal("0.0050"),
    regions=("SL-E",),
)


@pytest.fixture(scope="module")
def economy(engine: Engine, settings: Settings) -> Iterator[tuple[Session, Economy, Outcome]]:
    small = replace(settings, footprint_min_stones=12)
    with rolled_back(engine) as session:
        built = Economy(session, small, SMALL)
        yield session, built, built.run()


def _failing(report: EvidenceReport) -> set[str]:
    return {c["id"] for c in report.checks if c["verdict"] == "fail"}


def test_clean_parcels_pass_every_check_that_can_block(
    economy: tuple[Session, Economy, Outcome],
) -> None:
    _, _, outcome = economy
    clean = [p for p in outcome.parcels if p.truth == CLEAN]
    assert len(clean) == SMALL.history_parcels + SMALL.clean_parcels
    for parcel in clean:
        report = outcome.reports[parcel.lot_id]
        assert report.verdict != "fail", report.checks
        ids = [c["id"] for c in report.checks]
        assert ids == [
            "licences",
            "sites",
            "purchase_points",
            "custody",
            "production",
            "footprint",
            "origin",
            "incidents",
        ]


@pytest.mark.parametrize("fraud", FRAUDS)
def test_each_planted_fraud_fails_the_check_that_names_it(
    economy: tuple[Session, Economy, Outcome], fraud: str
) -> None:
    _, _, outcome = economy
    (parcel,) = [p for p in outcome.parcels if p.truth == fraud]
    report = outcome.reports[parcel.lot_id]
    assert report.verdict == "fail", report.checks
    failing = _failing(report)
    assert CAUGHT_BY[fraud] in failing, report.checks
    check = next(c for c in report.checks if c["id"] == CAUGHT_BY[fraud])
    assert check["records"], "a failing check names the records it is about"
    assert check["sentence"].endswith(".")


def test_report_digest_is_reproducible_and_stale_after_a_change(
    economy: tuple[Session, Economy, Outcome],
) -> None:
    session, built, outcome = economy
    parcel = next(p for p in outcome.parcels if p.truth == CLEAN)
    report = reports.latest_report(session, parcel.lot_id)
    assert report is not None
    assert report.digest == report_digest(
        report.lot_id, report.checks, report.data_version, report.computed_at
    )
    assert reports.is_current(session, report)
    # a field officer's new visit changes what production plausibility reads
    ref = built.sites[sorted(built.sites)[0]][0]
    built._visit(ref, 90, built.clock - timedelta(days=1))
    assert not reports.is_current(session, report)
    again = compute_report(
        session=session, principal=built.office, lot_id=parcel.lot_id, settings=built.settings
    )
    assert again.id != report.id and again.digest != report.digest
    assert reports.latest_report(session, parcel.lot_id) == again
    assert reports.is_current(session, again)


def test_a_site_without_visits_warns_rather_than_passes(
    economy: tuple[Session, Economy, Outcome],
) -> None:
    session, built, outcome = economy
    parcel = next(p for p in outcome.parcels if p.truth == CLEAN)
    site_ids = [r.site.id for refs in built.sites.values() for r in refs]
    gone = update(SiteVisit).where(col(SiteVisit.site_id).in_(site_ids))
    session.execute(gone.values(deleted_at=built.clock))
    try:
        report = compute_report(
            session=session, principal=built.office, lot_id=parcel.lot_id, settings=built.settings
        )
    finally:
        session.execute(gone.values(deleted_at=None))
        session.commit()
    production = next(c for c in report.checks if c["id"] == "production")
    assert production["verdict"] == "warn"
    assert "no visit" in production["sentence"]
