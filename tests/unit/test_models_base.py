"""`Record.unsaved` builds the row `cls(**values)` builds, without the ORM's attribute events."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from shapely.geometry import Point

from backend.audit.service import snapshot
from backend.registry.models import Miner, SiteVisit
from backend.spatial import to_db

VALUES = {
    "site_id": uuid.uuid4(),
    "district_code": "KONO",
    "visited_at": datetime(2026, 11, 3, 9, 0, tzinfo=UTC),
    "location": to_db(Point(-10.9, 8.6)),
    "diggers_counted": 12,
    "notes": "pit flooded",
    "officer_id": uuid.uuid4(),
    "distance_to_site_m": Decimal("41.5"),
}


def test_an_unsaved_row_holds_what_the_constructor_holds() -> None:
    made, unsaved = SiteVisit(**VALUES), SiteVisit.unsaved(**VALUES)
    fresh = {"id", "created_at", "updated_at"}  # each row's own id and time
    assert {k: v for k, v in snapshot(unsaved).items() if k not in fresh} == {
        k: v for k, v in snapshot(made).items() if k not in fresh
    }
    assert unsaved.id != made.id and unsaved.created_at.tzinfo is UTC
    assert unsaved.model_fields_set == made.model_fields_set == set(VALUES)
    assert unsaved.model_dump().keys() == made.model_dump().keys()


def test_an_unsaved_row_keeps_a_given_id_and_defaults_the_rest() -> None:
    given = uuid.uuid4()
    row = Miner.unsaved(id=given, full_name="Sahr Kamara", district_code="KONO")
    assert (row.id, row.version, row.phone) == (given, 1, None)


def test_an_unknown_field_or_a_missing_required_one_is_refused() -> None:
    with pytest.raises(TypeError, match="no field colour"):
        SiteVisit.unsaved(**VALUES, colour="red")
    with pytest.raises(TypeError, match="needs site_id"):
        SiteVisit.unsaved(**{k: v for k, v in VALUES.items() if k != "site_id"})


def test_an_unsaved_row_works_before_any_query_configured_the_mappers() -> None:
    code = (
        "import uuid\n"
        "from backend.registry.models import Miner\n"
        "row = Miner.unsaved(full_name='Sahr Kamara', district_code='KONO')\n"
        "assert row.full_name == 'Sahr Kamara' and row.version == 1\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
