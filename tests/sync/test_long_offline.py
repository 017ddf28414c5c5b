"""Long offline: one Kono tablet works 30 days without a network (5,000 ops on miners, sites and
site visits), then syncs in one session that the tablet dies in twice, once mid-push and once
mid-pull, and resumes each time from its file."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box, shape

from offline_sync.client import DeviceClient, RetryPolicy
from offline_sync.protocol import OpKind, OpStatus
from tests.e2e.conftest import PASSWORD, Api
from tests.e2e.helpers import district_boundary, point, square, unique
from tests.sync.faults import (
    DeviceDied,
    FaultyTransport,
    audit_actions,
    ledger,
    replica_differences,
    replica_of,
    server_view,
)

KONO = "SL-E-KO"
OPS = 5000
DAYS = 30
BATCH = 500  # the reference client's default: 10 pushes
PULL_LIMIT = 500
# Sites go in a corner of Kono, away from Koidu where other tests map theirs, so that their
# free-spot search (which avoids existing sites) seldom lands here.
SITE_BOX = (-10.80, 8.72, -10.68, 8.84)
GRID = 0.004
SITE_SIZE = 0.001
RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


@dataclass
class SimClock:
    """The tablet's clock: simulated days while offline, the real time once back in range."""

    now: datetime | None = None

    def __call__(self) -> datetime:
        return self.now if self.now is not None else datetime.now(UTC)


@dataclass
class Work:
    """What the tablet did offline, by record: the creates and the number of updates."""

    created: dict[str, list[uuid.UUID]] = field(
        default_factory=lambda: {"miner": [], "site": [], "site_visit": []}
    )
    updates: dict[uuid.UUID, int] = field(default_factory=dict)
    corners: dict[uuid.UUID, tuple[float, float]] = field(default_factory=dict)  # of sites

    def of(self, entity: str) -> list[uuid.UUID]:
        return self.created[entity]


def site_spots(rng: random.Random) -> list[tuple[float, float]]:
    """South-west corners of small squares on a grid, each square inside Kono's boundary."""
    kono = district_boundary(KONO)
    minx, miny, maxx, maxy = SITE_BOX
    assert kono.contains(box(*SITE_BOX)), "the site box lies inside Kono"
    spots = [
        (round(minx + i * GRID, 5), round(miny + j * GRID, 5))
        for i in range(int((maxx - minx) / GRID))
        for j in range(int((maxy - miny) / GRID))
    ]
    rng.shuffle(spots)
    return [s for s in spots if kono.contains(shape(square(*s, size_deg=SITE_SIZE)))]


def work_offline(device: DeviceClient, clock: SimClock, rng: random.Random) -> Work:
    """OPS changes over DAYS days: creates and edits of miners, sites and visits to them."""
    work = Work()
    spots = site_spots(rng)
    start = datetime.now(UTC) - timedelta(days=DAYS)
    step = timedelta(days=DAYS) / OPS
    for n in range(OPS):
        clock.now = start + n * step
        roll = rng.random()
        if roll < 0.25 or not work.of("miner"):
            entity, fields = "miner", new_miner(rng)
        elif roll < 0.31 or not work.of("site"):
            corner = spots.pop()
            entity, fields = "site", new_site(corner)
        elif roll < 0.45:
            site = rng.choice(work.of("site"))
            entity, fields = "site_visit", new_visit(site, work.corners[site], clock(), rng)
        else:
            entity = rng.choices(["miner", "site", "site_visit"], weights=[5, 2, 3])[0]
            entity = entity if work.of(entity) else "miner"
            rid = rng.choice(work.of(entity))
            device.update(entity, rid, edit(entity, rng))
            work.updates[rid] = work.updates.get(rid, 0) + 1
            continue
        rid = device.create(entity, fields)
        work.created[entity].append(rid)
        if entity == "site":
            work.corners[rid] = corner
    return work


def new_miner(rng: random.Random) -> dict[str, Any]:
    return {
        "full_name": unique("Miner"),
        "national_id": unique("NID"),
        "phone": f"+232 76 {rng.randrange(10**6):06d}",
        "district": KONO,
    }


def new_site(corner: tuple[float, float]) -> dict[str, Any]:
    return {"name": unique("site"), "district": KONO, "geometry": square(*corner, SITE_SIZE)}


def new_visit(
    site: uuid.UUID, corner: tuple[float, float], now: datetime, rng: random.Random
) -> dict[str, Any]:
    lon, lat = corner
    return {
        "site_id": str(site),
        "visited_at": (now - timedelta(hours=rng.randint(1, 8))).isoformat(),  # in the past
        "diggers_counted": rng.randint(1, 200),
        "geometry": point(lon + SITE_SIZE / 2, lat + SITE_SIZE / 2),  # the square's centre
    }


def edit(entity: str, rng: random.Random) -> dict[str, Any]:
    if entity == "miner":
        return rng.choice(
            [
                {"phone": f"+232 77 {rng.randrange(10**6):06d}"},
                {"status": rng.choice(["active", "inactive"])},
                {"national_id": unique("NID")},
            ]
        )
    if entity == "site":
        return rng.choice(
            [{"notes": unique("note")}, {"status": rng.choice(["active", "suspended"])}]
        )
    return rng.choice([{"diggers_counted": rng.randint(0, 300)}, {"notes": unique("seen")}])


def test_thirty_days_offline_5000_ops_arrive_exactly_once_through_an_interrupted_sync(
    api: Api, tmp_path: Path
) -> None:
    rng = random.Random(30)
    path = tmp_path / "tablet.sqlite"
    username = api.users["officer"].username
    clock = SimClock()
    with DeviceClient.open(path, retry=RETRY, clock=clock) as tablet:
        tablet.enrol(api.base_url, username, PASSWORD, name="long-offline tablet")
        tablet.pull()  # the snapshot it leaves with
        cursor_before = tablet.store.get("cursor")
        device_id = tablet.device_id
        working = time.perf_counter()
        work = work_offline(tablet, clock, rng)
        working = time.perf_counter() - working
        assert tablet.status().ops == {"queued": OPS}
    clock.now = None  # back in range: the clock is right again
    started = time.perf_counter()

    # 1. Pushes 1-3 land; the answer to push 2 is lost (so it is sent again); the tablet dies
    #    after the server committed push 4 and before it read the answer.
    net = FaultyTransport(paths=("/sync/v1/push",))
    net.faults.extend(["pass", "lost", "pass", "pass", "crash"])
    with DeviceClient.open(path, transport=net, retry=RETRY, clock=clock, batch_size=BATCH) as t:
        with pytest.raises(DeviceDied):
            t.sync()
        assert t.status().ops == {"applied": 3 * BATCH, "sent": BATCH, "queued": OPS - 4 * BATCH}

    # 2. Reopened from its file: push 4 again (answered duplicate) and the rest; the tablet
    #    dies again while the third pull page is on its way.
    net = FaultyTransport(paths=("/sync/v1/pull",))
    net.faults.extend(["pass", "pass", "crash"])
    with DeviceClient.open(
        path, transport=net, retry=RETRY, clock=clock, batch_size=BATCH, pull_limit=PULL_LIMIT
    ) as t:
        with pytest.raises(DeviceDied):
            t.sync()
        assert t.status().ops == {"applied": OPS}
        resumed_from = t.store.get("cursor")
        assert resumed_from not in (None, cursor_before)  # two pages of changes were kept

    # 3. Reopened once more: nothing left to push; the pull resumes from the kept cursor.
    with DeviceClient.open(path, retry=RETRY, clock=clock, pull_limit=PULL_LIMIT) as t:
        report = t.sync()
        elapsed = time.perf_counter() - started
        assert report.push.results == []
        # from the kept cursor: fewer changes than the records made offline, let alone the scope
        assert report.pull.changes < sum(map(len, work.created.values()))
        entries = t.results()
        replica = replica_of(t)
    counts = {e: len(work.of(e)) for e in ("miner", "site", "site_visit")}
    print(
        f"\nlong offline: {OPS} ops over {DAYS} simulated days (creates {counts}, "
        f"{sum(work.updates.values())} updates), made locally in {working:.1f} s; "
        f"synced in {elapsed:.1f} s ({OPS / elapsed:.0f} ops/s) through two deaths; "
        f"the last session pulled {report.pull.changes} changes in {report.pull.pages} pages"
    )

    # Every op answered once, applied, and stored as such on the tablet; the replays of push 2
    # (its lost answer) and push 4 (the crash) are the only duplicates.
    assert len(entries) == OPS and {e.outcome for e in entries} == {OpStatus.applied}
    replayed = [e for e in entries if e.result and e.result.status is OpStatus.duplicate]
    assert [e.op.seq for e in replayed] == [
        *range(BATCH + 1, 2 * BATCH + 1),
        *range(3 * BATCH + 1, 4 * BATCH + 1),
    ]
    rows = ledger(api.engine, (e.op.op_id for e in entries))
    assert {op_id: len(r) for op_id, r in rows.items() if len(r) != 1} == {}
    assert {r.status for [r] in rows.values()} == {"applied"}
    assert {r.device_id for [r] in rows.values()} == {device_id}

    # Each record was created once, and each of its updates made exactly one version.
    view = server_view(api.base_url, username, PASSWORD, tmp_path / "view.sqlite")
    for entity in ("miner", "site", "site_visit"):
        ids = work.of(entity)
        audits = audit_actions(api.engine, entity, ids)
        for rid in ids:
            version, deleted, _ = view[(entity, rid)]
            assert not deleted and version == 1 + work.updates.get(rid, 0), (entity, rid)
            assert audits[str(rid)] == {
                "create": 1,
                **({"update": work.updates[rid]} if rid in work.updates else {}),
            }
    assert sum(1 for e in entries if e.op.kind is OpKind.create) == sum(
        map(len, work.created.values())
    )

    # The tablet holds exactly the server's view of its scope.
    assert replica_differences(replica, view) == []
