"""Shared control predicates and footprint statistics, without a database."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from backend.controls.balance import carats_problem, stones_problem
from backend.controls.licences import (
    LicenceFacts,
    best_licence,
    best_ranked,
    licence_problem,
    local_date,
    ranked,
)
from backend.controls.points import point_problem
from backend.evidence.checks import SIZE_CLASS_ORDER
from backend.evidence.scenarios import STONE_LAW, size_class
from backend.registry.models import LicenceKind
from geodata.footprint import chi2_sf, g_test, mixture, pooled


def _licence(valid_to: date) -> LicenceFacts:
    return LicenceFacts(
        id=uuid.uuid4(),
        number="L-1",
        kind="artisanal_mining",
        status="active",
        valid_from=date(2026, 1, 1),
        valid_to=valid_to,
        fit_and_proper=None,
    )


def test_licence_validity_is_judged_on_the_countrys_local_date_not_utcs() -> None:
    late = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    lic = _licence(date(2026, 6, 30))
    # Freetown keeps GMT: the last day of the licence
    assert local_date(late, "Africa/Freetown") == date(2026, 6, 30)
    assert (
        licence_problem(lic, LicenceKind.artisanal_mining, local_date(late, "Africa/Freetown"))
        is None
    )
    # Kinshasa is an hour ahead: the same moment is already the next day there
    assert local_date(late, "Africa/Kinshasa") == date(2026, 7, 1)
    problem = licence_problem(
        lic, LicenceKind.artisanal_mining, local_date(late, "Africa/Kinshasa")
    )
    assert problem is not None and "not on 2026-07-01" in problem


def _one_sort_choice(
    candidates: list[LicenceFacts], kind: LicenceKind, on: date, prefer: uuid.UUID | None
) -> LicenceFacts | None:
    """The choice spelled as one sort per call: preferred first, then latest valid_to."""
    found = sorted(
        (c for c in candidates if c.kind == kind),
        key=lambda c: (c.id != prefer, -c.valid_to.toordinal()),
    )
    valid = [c for c in found if licence_problem(c, kind, on) is None]
    if valid:
        return valid[0]
    return max(found, key=lambda c: c.valid_to) if found else None


def test_a_holders_ranked_licences_give_the_same_choice_on_every_date_as_one_sort_per_call() -> (
    None
):
    rng = random.Random(7)
    kinds = [LicenceKind.artisanal_mining, LicenceKind.buyer, LicenceKind.exporter]
    for _ in range(400):
        candidates = [
            LicenceFacts(
                id=uuid.uuid4(),
                number=f"L-{i}",
                kind=rng.choice(kinds).value,
                status=rng.choice(["active", "active", "suspended", "revoked"]),
                valid_from=date(2026, rng.randint(1, 6), 1),
                valid_to=date(2026, rng.randint(6, 12), rng.choice([1, 15])),
                fit_and_proper=rng.choice([True, None, False]),
            )
            for i in range(rng.randint(0, 5))
        ]
        kind = rng.choice(kinds)
        book = ranked(candidates, kind)
        for on in (date(2026, m, 10) for m in range(1, 13)):
            for prefer in [None, uuid.uuid4(), *(c.id for c in candidates)]:
                expected = _one_sort_choice(candidates, kind, on, prefer)
                assert best_ranked(book, kind, on, prefer) is expected
                assert best_licence(candidates, kind, on, prefer) is expected


def test_purchase_point_problem_names_the_distance_and_tolerance_only_beyond_it() -> None:
    assert point_problem(499.9, "Koidu", 500.0) is None
    problem = point_problem(5012.0, "Koidu", 500.0)
    assert problem is not None and "5012 m" in problem and "500 m" in problem


@pytest.mark.parametrize(
    ("inputs", "outputs", "reason", "field"),
    [("1.000", "1.200", None, "outputs"), ("10.000", "9.000", None, "reason")],
)
def test_carats_problem_refuses_gains_and_unexplained_losses(
    inputs: str, outputs: str, reason: str | None, field: str
) -> None:
    from decimal import Decimal

    found = carats_problem(Decimal(inputs), Decimal(outputs), reason)
    assert found is not None and found[0] == field
    assert carats_problem(Decimal(inputs), Decimal(inputs), None) is None
    assert stones_problem(3, 4, False, None) is not None
    assert stones_problem(3, 4, True, "two stones cracked") is None


@pytest.mark.parametrize(
    ("x", "dof", "p"),
    [(3.841, 1, 0.05), (11.070, 5, 0.05), (20.515, 5, 0.001), (0.5, 3, 0.9189), (30.0, 2, 3.06e-7)],
)
def test_chi_square_survival_matches_published_tables(x: float, dof: int, p: float) -> None:
    assert math.isclose(chi2_sf(x, dof), p, rel_tol=2e-3)


def test_pooling_merges_neighbours_until_each_expects_five() -> None:
    obs, exp = pooled([1, 2, 30, 40, 1, 0], [1.0, 3.0, 30.0, 40.0, 2.0, 1.0])
    assert all(e >= 5 for e in exp) and sum(obs) == 74 and sum(exp) == 77.0


def _draw(rng: random.Random, law: str, n: int) -> Counter[str]:
    median, sigma = STONE_LAW[law]
    return Counter(
        size_class(max(0.005, rng.lognormvariate(math.log(median), sigma))) for _ in range(n)
    )


def test_g_test_passes_a_parcel_from_the_profile_and_fails_another_regions() -> None:
    rng = random.Random(3)
    profile = {k: float(v) for k, v in _draw(rng, "SL-E", 3000).items()}
    same = g_test(_draw(rng, "SL-E", 120), profile, SIZE_CLASS_ORDER, reference_stones=3000)
    other = g_test(_draw(rng, "SL-S", 120), profile, SIZE_CLASS_ORDER, reference_stones=3000)
    assert same.p_value > 0.001 and same.stones == 120
    assert other.p_value < 1e-6 and other.dof >= 2


def test_mixture_weights_each_profile_by_its_share() -> None:
    blend = mixture([({"a": 1.0}, 3.0), ({"b": 2.0, "c": 2.0}, 1.0)])
    assert blend == pytest.approx({"a": 0.75, "b": 0.125, "c": 0.125})


def test_a_country_time_zone_that_does_not_exist_stops_the_settings() -> None:
    from backend.settings import Settings

    with pytest.raises(ValueError, match="not a time zone"):
        Settings(country_timezone="Africa/Atlantis")
    assert Settings.from_env({"COUNTRY_TIMEZONE": "Africa/Accra"}).country_timezone == (
        "Africa/Accra"
    )
