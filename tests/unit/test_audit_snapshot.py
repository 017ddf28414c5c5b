"""The audit stores a row's snapshot as it is, and makes anything else plain JSON first."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from backend.audit.service import Snapshot, _plain, snapshot, stored_snapshot
from backend.registry.models import Miner


def test_a_snapshot_is_plain_json_and_stored_as_it_is() -> None:
    row = Miner(id=uuid.uuid4(), full_name="A", district_code="SL-E-KO", status="active")
    taken = snapshot(row)
    assert isinstance(taken, Snapshot) and taken["id"] == str(row.id)
    assert _plain(taken) is taken


def test_a_snapshot_merged_with_other_values_is_made_plain_again() -> None:
    row = Miner(id=uuid.uuid4(), full_name="A", district_code="SL-E-KO", status="active")
    merged = snapshot(row) | {"carats": Decimal("1.250"), "lots": [uuid.UUID(int=1)]}
    stored = _plain(merged)
    assert stored is not merged
    assert stored["carats"] == "1.250" and stored["lots"] == [str(uuid.UUID(int=1))]


def test_a_stored_snapshot_is_the_snapshot_encoded_once_and_stored_as_it_is() -> None:
    row = Miner(id=uuid.uuid4(), full_name="Kɔnɔ", district_code="SL-E-KO", status="active")
    stored = stored_snapshot(row)
    assert json.loads(stored) == snapshot(row)
    assert _plain(stored) is stored
