"""Fault simulation: four tablets of two Kono officers work offline and sync through lost
answers, duplicate sends, cut connections, a server restart and skewed clocks, then converge
with every op answered exactly once.

Each tablet talks to a server of the test's own (so that it can be restarted) through a
loopback proxy that cuts connections, and through a transport that loses or repeats requests.
A seeded schedule decides who works offline, who syncs, and which fault strikes.
"""

from __future__ import annotations

import itertools
import os
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from shapely.geometry import Point, shape
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.settings import Settings
from offline_sync.client import DeviceClient, RetryPolicy, TransportFailed
from offline_sync.protocol import OpKind, OpStatus
from offline_sync.server.tables import SyncConflict, SyncDevice, SyncOp
from tests.e2e.conftest import PASSWORD, Api, free_port, start_server
from tests.e2e.helpers import district_boundary, point, square, unique
from tests.sync.faults import (
    CuttingProxy,
    FaultyTransport,
    audit_actions,
    field_officers,
    ledger,
    replica_differences,
    replica_of,
    server_view,
)
from tests.sync.killable_server import server_errors

KONO = "SL-E-KO"
SEEDS = (3, 17, 2024)
STEPS = 45
FINAL = frozenset({OpStatus.applied, OpStatus.conflict, OpStatus.rejected})
# Each sync that has ops to push takes the next fault from a deck shuffled by the seed: first
# each of FAULTS once, so that every seed meets every fault, then any of them, or none.
FAULTS = ("lost", "twice", "mid-request", "before-answer")
LATER_FAULTS = (*FAULTS, "lost-pull", "none", "none")
SKEWS = (timedelta(0), timedelta(hours=-3), timedelta(0), timedelta(hours=7))
DRIFT = timedelta(minutes=5)  # the server's default threshold


class OwnServer:
    """`python -m backend serve` on one port and database, which the test may stop and start."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.env = {**os.environ, "DATABASE_URL": settings.database_url}
        self.port = free_port()
        self.logs = logs
        self.starts = 0
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._running: ExitStack | None = None
        self.tracebacks: list[str] = []

    def start(self) -> None:
        stack = ExitStack()
        log = self.logs / f"server-{self.starts}.log"
        self.base_url = stack.enter_context(start_server(self.env, self.port, log))
        self._running, self.starts = stack, self.starts + 1

    def stop(self) -> None:
        """Terminate the process. `start_server` then asserts that its log has no traceback;
        the failure is kept in `tracebacks`, one line per error, so that a restart goes on and
        the test's other checks still run."""
        if self._running is not None:
            running, self._running = self._running, None
            try:
                running.close()
            except AssertionError:
                log = self.logs / f"server-{self.starts - 1}.log"
                self.tracebacks.extend(server_errors(log.read_text()))


@dataclass
class Tablet:
    name: str
    username: str
    client: DeviceClient
    net: FaultyTransport
    skew: timedelta
    offline_until: int = 0


@dataclass
class Lab:
    """What the schedule made: the tablets, the records they made, and what struck them."""

    tablets: list[Tablet]
    proxy: CuttingProxy
    made: dict[uuid.UUID, str] = field(default_factory=dict)  # record id -> entity
    scripted: set[uuid.UUID] = field(default_factory=set)  # kept out of random edits
    refused_while_down: int = 0


@pytest.fixture
def own_server(settings: Settings, tmp_path: Path) -> Iterator[OwnServer]:
    server = OwnServer(settings, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kono_officers(api: Api) -> list[str]:
    """Two field officers who share Kono: their scopes overlap entirely."""
    return field_officers(api.engine, [unique("kono-a").lower(), unique("kono-b").lower()], KONO)


def kono_spot(rng: random.Random) -> tuple[float, float]:
    inner = district_boundary(KONO).buffer(-0.03)
    minx, miny, maxx, maxy = inner.bounds
    while True:
        lon, lat = round(rng.uniform(minx, maxx), 5), round(rng.uniform(miny, maxy), 5)
        if inner.contains(Point(lon, lat)):
            return lon, lat


def kono_square(rng: random.Random) -> dict[str, Any]:
    geometry = square(*kono_spot(rng), size_deg=0.001)
    assert district_boundary(KONO).contains(shape(geometry))
    return geometry


def miner_fields(rng: random.Random) -> dict[str, Any]:
    return {
        "full_name": unique("Miner"),
        "national_id": unique("NID"),
        "phone": phone(rng),
        "district": KONO,
    }


def new_id(rng: random.Random) -> uuid.UUID:
    """A record id drawn from the seed, so that a seed replays the same schedule: the tablets
    choose what to edit among records ordered by id."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def phone(rng: random.Random) -> str:
    return f"+232 76 {rng.randrange(10**6):06d}"


# --- the schedule --------------------------------------------------------------------------------


def local_change(t: Tablet, lab: Lab, rng: random.Random) -> None:
    """One change made on the tablet, offline: a create, an edit, a delete or a bad edit."""
    device = t.client
    known = [
        r for r in device.records() if r.record_id in lab.made and r.record_id not in lab.scripted
    ]
    miners = [r for r in known if r.entity == "miner"]
    sites = [r for r in known if r.entity == "site"]
    visits = [r for r in known if r.entity == "site_visit"]
    roll = rng.random()
    if roll < 0.22 or not miners:
        lab.made[device.create("miner", miner_fields(rng), record_id=new_id(rng))] = "miner"
    elif roll < 0.32 or not sites:
        fields: dict[str, Any] = {
            "name": unique("site"),
            "district": KONO,
            "geometry": kono_square(rng),
        }
        lab.made[device.create("site", fields, record_id=new_id(rng))] = "site"
    elif roll < 0.42:
        site = rng.choice(sites)
        inside = shape(site.data["geometry"]).representative_point()
        fields = {
            "site_id": str(site.record_id),
            "visited_at": (t.client.clock() - timedelta(days=3)).isoformat(),  # even if skewed
            "diggers_counted": rng.randint(1, 80),
            "geometry": point(inside.x, inside.y),
        }
        lab.made[device.create("site_visit", fields, record_id=new_id(rng))] = "site_visit"
    elif roll < 0.47:
        device.update("miner", rng.choice(miners).record_id, {"phone": "not a phone"})
    elif roll < 0.50:
        device.delete("miner", rng.choice(miners).record_id)
    elif roll < 0.75:
        rid = rng.choice(miners).record_id
        edit = rng.choice(
            [
                {"phone": phone(rng)},
                {"status": rng.choice(["active", "inactive"])},
                {"national_id": unique("NID")},
                {"full_name": unique("Miner"), "phone": phone(rng)},
            ]
        )
        device.update("miner", rid, edit)
    elif roll < 0.9 or not visits:
        rid = rng.choice(sites).record_id
        edit = rng.choice(
            [{"notes": unique("note")}, {"status": "inactive"}, {"name": unique("s")}]
        )
        device.update("site", rid, edit)
    else:
        rid = rng.choice(visits).record_id
        device.update("site_visit", rid, {"diggers_counted": rng.randint(0, 90)})


def sync_through(t: Tablet, lab: Lab, fault: str) -> None:
    """Sync once with one fault aimed at it; an unreachable server just means later."""
    if fault in ("lost", "twice"):
        t.net.faults.append(fault)  # the first request of the sync is its push
    elif fault == "lost-pull":
        t.net.faults.extend(["pass", "lost"])  # the push passes, the pull's answer is lost
    elif fault in ("mid-request", "before-answer"):
        lab.proxy.cut("/sync/v1/push", fault)
    try:
        t.client.sync()
    except TransportFailed:
        pass
    finally:
        t.net.faults.clear()
        lab.proxy.disarm()


def run_schedule(lab: Lab, server: OwnServer, seed: int) -> None:
    rng = random.Random(seed)
    first, later = list(FAULTS), list(LATER_FAULTS)
    rng.shuffle(first)
    rng.shuffle(later)
    deck = itertools.chain(first, itertools.cycle(later))
    restart_at = rng.randrange(STEPS // 3, 2 * STEPS // 3)
    for step in range(STEPS):
        if step == restart_at:
            server.stop()
            # whoever tries now finds nobody home, and keeps their ops
            t = rng.choice(lab.tablets)
            local_change(t, lab, rng)
            before = t.client.status().ops
            with pytest.raises(TransportFailed):
                t.client.sync()
            assert sum(before.values()) == sum(t.client.status().ops.values())
            lab.refused_while_down = lab.proxy.refused
            server.start()
        t = rng.choice(lab.tablets)
        if step < t.offline_until or rng.random() < 0.5:
            for _ in range(rng.randint(1, 3)):
                local_change(t, lab, rng)
            if step < t.offline_until and rng.random() < 0.3:
                t.net.offline = True  # out of range: the tablet tries, fails, keeps its ops
                sync_through(t, lab, "none")
                t.net.offline = False
            continue
        if rng.random() < 0.25:
            t.offline_until = step + rng.randint(4, 12)  # syncs now, then off for a while
        has_ops = bool(t.client.status().unanswered)
        fault = next(deck) if has_ops else rng.choice(["none", "lost", "twice"])
        sync_through(t, lab, fault)


def heal(lab: Lab) -> None:
    """Everyone back in range, no faults: sync until every outbox is settled and quiet."""
    for t in lab.tablets:
        t.net.offline = False
        t.net.faults.clear()
    lab.proxy.disarm()
    for _ in range(4):
        pushed = [t.client.sync().push.results for t in lab.tablets]
        if not any(pushed):
            return
    raise AssertionError("the tablets did not settle after four rounds of sync")


# --- the test ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_tablets_under_faults_converge_and_every_op_has_exactly_one_outcome(
    seed: int, api: Api, own_server: OwnServer, kono_officers: list[str], tmp_path: Path
) -> None:
    rng = random.Random(seed)
    tablets: list[Tablet] = []
    with ExitStack() as stack, CuttingProxy(own_server.port) as proxy:
        for i, skew in enumerate(SKEWS):
            net = FaultyTransport()
            client = stack.enter_context(
                DeviceClient.open(
                    tmp_path / f"tablet-{i}.sqlite",
                    transport=net,
                    retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05),
                    rng=random.Random(seed * 10 + i),
                    clock=skewed_clock(skew),
                )
            )
            username = kono_officers[i // 2]  # tablets 0, 1: officer a; 2, 3: officer b
            client.enrol(proxy.base_url, username, PASSWORD, name=f"tablet {i}")
            client.pull()
            tablets.append(Tablet(f"tablet {i}", username, client, net, skew))
        lab = Lab(tablets, proxy)

        # Concurrent edits of one record: two officers edit a miner's phone (the same field)
        # and different fields of the miner and of a site, both offline; the seed decides who
        # comes back first.
        first, second = tablets[0], tablets[2]
        miner = first.client.create("miner", miner_fields(rng))
        site = first.client.create(
            "site", {"name": unique("site"), "district": KONO, "geometry": kono_square(rng)}
        )
        lab.made.update({miner: "miner", site: "site"})
        lab.scripted.update({miner, site})
        first.client.sync()
        second.client.sync()
        first.client.update("miner", miner, {"phone": phone(rng)})
        first.client.update("site", site, {"notes": "seen from the north bank"})
        second.client.update("miner", miner, {"phone": phone(rng), "status": "inactive"})
        second.client.update("site", site, {"name": "Koidu east pit"})
        first.offline_until = rng.randint(2, STEPS // 2)
        second.offline_until = rng.randint(2, STEPS // 2)

        run_schedule(lab, own_server, seed)
        heal(lab)

        assert own_server.starts == 2 and lab.refused_while_down > 0
        struck = {f for _, f in proxy.struck} | {f for t in tablets for _, f in t.net.injected}
        assert struck >= set(FAULTS), struck

        # (a) every tablet holds exactly the server's view of its scope
        views = {
            name: server_view(own_server.base_url, name, PASSWORD, tmp_path / f"view-{name}")
            for name in kono_officers
        }
        for t in tablets:
            assert replica_differences(replica_of(t.client), views[t.username]) == [], t.name
        check_rest_view(own_server.base_url, api.tokens["ministry"], views[kono_officers[0]], lab)

        # (b) every op the tablets made has exactly one final outcome on the server
        entries = {e.op.op_id: (t, e) for t in tablets for e in t.client.results()}
        rows = ledger(api.engine, entries)
        assert {op_id: len(r) for op_id, r in rows.items() if len(r) != 1} == {}
        for op_id, (t, entry) in entries.items():
            [row] = rows[op_id]
            assert OpStatus(row.status) in FINAL, (t.name, entry.op, row.result)
            assert entry.state == "settled" and entry.outcome == OpStatus(row.status)
        device_ids = [t.client.device_id for t in tablets]
        with Session(api.engine) as session:
            on_server = session.scalars(
                select(col(SyncOp.op_id)).where(col(SyncOp.device_id).in_(device_ids))
            ).all()
        assert sorted(map(str, on_server)) == sorted(map(str, entries))  # nothing unasked-for
        check_applied_once(api, rows, views[kono_officers[0]], lab)

        # (c) each same-field conflict keeps both values
        check_conflicts(api, rows)
        check_scripted_edits(api, rows, views[kono_officers[0]], first, second, miner, site)
        check_clocks(api, tablets, rows)

        outcomes = Counter(row.status for [row] in rows.values())
        replays = sum(
            1 for _, e in entries.values() if e.result and e.result.status is OpStatus.duplicate
        )
        print(
            f"\nseed {seed}: {len(entries)} ops {dict(outcomes)}, {replays} answered duplicate; "
            f"faults {dict(Counter(f for _, f in proxy.struck))} at the proxy, "
            f"{dict(Counter(f for t in tablets for _, f in t.net.injected))} in transports; "
            f"{lab.refused_while_down} connections refused while the server was down"
        )

    own_server.stop()
    assert own_server.tracebacks == []  # a cut connection is no server error


def skewed_clock(skew: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + skew


# --- the checks ----------------------------------------------------------------------------------

REST_PATHS = {"miner": "miners", "site": "sites", "site_visit": "site-visits"}


def check_rest_view(base_url: str, token: str, view: dict[Any, Any], lab: Lab) -> None:
    """The records the tablets made, as the REST API shows them, are what the tablets hold."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as rest:
        for rid, entity in lab.made.items():
            held = view.get((entity, rid))
            if held is None or held[1]:
                continue  # never created (rejected), or deleted
            r = rest.get(f"/api/v1/{REST_PATHS[entity]}/{rid}")
            assert r.status_code == 200, r.text
            body = r.json()
            if body.get("type") == "Feature":
                body = {"id": body["id"], **body["properties"], "geometry": body["geometry"]}
            assert held[2] == body, (entity, rid)


def bumps(row: SyncOp) -> bool:
    """Did this op make a new version? An applied op did; a conflict did if it merged fields."""
    return row.status == "applied" or (row.status == "conflict" and bool(row.result["merged"]))


def check_applied_once(
    api: Api, rows: dict[uuid.UUID, list[SyncOp]], view: dict[Any, Any], lab: Lab
) -> None:
    """A record exists iff its create applied, was audited as created once, and its versions
    1..n are exactly the versions its applied ops made: no op applied twice, none lost."""
    by_record: dict[tuple[str, uuid.UUID], list[SyncOp]] = {}
    for [row] in rows.values():
        by_record.setdefault((row.entity, row.record_id), []).append(row)
    for entity in ("miner", "site", "site_visit"):
        ids = [rid for (e, rid) in by_record if e == entity]
        audits = audit_actions(api.engine, entity, ids)
        for rid in ids:
            ops = by_record[(entity, rid)]
            creates = [r for r in ops if r.kind == OpKind.create.value and r.status == "applied"]
            assert len(creates) == 1 and audits[str(rid)]["create"] == 1, (entity, rid)
            versions = sorted(int(r.result["version"]) for r in ops if bumps(r))
            held = view[(entity, rid)]
            assert versions == list(range(1, int(held[0]) + 1)), (entity, rid, versions, held)
            assert sum(audits[str(rid)].values()) == held[0]  # one audit entry per version
    assert {rid for _, rid in by_record} == set(lab.made)


def check_conflicts(api: Api, rows: dict[uuid.UUID, list[SyncOp]]) -> None:
    """The device's value is in the conflict record; the server's is what another wrote."""
    written: dict[tuple[uuid.UUID, str], set[tuple[uuid.UUID, str]]] = {}
    for [row] in rows.values():
        if bumps(row):
            for f, v in row.fields.items():
                written.setdefault((row.record_id, f), set()).add((row.device_id, repr(v)))
    with Session(api.engine) as session:
        for [row] in rows.values():
            if row.status != "conflict":
                continue
            conflict = session.get(SyncConflict, uuid.UUID(row.result["conflict_id"]))
            assert conflict is not None and conflict.op_id == row.op_id
            for f, both in conflict.fields.items():
                if f == "_deleted":
                    assert row.kind == "delete" and both == {"server": False, "device": True}
                    continue
                assert both["device"] == row.fields[f]
                assert both["server"] != both["device"]
                others = {
                    v for d, v in written.get((row.record_id, f), set()) if d != row.device_id
                }
                assert repr(both["server"]) in others, (f, both, others)


def check_scripted_edits(
    api: Api,
    rows: dict[uuid.UUID, list[SyncOp]],
    view: dict[Any, Any],
    first: Tablet,
    second: Tablet,
    miner: uuid.UUID,
    site: uuid.UUID,
) -> None:
    """Same field: the later push is a conflict holding both phones; other fields merge."""
    [mine_a] = [
        r
        for [r] in rows.values()
        if r.record_id == miner and r.kind == "update" and r.device_id == first.client.device_id
    ]
    [mine_b] = [
        r
        for [r] in rows.values()
        if r.record_id == miner and r.kind == "update" and r.device_id == second.client.device_id
    ]
    early, late = sorted([mine_a, mine_b], key=lambda r: r.received_at)
    assert (early.status, late.status) == ("applied", "conflict")
    with Session(api.engine) as session:
        conflict = session.get(SyncConflict, uuid.UUID(late.result["conflict_id"]))
    assert conflict is not None
    assert conflict.fields == {
        "phone": {"server": early.fields["phone"], "device": late.fields["phone"]}
    }
    held = view[("miner", miner)][2]
    assert (held["phone"], held["status"]) == (early.fields["phone"], "inactive")
    held_site = view[("site", site)][2]
    assert (held_site["notes"], held_site["name"]) == ("seen from the north bank", "Koidu east pit")


def check_clocks(api: Api, tablets: list[Tablet], rows: dict[uuid.UUID, list[SyncOp]]) -> None:
    """A skewed tablet's ops keep its own time, the measured offset, and the drift flag."""
    with Session(api.engine) as session:
        for t in tablets:
            device = session.get(SyncDevice, t.client.device_id)
            assert device is not None
            assert device.clock_drift is (abs(t.skew) > DRIFT), t.name
            mine = [r for [r] in rows.values() if r.device_id == t.client.device_id]
            for row in mine:
                assert row.clock_offset_ms is not None
                offset = timedelta(milliseconds=row.clock_offset_ms)
                assert abs(offset + t.skew) < timedelta(seconds=60), (t.name, offset)
                assert abs(row.device_time - row.received_at - t.skew) < timedelta(minutes=5)


def test_push_cut_mid_body_changes_nothing_and_logs_no_traceback(
    api: Api, own_server: OwnServer, kono_officers: list[str], tmp_path: Path
) -> None:
    """A tablet losing its network halfway through sending a push is routine, not a server
    error: nothing is applied, the resend is the op's first arrival, and the log stays clean."""
    with (
        CuttingProxy(own_server.port) as proxy,
        DeviceClient.open(tmp_path / "tablet.sqlite", retry=RetryPolicy(attempts=1)) as tablet,
    ):
        tablet.enrol(proxy.base_url, kono_officers[0], PASSWORD, name="tablet")
        tablet.create("miner", miner_fields(random.Random(1)))
        [op] = [e.op for e in tablet.results()]
        proxy.cut("/sync/v1/push", "mid-request")
        with pytest.raises(TransportFailed):
            tablet.push()
        assert proxy.struck == [("/sync/v1/push", "mid-request")]
        assert ledger(api.engine, [op.op_id]) == {op.op_id: []}
        [result] = tablet.push().results
        assert result.status is OpStatus.applied  # not a duplicate: the cut push never landed
    own_server.stop()
    assert own_server.tracebacks == []  # a cut connection is no server error


def test_replay_racing_the_unanswered_original_push_gets_its_real_outcome(
    api: Api, own_server: OwnServer, kono_officers: list[str], tmp_path: Path
) -> None:
    """A tablet that stops waiting for a slow push sends it again at once, while the server is
    still applying the first: the answer to the replay must be what really happened."""
    rng = random.Random(5)
    net = FaultyTransport()
    retry = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
    with DeviceClient.open(tmp_path / "tablet.sqlite", transport=net, retry=retry) as tablet:
        tablet.enrol(own_server.base_url, kono_officers[0], PASSWORD, name="tablet")
        miners = [tablet.create("miner", miner_fields(rng)) for _ in range(300)]
        tablet.push()
        for rid in miners:
            tablet.update("miner", rid, {"phone": phone(rng)})
        net.patience = 0.3  # 300 updates take the server a second or more
        net.faults.append("impatient")
        tablet.push()
        net.settle()
        entries = {e.op.op_id: e for e in tablet.results()}
    assert net.injected == [("/sync/v1/push", "impatient")]
    rows = ledger(api.engine, entries)
    told = {
        str(op_id): (e.result.code if e.result else None, str(e.outcome), rows[op_id][0].status)
        for op_id, e in entries.items()
        if [r.status for r in rows[op_id]] != [str(e.outcome)]
    }
    assert told == {}  # op id: (code, what the tablet was told, what the server did)
    own_server.stop()
    assert own_server.tracebacks == []
