"""Sync test fixtures: an in-memory stand-in for the sync server behind httpx.MockTransport,
with faults to inject, and (for tests against the real server) the end-to-end fixtures."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from offline_sync.client import DeviceClient, RetryPolicy
from offline_sync.protocol import (
    Change,
    ChangeKind,
    OpKind,
    OpResult,
    OpStatus,
    PullResponse,
    PushRequest,
    PushResponse,
)
from tests.e2e.conftest import api, origin, server  # noqa: F401

BASE_URL = "http://sync.test"
SCOPE = "district:SL-E-KO"
PULL_ONLY = {"licence", "jurisdiction", "organisation"}


class Crash(Exception):
    """Not a transport error: stands for the device dying while a request is in flight."""


@dataclass
class FakeRecord:
    version: int
    data: dict[str, Any]
    deleted: bool = False
    scope: str = SCOPE
    changed: dict[int, set[str]] = field(default_factory=dict)  # version -> fields it changed


@dataclass
class FakeServer:
    """Enough of the sync server to exercise the client: ledger, records, feed, attachments.

    `faults` are consumed one per request: "connect" (refused before anything happens),
    "500"/"503" (answered with that status, nothing done), "lost" (done, then the connection
    drops before the answer), "crash" (done, then the device dies: `Crash` propagates),
    "413" (too big), "403" (revoked).
    """

    records: dict[tuple[str, uuid.UUID], FakeRecord] = field(default_factory=dict)
    ledger: dict[uuid.UUID, tuple[str, OpResult]] = field(default_factory=dict)
    feed: list[tuple[int, str, uuid.UUID]] = field(default_factory=list)
    feed_seq: int = 0
    applied: list[uuid.UUID] = field(default_factory=list)  # op ids, in apply order
    faults: list[str] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    pushes: list[PushRequest] = field(default_factory=list)
    attachments: dict[str, tuple[int, bytearray]] = field(default_factory=dict)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    parked: dict[tuple[str, uuid.UUID], list[Any]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    max_ops: int | None = None  # answer 413 above this many ops
    clock_offset_ms: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        fault = self.faults.pop(0) if self.faults else None
        if fault == "connect":
            raise httpx.ConnectError("connection refused", request=request)
        if fault in ("500", "503", "413", "403"):
            return _problem(int(fault), "injected")
        response = self.route(request)
        if fault == "lost":
            raise httpx.ReadError("connection reset after the server answered", request=request)
        if fault == "crash":
            raise Crash("the device died before it read the answer")
        return response

    def route(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/api/v1/auth/token" and method == "POST":
            return httpx.Response(200, json={"access_token": "user-token", "token_type": "bearer"})
        if path == "/sync/v1/devices" and method == "POST":
            assert request.headers["Authorization"] == "Bearer user-token"
            return httpx.Response(
                201,
                json={
                    "device_id": str(uuid.uuid4()),
                    "device_token": "device-token",
                    "expires_at": (datetime.now(UTC) + timedelta(days=90)).isoformat(),
                },
            )
        assert request.headers.get("Authorization") == "Bearer device-token"
        if path == "/sync/v1/push" and method == "POST":
            return self.push(request)
        if path == "/sync/v1/pull" and method == "GET":
            return self.pull(request)
        if path == "/sync/v1/conflicts" and method == "GET":
            return httpx.Response(200, json={"items": self.conflicts})
        if path.startswith("/sync/v1/attachments/"):
            return self.attachment(request, path.rsplit("/", 1)[1])
        return _problem(404, f"no route {method} {path}")

    # -- push --------------------------------------------------------------------------------

    def push(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        push = PushRequest.model_validate_json(body)
        if self.max_ops is not None and len(push.ops) > self.max_ops:
            return _problem(413, "too many ops")
        self.pushes.append(push)
        results = [self.apply(op) for op in push.ops]
        offset = self.clock_offset_ms
        answer = PushResponse(
            results=results,
            server_time=datetime.now(UTC),
            clock_offset_ms=offset,
            clock_drift=abs(offset) > 300_000,
        )
        return httpx.Response(200, content=answer.model_dump_json(), headers=_JSON)

    def apply(self, op: Any) -> OpResult:
        digest = op.content_hash()
        if op.op_id in self.ledger:
            first_hash, first = self.ledger[op.op_id]
            if first_hash != digest:
                return OpResult(
                    op_id=op.op_id,
                    seq=op.seq,
                    status=OpStatus.rejected,
                    code="op-id-reused",
                    detail="this op id came before with other content: send it with a new op id",
                )
            return first.model_copy(
                update={"status": OpStatus.duplicate, "first_status": first.status}
            )
        result = self._apply_new(op)
        self.ledger[op.op_id] = (digest, result)
        if result.status is OpStatus.applied:
            self.applied.append(op.op_id)
        if result.status is OpStatus.pending:
            self.parked.setdefault((op.entity, op.record_id), []).append(op)
        if op.kind is OpKind.create and result.status is OpStatus.applied:
            for waiting in self.parked.pop((op.entity, op.record_id), []):
                # like the real ledger: the parked op's answer becomes its final one
                first = self._apply_new(waiting)
                self.ledger[waiting.op_id] = (waiting.content_hash(), first)
                if first.status is OpStatus.applied:
                    self.applied.append(waiting.op_id)
        return result

    def _apply_new(self, op: Any) -> OpResult:
        key = (op.entity, op.record_id)
        base: dict[str, Any] = {"op_id": op.op_id, "seq": op.seq}
        if op.entity in PULL_ONLY or op.fields.get("full_name") == "":
            return OpResult(
                **base,
                status=OpStatus.rejected,
                code="invalid",
                errors=[
                    {"field": "full_name", "pointer": "/full_name", "detail": "must not be empty"}
                ],
            )
        record = self.records.get(key)
        if op.kind is OpKind.create:
            if record is not None:
                return OpResult(**base, status=OpStatus.rejected, code="exists")
            record = FakeRecord(version=1, data={**op.fields, "id": str(op.record_id)})
            record.changed[1] = set(op.fields)
            self.records[key] = record
            self._emit(op.entity, op.record_id)
            return OpResult(**base, status=OpStatus.applied, version=1)
        if record is None:
            return OpResult(**base, status=OpStatus.pending, code="waiting-for-create")
        merged = False
        if op.base_version is not None and op.base_version < record.version:
            since = set().union(*(f for v, f in record.changed.items() if v > op.base_version))
            overlap = since & set(op.fields)
            if overlap:
                conflict_id = uuid.uuid4()
                self.conflicts.append({"id": str(conflict_id), "fields": sorted(overlap)})
                return OpResult(
                    **base,
                    status=OpStatus.conflict,
                    version=record.version,
                    conflict_id=conflict_id,
                )
            merged = True
        record.version += 1
        record.changed[record.version] = set(op.fields)
        if op.kind is OpKind.delete:
            record.deleted = True
        else:
            record.data.update(op.fields)
        self._emit(op.entity, op.record_id)
        return OpResult(**base, status=OpStatus.applied, version=record.version, merged=merged)

    # -- server-side edits and the feed ------------------------------------------------------

    def server_edit(self, entity: str, record_id: uuid.UUID, **fields: Any) -> int:
        """Someone else (the web, another device) changes a record."""
        record = self.records[(entity, record_id)]
        record.version += 1
        record.changed[record.version] = set(fields)
        record.data.update(fields)
        self._emit(entity, record_id)
        return record.version

    def server_create(self, entity: str, **fields: Any) -> uuid.UUID:
        rid = uuid.uuid4()
        self.records[(entity, rid)] = FakeRecord(version=1, data={**fields, "id": str(rid)})
        self._emit(entity, rid)
        return rid

    def move_out(self, entity: str, record_id: uuid.UUID) -> None:
        self.records[(entity, record_id)].scope = "district:SL-S-BO"
        self._emit(entity, record_id)

    def _emit(self, entity: str, record_id: uuid.UUID) -> None:
        # like the real feed: one row per record, moved to the end on every change
        self.feed = [f for f in self.feed if (f[1], f[2]) != (entity, record_id)]
        self.feed_seq += 1
        self.feed.append((self.feed_seq, entity, record_id))

    def pull(self, request: httpx.Request) -> httpx.Response:
        cursor = int(request.url.params.get("cursor", "0"))
        limit = int(request.url.params.get("limit", "100"))
        after = [f for f in self.feed if f[0] > cursor]
        page = after[:limit]
        changes = []
        for _, entity, rid in page:
            rec = self.records[(entity, rid)]
            if rec.scope != SCOPE:
                kind = ChangeKind.exit
            else:
                kind = ChangeKind.delete if rec.deleted else ChangeKind.upsert
            changes.append(
                Change(
                    entity=entity,
                    record_id=rid,
                    kind=kind,
                    version=rec.version,
                    scope=SCOPE,
                    data=None if kind is ChangeKind.exit else dict(rec.data),
                )
            )
        dropped, self.dropped = self.dropped, []
        answer = PullResponse(
            changes=changes,
            cursor=str(page[-1][0] if page else cursor),
            has_more=len(after) > limit,
            dropped_scopes=dropped,
            server_time=datetime.now(UTC),
        )
        return httpx.Response(200, content=answer.model_dump_json(), headers=_JSON)

    def view(self) -> dict[tuple[str, uuid.UUID], tuple[int, dict[str, Any], bool]]:
        """What a device of the scope should end up holding."""
        return {
            k: (r.version, r.data, r.deleted) for k, r in self.records.items() if r.scope == SCOPE
        }

    # -- attachments -------------------------------------------------------------------------

    def attachment(self, request: httpx.Request, sha: str) -> httpx.Response:
        if request.method == "GET":
            if sha not in self.attachments:
                return _problem(404, "none of it")
            return httpx.Response(200, json=self._status(sha))
        offset = int(request.url.params["offset"])
        size = int(request.headers["X-Attachment-Size"])
        _, buf = self.attachments.setdefault(sha, (size, bytearray()))
        if offset != len(buf):
            return _problem(409, "wrong offset", received=len(buf))
        buf.extend(request.content)
        if len(buf) == size:
            assert hashlib.sha256(buf).hexdigest() == sha
        return httpx.Response(200, json=self._status(sha))

    def _status(self, sha: str) -> dict[str, Any]:
        size, buf = self.attachments[sha]
        return {"sha256": sha, "size": size, "received": len(buf), "complete": len(buf) == size}


_JSON = {"Content-Type": "application/json"}


def _problem(status: int, detail: str, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": detail, "status": status, "detail": detail, **extra}
    return httpx.Response(
        status, content=json.dumps(body), headers={"Content-Type": "application/problem+json"}
    )


@pytest.fixture
def fake() -> FakeServer:
    return FakeServer()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def open_device(
    tmp_path: Path, fake: FakeServer, sleeps: list[float]
) -> Iterator[Callable[..., DeviceClient]]:
    """Open (or reopen, as after a crash) the device file; enrolled on first open."""
    opened: list[DeviceClient] = []
    path = tmp_path / "device.sqlite"

    def open_(**options: Any) -> DeviceClient:
        options.setdefault("transport", httpx.MockTransport(fake.handler))
        options.setdefault("sleep", sleeps.append)
        options.setdefault("retry", RetryPolicy(attempts=4, base_delay=1.0, max_delay=8.0))
        device = DeviceClient.open(path, **options)
        opened.append(device)
        if device.device_id is None:
            device.enrol(BASE_URL, "officer", "secret", "tablet 1")
            fake.requests.clear()
        return device

    yield open_
    for device in opened:
        with contextlib.suppress(Exception):  # already closed by the test
            device.close()


def miner(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "full_name": "Fatmata Koroma",
        "national_id": f"SL-{uuid.uuid4().hex[:8]}",
        "phone": "+23276000000",
        "district": "SL-E-KO",
        "status": "active",
    }
    fields.update(overrides)
    return fields
