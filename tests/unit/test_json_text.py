"""`backend.db.json_text`, the JSON columns' encoder: compact orjson text; the stdlib's answer
where orjson has none; encoded text kept as it is; times as RFC 3339 UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter

from backend.api.jsonio import dumps, jsonable
from backend.db import json_text
from offline_sync.server.sqltypes import JSONText


def test_values_are_encoded_compactly_and_read_back_equal() -> None:
    value = {"a": [1, 2.5, None, True], "text": "Kɔnɔ\t\\N", "nested": {"b": "✓"}}
    text = json_text(value)
    assert json.loads(text) == value
    assert ", " not in text and ": " not in text


def test_what_orjson_cannot_encode_goes_to_the_stdlib_encoder() -> None:
    assert json.loads(json_text({"big": 2**70})) == {"big": 2**70}
    assert json.loads(json_text({1: "one"})) == {"1": "one"}


def test_what_is_not_json_is_refused() -> None:
    with pytest.raises(TypeError):
        json_text({"set": {1, 2}})


def test_encoded_text_is_stored_as_it_is() -> None:
    assert json_text(JSONText('{"x": 1}')) == '{"x": 1}'


def test_jsonable_keeps_integers_past_64_bits_exact() -> None:
    assert jsonable({"big": 2**70, "top": 2**64 - 1}) == {"big": 2**70, "top": 2**64 - 1}


def test_times_of_every_kind_are_written_as_utc_with_z() -> None:
    parsed = TypeAdapter(datetime).validate_python("2026-11-24T10:00:00.5+01:00")  # pydantic's tz
    times = [
        datetime(2026, 11, 24, 9, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 24, 9, 0, 0, 500000, tzinfo=UTC),
        datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone(timedelta(hours=1))),
        datetime(2026, 11, 24, 9, 0, 0),  # naive: UTC, as the databases hand it back
        parsed,
    ]
    assert json.loads(dumps(times)) == [
        "2026-11-24T09:00:00Z",
        "2026-11-24T09:00:00.500000Z",
        "2026-11-24T09:00:00Z",
        "2026-11-24T09:00:00Z",
        "2026-11-24T09:00:00.500000Z",
    ]
