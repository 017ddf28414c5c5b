"""`offline_sync.canonical.canonical_json` writes exactly the standard library's sorted compact
JSON, whatever the value: the ledger's content hashes of ops stored before it stay valid."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from offline_sync.canonical import canonical_json
from offline_sync.protocol import Op

# Characters where the two encoders could differ: controls, DEL, non-ASCII, quotes, backslash.
ALPHABET = 'ab Z09"\\/\t\n\x00\x01\x1f\x7f\x80é✓ɔ\u2028\ud7ff\U0001f48e{}[]:,'


def stdlib(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def random_float(rng: random.Random) -> float:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice([0.0, -0.0, float("nan"), float("inf"), float("-inf")])
    return rng.uniform(1, 10) * 10.0 ** rng.randint(-30, 30) * rng.choice([1, -1])


def random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 6)
    if kind == 0:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(6)))
    if kind == 1:
        return rng.choice([0, 1, -1, 2**63 - 1, -(2**63), 2**64, 2**70, rng.randrange(-99, 99)])
    if kind == 2:
        return random_float(rng)
    if kind == 3:
        return round(rng.uniform(-180, 180), rng.randrange(0, 9))
    if kind == 4:
        return rng.choice([True, False, None])
    if kind == 5:
        return "plain ascii text"
    if kind == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 4))): random_value(
            rng, depth + 1
        )
        for _ in range(rng.randrange(4))
    }


def test_canonical_json_is_the_standard_librarys_bytes_for_random_values() -> None:
    rng = random.Random(20261201)
    for _ in range(20000):
        value = random_value(rng)
        assert canonical_json(value) == stdlib(value), value


def test_floats_of_every_magnitude_are_written_as_the_standard_library_writes_them() -> None:
    rng = random.Random(5)
    for exponent in range(-320, 309):
        for _ in range(3):
            x = rng.uniform(1, 10) * 10.0**exponent
            assert canonical_json([x, -x]) == stdlib([x, -x])
            assert canonical_json({"in": (x, [-x])}) == stdlib({"in": (x, [-x])})


def test_an_ops_content_hash_is_the_sha256_of_the_standard_librarys_json() -> None:
    op = Op(
        op_id=uuid.uuid4(),
        seq=7,
        entity="site_visit",
        record_id=uuid.uuid4(),
        kind="create",
        fields={
            "notes": "Kɔnɔ river ✓\t\x7f",
            "geometry": {"type": "Point", "coordinates": [-10.912345, 8.6e-7]},
            "diggers_counted": 12,
        },
        device_time=datetime(2026, 11, 24, 10, tzinfo=UTC),
    )
    body = op.model_dump(mode="json", exclude={"op_id"})
    assert op.content_hash() == hashlib.sha256(stdlib(body)).hexdigest()
