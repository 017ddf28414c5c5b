"""The one request-body reader: ceilings on inflation and numbers, and every value checked."""

from __future__ import annotations

import gzip
import math

import pytest

from backend.api.bodies import MAX_DEPTH, inflate, parse_json
from backend.errors import AppError, MalformedRequest, PayloadTooLarge, ValidationFailed

JSON = "application/json"


def pointers(error: AppError) -> list[str]:
    return [e.pointer for e in error.errors]


def test_gzip_within_the_ceiling_inflates_whole() -> None:
    data = b'{"a": "' + b"x" * 200_000 + b'"}'
    assert inflate(gzip.compress(data), len(data)) == data


def test_gzip_past_the_ceiling_is_a_413() -> None:
    with pytest.raises(PayloadTooLarge):
        inflate(gzip.compress(b"0" * 1_000_000), 999_999)


def test_gzip_json_with_too_many_commas_is_a_413_before_it_is_all_inflated() -> None:
    with pytest.raises(PayloadTooLarge, match="values"):
        inflate(gzip.compress(b"[" + b"1," * 1_000_000 + b"1]"), 10**9, max_commas=10_000)


def test_a_body_that_is_not_gzip_is_a_400() -> None:
    with pytest.raises(MalformedRequest):
        inflate(b"not gzip at all", 1000)


def test_numbers_past_the_budget_are_a_413_before_the_rest_is_parsed() -> None:
    body = b'{"coordinates": [' + b"[1.5, 2.5]," * 600 + b"[1.5, 2.5]]}"
    assert parse_json(body, JSON, numbers=5000)["coordinates"][0] == [1.5, 2.5]
    with pytest.raises(PayloadTooLarge):
        parse_json(body, JSON, numbers=1000)


def test_a_body_of_many_times_the_budget_in_commas_is_a_413_without_parsing() -> None:
    # not even JSON: the count alone refuses it
    with pytest.raises(PayloadTooLarge):
        parse_json(b"[" + b"1," * 3000, JSON, numbers=1000)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (b'{"a": {"b": "x\\u0000y"}}', "/a/b"),
        (b'{"a\\u0000": 1}', "/a\x00"),
        (b'{"n": ' + b"9" * 5000 + b"}", "/n"),
        (b'{"n": 9223372036854775808}', "/n"),
        (b'{"n": -9223372036854775809}', "/n"),
        (b'{"n": 1e30}', "/n"),
        (b'{"c": [' + b"1" * 400 + b", 2]}", "/c/0"),
        (b'{"c": [0.' + b"1" * 400 + b", 2]}", "/c/0"),
        (b'{"n": NaN}', "/n"),
        (b'{"n": -Infinity}', "/n"),
        (b'{"a/b~c": NaN}', "/a~1b~0c"),
    ],
)
def test_a_value_no_field_can_take_is_a_422_naming_it(body: bytes, pointer: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_json(body, JSON, numbers=1000)
    assert pointers(caught.value) == [pointer]


def test_the_64_bit_range_itself_is_accepted() -> None:
    body = b'{"hi": 9223372036854775807, "lo": -9223372036854775808, "f": 1.5e18}'
    assert parse_json(body, JSON, numbers=10) == {"hi": 2**63 - 1, "lo": -(2**63), "f": 1.5e18}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 900, 10_000])
def test_json_nested_past_the_limit_is_a_422(depth: int) -> None:
    with pytest.raises(ValidationFailed):
        parse_json(b"[" * depth + b"]" * depth, JSON, numbers=10)


def test_json_nested_to_the_limit_is_accepted() -> None:
    body = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(body, JSON, numbers=10) is not None


def test_items_answered_one_by_one_keep_nul_and_nan_for_their_handler() -> None:
    body = b'{"ops": [{"fields": {"name": "a\\u0000b", "x": NaN}}], "note": "ok"}'
    parsed = parse_json(body, JSON, numbers=10, per_item="/ops")
    fields = parsed["ops"][0]["fields"]
    assert fields["name"] == "a\x00b" and math.isnan(fields["x"])


def test_items_answered_one_by_one_still_refuse_numbers_past_the_range() -> None:
    body = b'{"ops": [{"seq": 9223372036854775808}]}'
    with pytest.raises(ValidationFailed) as caught:
        parse_json(body, JSON, numbers=10, per_item="/ops")
    assert pointers(caught.value) == ["/ops/0/seq"]


def test_nul_outside_the_items_is_refused_even_with_per_item() -> None:
    body = b'{"ops": [], "sent_at": "\\u0000"}'
    with pytest.raises(ValidationFailed) as caught:
        parse_json(body, JSON, numbers=10, per_item="/ops")
    assert pointers(caught.value) == ["/sent_at"]
