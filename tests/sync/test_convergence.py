"""Randomized convergence: four Kono tablets of three officers edit shared miners, sites and
visits offline, through lost and repeated answers, cut connections, a server killed mid-push
and a graceful restart; a supervisor edits on the web and resolves conflicts. Afterwards every
op has exactly one final outcome, every value a record took is explained (`overwrites`), and
every replica equals the server.

Each seed is one schedule, replayed exactly by the same seed: a failure prints its seed, and
`CONVERGE_SEEDS=1234 ./dev test tests/sync/test_convergence.py` runs that one again (a
comma-separated list runs several). The default seeds keep each database to about a minute.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from shapely.geometry import Point, shape
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.audit.models import AuditEntry
from backend.settings import Settings
from offline_sync.client import DeviceClient, RetryPolicy, TransportFailed
from offline_sync.protocol import (
    Change,
    ChangeKind,
    ConflictResolution,
    OpKind,
    OpStatus,
    PullResponse,
)
from offline_sync.server.tables import SyncConflict, SyncOp
from tests.e2e.conftest import PASSWORD, Api
from tests.e2e.helpers import district_boundary, point, square, unique
from tests.sync.faults import (
    CuttingProxy,
    FaultyTransport,
    field_officers,
    ledger,
    replica_differences,
    replica_of,
    server_view,
)
from tests.sync.killable_server import KillableServer
from tests.sync.overwrites import (
    TRACKED,
    Evidence,
    Shown,
    check_conflicts,
    check_overwrites,
    check_shown,
    check_versions,
)

KONO = "SL-E-KO"
SCOPE = f"district:{KONO}"
SEEDS = tuple(
    int(s) for s in os.environ.get("CONVERGE_SEEDS", "101,202,303").split(",") if s.strip()
)
STEPS = 100
FINAL = frozenset({OpStatus.applied, OpStatus.conflict, OpStatus.rejected})
# Tablets 0 and 1 are one officer's; 2 and 3 two others'. Two clocks are off (one beyond the
# server's drift threshold), as tablets' clocks are.
OWNERS = (0, 0, 1, 2)
SKEWS = (timedelta(0), timedelta(minutes=-2), timedelta(0), timedelta(hours=5))
# Each sync that has ops to push draws its fault from a deck shuffled by the seed: every fault
# once first, so that each seed meets each of them, then at random.
FAULTS = ("lost", "twice", "mid-request", "before-answer", "gone-after-push", "kill-mid-push")
LATER_FAULTS = (*FAULTS[:5], "gone-after-push", "lost-pull", "none", "none")
RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
# A small pool of values, so that tablets often write the same field of the same record.
STATUSES = ("active", "inactive")


class Net(FaultyTransport):
    """FaultyTransport plus two faults of its own, aimed like the others:

    - ``"down"``: the connection is refused (the tablet went out of range);
    - ``"kill"``: the request goes to the server, and the server is killed (SIGKILL, every
      worker) a few milliseconds later, while it is applying the push or about to answer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.server: KillableServer | None = None
        self.kill_after = 0.0
        self.killer: threading.Thread | None = None
        self.kills: Counter[str] = Counter()  # did the push die, or was it answered first?

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.faults and request.url.path in self.paths and self.faults[0] in ("down", "kill"):
            fault = self.faults.popleft()
            self.injected.append((request.url.path, fault))
            if fault == "down":
                raise httpx.ConnectError("the tablet is out of range", request=request)
            assert self.server is not None
            timer = threading.Timer(self.kill_after, self.server.kill)
            timer.start()
            self.killer = timer
            try:
                response = super().handle_request(request)
                response.read()
            except httpx.TransportError:
                self.kills["push cut by the kill"] += 1
                raise
            self.kills["push answered before the kill"] += 1
            return response
        return super().handle_request(request)


@dataclass
class Tablet:
    name: str
    username: str
    client: DeviceClient
    net: Net
    offline_until: int = 0


@dataclass
class Lab:
    """The run: tablets, the server and proxy, and what the harness saw them do."""

    rng: random.Random
    tablets: list[Tablet]
    server: KillableServer
    proxy: CuttingProxy
    ministry: httpx.Client  # a supervisor on the web (REST, user token)
    supervisor: DeviceClient  # the same supervisor's sync device, to resolve conflicts
    made: dict[uuid.UUID, str] = field(default_factory=dict)  # record id -> entity
    shown: list[Shown] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)


# --- what a tablet does offline ------------------------------------------------------------------


def kono_spot(rng: random.Random) -> tuple[float, float]:
    inner = district_boundary(KONO).buffer(-0.03)
    minx, miny, maxx, maxy = inner.bounds
    while True:
        lon, lat = round(rng.uniform(minx, maxx), 5), round(rng.uniform(miny, maxy), 5)
        if inner.contains(Point(lon, lat)):
            return lon, lat


def new_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def phone(rng: random.Random) -> str:
    return f"+232 76 {rng.randrange(10**3):06d}"  # few values: equal writes happen too


def miner_fields(rng: random.Random) -> dict[str, Any]:
    return {
        "full_name": unique("Miner"),
        "national_id": unique("NID"),
        "phone": phone(rng),
        "district": KONO,
    }


def site_fields(rng: random.Random) -> dict[str, Any]:
    return {"name": unique("site"), "district": KONO, "geometry": square(*kono_spot(rng))}


def shared(t: Tablet, lab: Lab, entity: str) -> list[Any]:
    """The records of the run this tablet has (pulled, made, or handed to it), not deleted."""
    return [r for r in t.client.records(entity) if r.record_id in lab.made]


def pick(rng: random.Random, records: list[Any]) -> Any:
    """A record to edit: most often one of a few hot ones, so that tablets meet on them."""
    hot = sorted(records, key=lambda r: str(r.record_id))[:2]
    return rng.choice(hot if rng.random() < 0.7 else records)


def edit_of(entity: str, rng: random.Random) -> dict[str, Any]:
    if entity == "miner":
        return rng.choice(
            [
                {"phone": phone(rng)},
                {"phone": phone(rng)},
                {"status": rng.choice(STATUSES)},
                {"national_id": unique("NID")},
                {"full_name": unique("Miner"), "phone": phone(rng)},
            ]
        )
    if entity == "site":
        return rng.choice(
            [{"notes": unique("note")}, {"status": rng.choice(STATUSES)}, {"name": unique("s")}]
        )
    return rng.choice([{"diggers_counted": rng.randint(0, 9)}, {"notes": unique("seen")}])


def on_screen(t: Tablet, entity: str, rid: uuid.UUID, fields: Iterable[str]) -> dict[str, Any]:
    """What the tablet shows of these fields that is the server's record at its base version:
    every shown field but those its own ops set after that version (unanswered ones, shown on
    top, and ones merged into a later version, which a pull has not brought yet), and but those
    it never had (a create does not send what the server fills in, a miner's status)."""
    record = t.client.get(entity, rid)
    assert record is not None
    own = {
        f
        for e in t.client.results()
        if (e.op.entity, e.op.record_id) == (entity, rid)
        and (
            e.state != "settled"
            or (
                e.result is not None
                and e.result.merged
                and e.outcome is OpStatus.applied
                and (e.result.version or 0) > (record.version or 0)
            )
        )
        for f in (TRACKED[entity] if e.op.kind is OpKind.create else e.op.fields)
    }
    return {f: record.data[f] for f in fields if f in record.data and f not in own}


def edit(lab: Lab, t: Tablet, entity: str, rid: uuid.UUID, fields: dict[str, Any]) -> None:
    shown = on_screen(t, entity, rid, (f for f in fields if f in TRACKED[entity]))
    op = t.client.update(entity, rid, fields)
    assert t.client.device_id is not None
    lab.shown.append(Shown(t.client.device_id, op.op_id, shown))
    lab.events[f"update {entity}"] += 1


def local_change(t: Tablet, lab: Lab) -> None:
    """One change made on the tablet, offline."""
    rng, device = lab.rng, t.client
    miners, sites, visits = (shared(t, lab, e) for e in ("miner", "site", "site_visit"))
    few = len(miners) < 4  # new records early on; later mostly edits of the same ones
    bands = itertools.accumulate(
        [0.12 if few else 0.05, 0.02, 0.09 if few else 0.03, 0.06, 0.02, 0.03, 0.38, 0.16]
    )
    new_miner, bad_miner, new_site, new_visit, bad_edit, gone, miner_edit, site_edit = bands
    roll = rng.random()
    if roll < new_miner or not miners:
        rid = device.create("miner", miner_fields(rng), record_id=new_id(rng))
        lab.made[rid] = "miner"
        lab.events["create miner"] += 1
        if rng.random() < 0.35:
            hand_over(lab, t, "miner", rid)
    elif roll < bad_miner:
        # a bad create; the tablet's later edits of it wait on the server until it is corrected
        rid = device.create(
            "miner", {**miner_fields(rng), "phone": "no phone"}, record_id=new_id(rng)
        )
        lab.made[rid] = "miner"
        lab.events["bad create"] += 1
    elif roll < new_site or not sites:
        rid = device.create("site", site_fields(rng), record_id=new_id(rng))
        lab.made[rid] = "site"
        lab.events["create site"] += 1
        if rng.random() < 0.35:
            hand_over(lab, t, "site", rid)
    elif roll < new_visit:
        site = rng.choice(sites)
        inside = shape(site.data["geometry"]).representative_point()
        fields = {
            "site_id": str(site.record_id),
            "visited_at": (device.clock() - timedelta(days=1)).isoformat(),
            "diggers_counted": rng.randint(1, 9),
            "geometry": point(inside.x, inside.y),
        }
        lab.made[device.create("site_visit", fields, record_id=new_id(rng))] = "site_visit"
        lab.events["create visit"] += 1
    elif roll < bad_edit:
        edit(lab, t, "miner", rng.choice(miners).record_id, {"phone": "not a phone"})
    elif roll < gone:
        # miners and visits are deleted at times; sites are not, as a visit logged offline to
        # a deleted site could never be placed, and its later edits would wait for ever
        entity, record = rng.choice(
            [("miner", r) for r in miners] + [("site_visit", r) for r in visits]
        )
        before = on_screen(t, entity, record.record_id, TRACKED[entity])
        op = device.delete(entity, record.record_id)
        assert device.device_id is not None
        lab.shown.append(Shown(device.device_id, op.op_id, before))
        lab.events[f"delete {entity}"] += 1
    elif roll < miner_edit:
        edit(lab, t, "miner", pick(rng, miners).record_id, edit_of("miner", rng))
    elif roll < site_edit or not visits:
        edit(lab, t, "site", pick(rng, sites).record_id, edit_of("site", rng))
    else:
        edit(lab, t, "site_visit", rng.choice(visits).record_id, edit_of("site_visit", rng))


def hand_over(lab: Lab, source: Tablet, entity: str, rid: uuid.UUID) -> None:
    """A colleague's tablet gets a copy of a record made here and not pushed yet (as officers
    share a record over Bluetooth): its edits reach the server before the record does, and
    wait there for the create. The copy is the record as created, at version 1."""
    others = [t for t in lab.tablets if t is not source]
    target = lab.rng.choice(others)
    record = source.client.get(entity, rid)
    assert record is not None
    cursor = target.client.store.get("cursor")
    assert cursor is not None, "every tablet has pulled once"
    change = Change(
        entity=entity,
        record_id=rid,
        kind=ChangeKind.upsert,
        version=1,
        scope=SCOPE,
        data=dict(record.data),
    )
    page = PullResponse(
        changes=[change], cursor=cursor, has_more=False, server_time=datetime.now(UTC)
    )
    target.client.store.apply_page(page)
    lab.events["hand-over"] += 1


# --- syncing, faults, the server and the supervisor --------------------------------------------


def sync_through(t: Tablet, lab: Lab, fault: str) -> None:
    """Sync once with one fault aimed at it; an unreachable server just means later."""
    if fault in ("lost", "twice"):
        t.net.faults.append(fault)  # the first request of the sync is its push
    elif fault == "lost-pull":
        t.net.faults.extend(["pass", "lost"])
    elif fault == "gone-after-push":
        # the push is answered; then the tablet is out of range before it could pull
        t.net.faults.extend(["pass", *["down"] * RETRY.attempts])
    elif fault == "kill-mid-push":
        t.net.kill_after = lab.rng.uniform(0.0, 0.04)
        t.net.faults.append("kill")
    elif fault in ("mid-request", "before-answer"):
        lab.proxy.cut("/sync/v1/push", fault)
    try:
        t.client.sync()
    except TransportFailed:
        lab.events["sync failed"] += 1
    finally:
        t.net.faults.clear()
        lab.proxy.disarm()
        if t.net.killer is not None:
            t.net.killer.join()
            t.net.killer = None
            lab.server.start()  # the operator brings it back


def restart_gracefully(lab: Lab) -> None:
    """SIGTERM; a tablet tries while nobody is home, and keeps every op; start again."""
    lab.server.stop()
    t = lab.rng.choice(lab.tablets)
    local_change(t, lab)
    before = sum(t.client.status().ops.values())
    with pytest.raises(TransportFailed):
        t.client.sync()
    assert before == sum(t.client.status().ops.values())
    lab.server.start()


def web_edit(lab: Lab) -> None:
    """The supervisor edits a miner on the web: a compare-and-set on the version just read."""
    ids = [rid for rid, entity in lab.made.items() if entity == "miner"]
    if not ids:
        return
    rid = lab.rng.choice(sorted(ids))
    got = lab.ministry.get(f"/api/v1/miners/{rid}")
    if got.status_code != 200:
        return  # not on the server yet, or deleted
    body = {
        "version": got.json()["version"],
        **lab.rng.choice([{"phone": phone(lab.rng)}, {"status": lab.rng.choice(STATUSES)}]),
    }
    r = lab.ministry.patch(f"/api/v1/miners/{rid}", json=body)
    assert r.status_code in (200, 409), r.text
    lab.events["web edit" if r.status_code == 200 else "web edit raced"] += 1


def resolve_one(lab: Lab) -> None:
    """The supervisor settles an open conflict of the run: each field to one side, at random."""
    open_ = [c for c in lab.supervisor.conflicts("open") if c.record_id in lab.made]
    if not open_:
        return
    conflict = lab.rng.choice(sorted(open_, key=lambda c: (str(c.record_id), c.created_at)))
    take = {f: lab.rng.choice(["device", "server"]) for f in conflict.fields}
    try:
        lab.supervisor.resolve(conflict.id, ConflictResolution(take=take))
        lab.events["resolved"] += 1
    except Exception as err:  # a 409 (the record moved, or resolved already) changes nothing
        status = getattr(err, "status", None)
        assert status in (409, 422), err
        lab.events[f"resolve refused {status}"] += 1


def run_schedule(lab: Lab, seed: int) -> None:
    rng = lab.rng
    first, later = list(FAULTS), list(LATER_FAULTS)
    rng.shuffle(first)
    rng.shuffle(later)
    deck = itertools.chain(first, itertools.cycle(later))
    restart_at = rng.randrange(STEPS // 3, 2 * STEPS // 3)
    for step in range(STEPS):
        if step == restart_at:
            restart_gracefully(lab)
        roll = rng.random()
        if roll < 0.05:
            web_edit(lab)
            continue
        if roll < 0.11:
            resolve_one(lab)
            continue
        t = rng.choice(lab.tablets)
        if step < t.offline_until or rng.random() < 0.5:
            for _ in range(rng.randint(1, 4)):
                local_change(t, lab)
            continue
        if rng.random() < 0.25:
            t.offline_until = step + rng.randint(3, 10)
        has_ops = bool(t.client.status().unanswered)
        fault = next(deck) if has_ops else rng.choice(["none", "lost-pull"])
        if fault == "gone-after-push":
            t.offline_until = step + rng.randint(2, 8)  # edits on what the push answered
        sync_through(t, lab, fault)


def heal(lab: Lab) -> None:
    """Everyone in range, no faults; each officer corrects the creates the server refused (the
    edits behind them wait for them), and every tablet syncs until nothing is unanswered.
    First the supervisor settles some of the open conflicts."""
    for _ in range(3):
        resolve_one(lab)
    for _ in range(6):
        for t in lab.tablets:
            for problem in t.client.problems():
                if problem.op.kind is OpKind.create and problem.outcome is OpStatus.rejected:
                    fix = {"phone": phone(lab.rng)} if problem.op.entity == "miner" else {}
                    if problem.op.entity == "site":
                        fix = {"geometry": square(*kono_spot(lab.rng))}
                    if fix:
                        t.client.correct(problem.op.op_id, fix)
                        lab.events["corrected"] += 1
            t.client.sync()
        if not any(t.client.status().unanswered for t in lab.tablets):
            break
    else:
        waiting = {t.name: [e.op for e in t.client.status().unanswered] for t in lab.tablets}
        raise AssertionError(f"ops still without a final answer after six rounds: {waiting}")
    for t in lab.tablets:
        t.client.pull()  # the others' last pushes


# --- the test ------------------------------------------------------------------------------------


@pytest.fixture
def officers(api: Api) -> list[str]:
    return field_officers(api.engine, [unique(f"conv-{i}").lower() for i in range(3)], KONO)


@pytest.fixture
def killable(settings: Settings, tmp_path: Path) -> Iterator[KillableServer]:
    server = KillableServer(settings.database_url, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("seed", SEEDS)
def test_tablets_with_random_offline_edits_and_faults_converge_and_overwrite_nothing_unseen(
    seed: int, api: Api, killable: KillableServer, officers: list[str], tmp_path: Path
) -> None:
    print(f"\nconvergence seed {seed} (replay: CONVERGE_SEEDS={seed})")
    with ExitStack() as stack:
        proxy = stack.enter_context(CuttingProxy(killable.port))
        tablets: list[Tablet] = []
        for i, (owner, skew) in enumerate(zip(OWNERS, SKEWS, strict=True)):
            net = Net()
            net.server = killable
            client = stack.enter_context(
                DeviceClient.open(
                    tmp_path / f"tablet-{i}.sqlite",
                    transport=net,
                    retry=RETRY,
                    rng=random.Random(seed * 10 + i),
                    clock=skewed(skew),
                )
            )
            client.enrol(proxy.base_url, officers[owner], PASSWORD, name=f"tablet {i}")
            client.pull()
            tablets.append(Tablet(f"tablet {i}", officers[owner], client, net))
        supervisor = stack.enter_context(
            DeviceClient.open(tmp_path / "supervisor.sqlite", retry=RETRY)
        )
        supervisor.enrol(
            killable.base_url, api.users["ministry"].username, PASSWORD, name="supervisor"
        )
        ministry = stack.enter_context(
            httpx.Client(
                base_url=killable.base_url,
                headers={"Authorization": f"Bearer {api.tokens['ministry']}"},
                timeout=30,
            )
        )
        lab = Lab(random.Random(seed), tablets, killable, proxy, ministry, supervisor)

        run_schedule(lab, seed)
        heal(lab)

        struck = {f for _, f in proxy.struck} | {f for t in tablets for _, f in t.net.injected}
        print(
            f"seed {seed}: {dict(sorted(lab.events.items()))}; faults {sorted(struck)}; "
            f"server started {killable.starts} times, killed {killable.kills} "
            f"({dict(sum((t.net.kills for t in tablets), Counter()))})"
        )

        # 1. Every op every tablet made has exactly one final outcome, the one it holds.
        entries = {e.op.op_id: (t, e) for t in tablets for e in t.client.results()}
        rows = ledger(api.engine, entries)
        assert {op_id: len(r) for op_id, r in rows.items() if len(r) != 1} == {}, seed
        told = {
            str(op_id): (t.name, e.state, str(e.outcome), rows[op_id][0].status)
            for op_id, (t, e) in entries.items()
            if OpStatus(rows[op_id][0].status) not in FINAL
            or e.state != "settled"
            or e.outcome != OpStatus(rows[op_id][0].status)
        }
        assert told == {}, seed  # op id: (tablet, state, what it holds, the ledger's status)

        # 2. Every value each record took is explained.
        evidence = gather(api.engine, lab, [r for [r] in rows.values()])
        problems = (
            check_versions(evidence)
            + check_overwrites(evidence)
            + check_conflicts(evidence)
            + check_shown(evidence, lab.shown)
        )
        assert problems == [], (seed, "\n".join(problems))

        # 3. Every replica equals the server's view of its officer's scope.
        views = {
            name: server_view(killable.base_url, name, PASSWORD, tmp_path / f"view-{name}")
            for name in {t.username for t in tablets}
        }
        for t in tablets:
            assert replica_differences(replica_of(t.client), views[t.username]) == [], (
                seed,
                t.name,
            )
        outcomes = Counter(row.status for [row] in rows.values())
        print(f"seed {seed}: {len(entries)} ops {dict(outcomes)}")

    killable.stop()
    assert killable.tracebacks == [], seed


def skewed(skew: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + skew


def gather(engine: Engine, lab: Lab, rows: list[SyncOp]) -> Evidence:
    """The audit trail of every record of the run, the ledger and the conflict records."""
    ids = [str(rid) for rid in lab.made]
    audit: dict[tuple[str, uuid.UUID], list[AuditEntry]] = {}
    with Session(engine) as session:
        for start in range(0, len(ids), 500):
            for e in session.scalars(
                select(AuditEntry).where(col(AuditEntry.entity_id).in_(ids[start : start + 500]))
            ):
                if e.entity_type in TRACKED and e.after is not None:
                    audit.setdefault((e.entity_type, uuid.UUID(e.entity_id)), []).append(e)
        conflicts = {
            c.id: c
            for c in session.scalars(
                select(SyncConflict).where(col(SyncConflict.record_id).in_(list(lab.made)))
            )
        }
    for entries in audit.values():
        entries.sort(key=lambda e: int(e.after["version"]) if e.after else 0)
    return Evidence(
        audit=audit,
        ops={r.op_id: r for r in rows},
        conflicts=conflicts,
        supervisor_device=lab.supervisor.device_id,
    )
