"""The reference client's retry: backoff schedule, what is retried, what is not, and splitting."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import pytest

from offline_sync.client import (
    DeviceClient,
    DeviceRevoked,
    RetryPolicy,
    ServerRefused,
    TransportFailed,
)
from offline_sync.client.transport import Transport
from offline_sync.protocol import OpStatus
from tests.sync.conftest import FakeServer, miner

Open = Callable[..., DeviceClient]


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() -> None:
    policy = RetryPolicy(attempts=8, base_delay=0.5, max_delay=4.0)
    rng = random.Random(7)
    for retry, cap in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        delays = [policy.delay(retry, rng) for _ in range(200)]
        assert all(cap / 2 <= d <= cap for d in delays)
        assert max(delays) - min(delays) > cap / 4  # jittered, not in lockstep


def test_push_retries_transport_errors_and_5xx_with_the_same_ops(
    open_device: Open, fake: FakeServer, sleeps: list[float]
) -> None:
    device = open_device()  # attempts=4, base 1 s, max 8 s
    device.create("miner", miner())
    fake.faults = ["connect", "503", "500"]
    report = device.push()
    assert [r.status for r in report.results] == [OpStatus.applied]
    assert len(sleeps) == 3
    for delay, cap in zip(sleeps, [1.0, 2.0, 4.0], strict=True):
        assert cap / 2 <= delay <= cap
    bodies = [r.content for r in fake.requests if r.url.path == "/sync/v1/push"]
    assert len(bodies) == 4 and len(set(bodies)) == 1  # byte for byte the same request


def test_lost_answer_is_retried_and_answered_duplicate_not_applied_twice(
    open_device: Open, fake: FakeServer
) -> None:
    device = open_device()
    rid = device.create("miner", miner())
    fake.faults = ["lost"]
    report = device.push()
    assert report.results[0].status is OpStatus.duplicate
    assert report.results[0].first_status is OpStatus.applied
    assert len(fake.applied) == 1
    assert device.results()[0].outcome is OpStatus.applied
    record = device.get("miner", rid)
    assert record is not None and record.version == 1


def test_giving_up_keeps_the_ops_for_the_next_push(
    open_device: Open, fake: FakeServer, sleeps: list[float]
) -> None:
    device = open_device()
    device.create("miner", miner())
    fake.faults = ["connect"] * 4
    with pytest.raises(TransportFailed):
        device.push()
    assert len(sleeps) == 3
    entry = device.results()[0]
    assert entry.state == "sent" and entry.result is None
    report = device.push()  # the network is back
    assert [r.status for r in report.results] == [OpStatus.applied]


def test_retry_after_is_honoured_but_capped(fake: FakeServer) -> None:
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "3"}),
            httpx.Response(429, headers={"Retry-After": "600"}),
            httpx.Response(200, json={}),
        ]
    )
    slept: list[float] = []
    http = Transport(
        base_url="http://sync.test",
        retry=RetryPolicy(attempts=3, base_delay=0.1, max_delay=10.0),
        sleep=slept.append,
        transport=httpx.MockTransport(lambda request: next(answers)),
    )
    assert http.request("GET", "/x").status_code == 200
    assert slept[0] == 3.0 and slept[1] == 10.0


def test_client_errors_are_not_retried(open_device: Open, fake: FakeServer) -> None:
    device = open_device()
    fake.faults = ["403"]
    device.create("miner", miner())
    with pytest.raises(DeviceRevoked) as revoked:
        device.push()
    assert revoked.value.status == 403
    assert len([r for r in fake.requests if r.url.path == "/sync/v1/push"]) == 1
    # the server keeps them in quarantine; the device keeps them too, never drops them
    assert [e.state for e in device.results()] == ["sent"]


def test_too_big_a_batch_is_split_and_the_same_ops_sent_in_order(
    open_device: Open, fake: FakeServer
) -> None:
    device = open_device(batch_size=8)
    for n in range(8):
        device.create("miner", miner(full_name=f"M{n}"))
    fake.max_ops = 3
    report = device.push()
    assert len(report.results) == 8 and all(r.status is OpStatus.applied for r in report.results)
    assert [[op.seq for op in p.ops] for p in fake.pushes] == [[1, 2], [3, 4], [5, 6], [7, 8]]


def test_a_single_op_too_big_is_reported(open_device: Open, fake: FakeServer) -> None:
    device = open_device()
    device.create("miner", miner())
    fake.faults = ["413"]
    with pytest.raises(ServerRefused) as refused:
        device.push()
    assert refused.value.status == 413


def test_pull_retries_and_resumes(open_device: Open, fake: FakeServer, sleeps: list[float]) -> None:
    for n in range(4):
        fake.server_create("site", name=f"s{n}")
    device = open_device(pull_limit=2)
    fake.faults = ["connect", None, "lost"]  # type: ignore[list-item]
    report = device.pull()
    assert report.changes == 4 and len(device.records("site")) == 4
    assert len(sleeps) == 2


def test_clock_offset_and_drift_are_kept(open_device: Open, fake: FakeServer) -> None:
    device = open_device()
    device.create("miner", miner())
    fake.clock_offset_ms = -3_600_000  # the tablet is an hour fast
    report = device.push()
    assert report.clock_drift and report.clock_offset_ms == -3_600_000
    status = device.status()
    assert status.clock_drift and status.clock_offset_ms == -3_600_000
