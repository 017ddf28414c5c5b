"""`DeviceClient`: a device's replica and outbox, and the push, pull and upload that sync them."""

from __future__ import annotations

import hashlib
import random
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from offline_sync.client.errors import (
    ClientError,
    NotEnrolled,
    ProtocolError,
    ServerRefused,
    UnknownRecord,
)
from offline_sync.client.store import (
    PROBLEM_OUTCOMES,
    OutboxEntry,
    Record,
    Store,
    outcome_of,
)
from offline_sync.client.transport import RetryPolicy, Sleep, Transport, problem_of, refused
from offline_sync.protocol import (
    MAX_OPS_PER_PUSH,
    AttachmentStatus,
    ConflictInfo,
    ConflictResolution,
    DeviceCredential,
    DeviceEnrol,
    Op,
    OpKind,
    OpResult,
    OpStatus,
    PullResponse,
    PushRequest,
    PushResponse,
)

Clock = Callable[[], datetime]

DEFAULT_BATCH = 500
DEFAULT_PULL_LIMIT = 1000
DEFAULT_CHUNK = 256 * 1024


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class PushReport:
    results: list[OpResult] = field(default_factory=list)
    batches: int = 0
    clock_offset_ms: int | None = None
    clock_drift: bool = False

    @property
    def problems(self) -> list[OpResult]:
        """Answers the user must see: conflicts and rejections."""
        return [r for r in self.results if outcome_of(r) in PROBLEM_OUTCOMES]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status.value] = out.get(r.status.value, 0) + 1
        return out


@dataclass
class PullReport:
    pages: int = 0
    changes: int = 0
    applied: int = 0
    dropped_scopes: list[str] = field(default_factory=list)
    cursor: str | None = None


@dataclass
class SyncReport:
    push: PushReport
    pull: PullReport
    attachments: list[AttachmentStatus]


@dataclass
class Status:
    base_url: str | None
    device_id: str | None
    cursor: str | None
    ops: dict[str, int]
    last_push_at: str | None
    last_pull_at: str | None
    clock_offset_ms: int | None
    clock_drift: bool
    attachments_waiting: int
    unanswered: list[OutboxEntry]
    recent: list[OutboxEntry]
    problems: list[OutboxEntry]


class DeviceClient:
    """One device: open its SQLite file, change records offline, sync when there is a network.

    `transport` (an httpx transport), `sleep`, `rng` and `clock` are injectable so that tests
    run against `httpx.MockTransport` without sleeping.
    """

    def __init__(
        self,
        store: Store,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
        clock: Clock = utcnow,
        batch_size: int = DEFAULT_BATCH,
        pull_limit: int = DEFAULT_PULL_LIMIT,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        if not 1 <= batch_size <= MAX_OPS_PER_PUSH:
            raise ValueError(f"batch_size must be within 1..{MAX_OPS_PER_PUSH}")
        self.store = store
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.clock = clock
        self.batch_size = batch_size
        self.pull_limit = pull_limit
        self.chunk_size = chunk_size
        self._http_transport = transport
        self._transport: Transport | None = None

    @classmethod
    def open(cls, path: str | Path, **options: Any) -> DeviceClient:
        return cls(Store.open(path), **options)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.store.close()

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- credentials -------------------------------------------------------------------------

    @property
    def device_id(self) -> uuid.UUID | None:
        value = self.store.get("device_id")
        return None if value is None else uuid.UUID(value)

    def _http(self, base_url: str | None = None, token: str | None = None) -> Transport:
        if base_url is not None:
            if self._transport is not None:
                self._transport.close()
            self._transport = Transport(
                base_url=base_url.rstrip("/"),
                token=token,
                retry=self.retry,
                sleep=self.sleep,
                rng=self.rng,
                transport=self._http_transport,
            )
            return self._transport
        if self._transport is None:
            url, device_token = self.store.get("base_url"), self.store.get("device_token")
            if url is None or device_token is None:
                raise NotEnrolled("this device is not enrolled: run enrol first")
            self._transport = Transport(
                base_url=url,
                token=device_token,
                retry=self.retry,
                sleep=self.sleep,
                rng=self.rng,
                transport=self._http_transport,
            )
        return self._transport

    def enrol(
        self,
        base_url: str,
        username: str,
        password: str,
        name: str,
        *,
        platform: str | None = "offline_sync.client",
    ) -> DeviceCredential:
        """Sign in as the user, enrol this device, and keep the device's own credential.

        The user's password and token are not kept; from here on the device token is used.
        Ops queued before (or under an earlier enrolment) stay queued and go with the next push.
        """
        http = self._http(base_url)
        login = http.json(
            "POST", "/api/v1/auth/token", json_body={"username": username, "password": password}
        )
        # The key is made once and kept until an answer arrives: a resend after a lost answer
        # then gets the same device back, never a second one with a credential nobody holds.
        key = self.store.get("enrolment_key")
        if key is None:
            key = secrets.token_urlsafe(24)
            self.store.set_many({"enrolment_key": key})
        body = DeviceEnrol(name=name, platform=platform, enrolment_key=key).model_dump(mode="json")
        cred = DeviceCredential.model_validate(
            http.json(
                "POST",
                "/sync/v1/devices",
                expect=201,
                json_body=body,
                token=str(login["access_token"]),
            )
        )
        self.store.set_many(
            {
                "base_url": base_url.rstrip("/"),
                "device_id": str(cred.device_id),
                "device_token": cred.device_token,
                "expires_at": cred.expires_at.isoformat(),
                "enrolment_key": None,  # answered: the next enrolment is a new one
            }
        )
        http.token = cred.device_token
        return cred

    # -- local changes -----------------------------------------------------------------------

    def create(
        self, entity: str, fields: dict[str, Any], *, record_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        rid = record_id or uuid.uuid4()
        self.store.queue(
            entity=entity,
            record_id=rid,
            kind=OpKind.create,
            base_version=None,
            fields=dict(fields),
            device_time=self.clock(),
        )
        return rid

    def update(self, entity: str, record_id: uuid.UUID, fields: dict[str, Any]) -> Op:
        """Queue the changed fields, based on the version the device last saw from the server."""
        return self.store.queue(
            entity=entity,
            record_id=record_id,
            kind=OpKind.update,
            base_version=self._base_version(entity, record_id),
            fields=dict(fields),
            device_time=self.clock(),
        )

    def delete(self, entity: str, record_id: uuid.UUID) -> Op:
        return self.store.queue(
            entity=entity,
            record_id=record_id,
            kind=OpKind.delete,
            base_version=self._base_version(entity, record_id),
            fields={},
            device_time=self.clock(),
        )

    def _base_version(self, entity: str, record_id: uuid.UUID) -> int:
        record = self.store.record(entity, record_id)
        if record is None:
            raise UnknownRecord(f"{entity} {record_id} is not in this device's replica")
        # A record created here and not yet answered will be version 1 once its create applies.
        return record.version if record.version is not None else 1

    def get(self, entity: str, record_id: uuid.UUID) -> Record | None:
        return self.store.record(entity, record_id)

    def records(self, entity: str | None = None, *, include_deleted: bool = False) -> list[Record]:
        return self.store.records(entity, include_deleted=include_deleted)

    # -- push --------------------------------------------------------------------------------

    def push(self) -> PushReport:
        """Send every unanswered op, oldest seq first, in batches; keep every answer.

        Ops are marked `sent` before the request, so after a crash or a lost answer they are
        sent again with the same op ids, and the server answers them `duplicate`.
        """
        http = self._http()
        report = PushReport()
        size = self.batch_size
        after = 0  # each op goes once per push, so ops still `pending` do not loop
        while True:
            ops = self.store.unanswered(size, after_seq=after)
            if not ops:
                return report
            self.store.mark_sent(ops)
            request = PushRequest(sent_at=self.clock(), ops=ops)
            response = http.request(
                "POST",
                "/sync/v1/push",
                json_body=request.model_dump(mode="json"),
                compress=True,
            )
            if response.status_code == 413 and len(ops) > 1:
                size = max(1, len(ops) // 2)  # too big: the same ops, in smaller batches
                continue
            if response.status_code != 200:
                raise refused(response)
            answer = PushResponse.model_validate(response.json())
            self._check_answer(ops, answer)
            settled = self.store.settle(
                answer.results,
                {
                    "last_push_at": answer.server_time.isoformat(),
                    "clock_offset_ms": str(answer.clock_offset_ms),
                    "clock_drift": "1" if answer.clock_drift else "0",
                },
            )
            report.results.extend(settled)
            after = ops[-1].seq
            report.batches += 1
            report.clock_offset_ms = answer.clock_offset_ms
            report.clock_drift = answer.clock_drift

    @staticmethod
    def _check_answer(ops: list[Op], answer: PushResponse) -> None:
        sent = {op.op_id for op in ops}
        got = [r.op_id for r in answer.results]
        if len(got) != len(ops) or set(got) != sent:
            raise ProtocolError(
                f"push of {len(ops)} ops answered with {len(got)} results "
                f"({len(sent - set(got))} ops unanswered); they stay in the outbox"
            )

    # -- pull --------------------------------------------------------------------------------

    def pull(self, *, limit: int | None = None) -> PullReport:
        """Fetch and apply pages until the server has no more; each page lands atomically."""
        http = self._http()
        report = PullReport()
        while True:
            params: dict[str, str | int] = {"limit": limit or self.pull_limit}
            cursor = self.store.get("cursor")
            if cursor is not None:
                params["cursor"] = cursor
            page = PullResponse.model_validate(http.json("GET", "/sync/v1/pull", params=params))
            report.applied += self.store.apply_page(page)
            report.pages += 1
            report.changes += len(page.changes)
            report.dropped_scopes.extend(page.dropped_scopes)
            report.cursor = page.cursor
            if not page.has_more:
                return report

    def sync(self) -> SyncReport:
        """Push, upload waiting photos, then pull (which also brings the answers' effects).

        Photos go after the push: the server takes a photo only once a record it may be
        stored for (one the user may edit) names it.
        """
        pushed = self.push()
        attachments = self.upload_attachments()
        pulled = self.pull()
        return SyncReport(push=pushed, pull=pulled, attachments=attachments)

    # -- what happened -----------------------------------------------------------------------

    def results(self, *, limit: int | None = None) -> list[OutboxEntry]:
        """Every op the device made, with its state and the server's answer, by seq."""
        return self.store.entries(limit=limit)

    def problems(self) -> list[OutboxEntry]:
        """Ops answered `conflict` or `rejected`: kept in the outbox, never hidden; a rejected
        op that was corrected and sent again (`correct`) is no longer a problem."""
        corrected = self.store.corrected()
        return [
            e
            for e in self.store.entries(states=["settled"])
            if e.outcome in PROBLEM_OUTCOMES and e.op.op_id not in corrected
        ]

    def waiting_on(self, op_id: uuid.UUID) -> list[OutboxEntry]:
        """The later ops of the same record that have no final answer: after a rejected create,
        the server keeps them waiting (`pending`) until a create of that record is applied."""
        entry = self._entry(op_id)
        return [
            e
            for e in self.store.entries(states=["queued", "sent"])
            if e.op.entity == entry.op.entity
            and e.op.record_id == entry.op.record_id
            and e.op.seq > entry.op.seq
        ]

    def correct(self, op_id: uuid.UUID, fields: dict[str, Any]) -> Op:
        """Correct a rejected op and queue it again: its fields with `fields` over them (a
        field set to None is dropped), under a new op id, for the same record. The rejected op
        stays in the outbox, marked corrected; the ops that waited for a rejected create are
        applied by the server once the corrected create is."""
        entry = self._entry(op_id)
        if entry.outcome is not OpStatus.rejected:
            raise ClientError(
                f"op {op_id} was not rejected (it is {entry.outcome or entry.state}); "
                "only a rejected op can be corrected"
            )
        merged = {**entry.op.fields, **fields}
        op = self.store.queue(
            entity=entry.op.entity,
            record_id=entry.op.record_id,
            kind=entry.op.kind,
            base_version=(
                None
                if entry.op.kind is OpKind.create
                else self._base_version(entry.op.entity, entry.op.record_id)
            ),
            fields={k: v for k, v in merged.items() if v is not None},
            device_time=self.clock(),
            corrects=entry.op.op_id,
        )
        return op

    def _entry(self, op_id: uuid.UUID) -> OutboxEntry:
        entry = self.store.entry(op_id)
        if entry is None:
            raise ClientError(f"no op {op_id} in this device's outbox")
        return entry

    def conflicts(self, status: str | None = "open") -> list[ConflictInfo]:
        params: dict[str, str | int] = {} if status is None else {"status": status}
        body = self._http().json("GET", "/sync/v1/conflicts", params=params)
        return [ConflictInfo.model_validate(item) for item in body["items"]]

    def resolve(self, conflict_id: uuid.UUID, resolution: ConflictResolution) -> ConflictInfo:
        """Supervisors: settle a conflict; the outcome reaches devices as a normal change."""
        body = self._http().json(
            "POST",
            f"/sync/v1/conflicts/{conflict_id}/resolve",
            json_body=resolution.model_dump(mode="json", exclude_none=True),
        )
        return ConflictInfo.model_validate(body)

    def status(self, *, recent: int = 10) -> Status:
        offset = self.store.get("clock_offset_ms")
        return Status(
            base_url=self.store.get("base_url"),
            device_id=self.store.get("device_id"),
            cursor=self.store.get("cursor"),
            ops=self.store.counts(),
            last_push_at=self.store.get("last_push_at"),
            last_pull_at=self.store.get("last_pull_at"),
            clock_offset_ms=None if offset is None else int(offset),
            clock_drift=self.store.get("clock_drift") == "1",
            attachments_waiting=len(self.store.attachments()),
            unanswered=self.store.entries(states=["queued", "sent"]),
            recent=[e for e in self.store.entries(limit=recent) if e.state == "settled"],
            problems=self.problems(),
        )

    # -- attachments -------------------------------------------------------------------------

    def attach(self, source: str | Path | bytes) -> str:
        """Keep a photo for upload (works offline); returns its SHA-256 for `photo_ref`."""
        content = source if isinstance(source, bytes) else Path(source).read_bytes()
        sha = hashlib.sha256(content).hexdigest()
        self.store.add_attachment(sha, content)
        return sha

    def upload_attachment(self, source: str | Path | bytes) -> AttachmentStatus:
        """Keep the photo, then upload what the server lacks of it, chunk by chunk."""
        return self._upload(self.attach(source))

    def upload_attachments(self) -> list[AttachmentStatus]:
        """Upload every unfinished photo that a record on the server names; the rest wait
        (their record is not pushed or was refused) and go with a later sync."""
        done: list[AttachmentStatus] = []
        for attachment in self.store.attachments():
            try:
                done.append(self._upload(attachment.sha256))
            except ServerRefused as refusal:
                kind = str(refusal.problem.get("type", ""))
                if refusal.status != 403 or not kind.endswith("/attachment-unreferenced"):
                    raise
        return done

    def missing_attachments(self) -> list[str]:
        body = self._http().json("GET", "/sync/v1/attachments/missing")
        return [str(s) for s in body["items"]]

    def _upload(self, sha256: str) -> AttachmentStatus:
        local = self.store.attachment(sha256)
        if local is None:
            raise UnknownRecord(f"attachment {sha256} is not on this device")
        http = self._http()
        path = f"/sync/v1/attachments/{sha256}"
        response = http.request("GET", path)
        if response.status_code == 404:
            status = AttachmentStatus(sha256=sha256, size=local.size, received=0, complete=False)
        elif response.status_code == 200:
            status = AttachmentStatus.model_validate(response.json())
        else:
            raise refused(response)
        offset = status.received
        while not status.complete:
            chunk = self.store.chunk(sha256, offset, self.chunk_size)
            response = http.request(
                "POST",
                path,
                params={"offset": offset},
                content=chunk,
                headers={
                    "Content-Type": "application/octet-stream",
                    "X-Attachment-Size": str(local.size),
                },
            )
            if response.status_code == 409:
                # the server has more (or less) than we thought: resume where it says
                received = problem_of(response).get("received")
                if not isinstance(received, int):
                    received = AttachmentStatus.model_validate(http.json("GET", path)).received
                if received == offset:
                    raise ServerRefused(409, problem_of(response))
                offset = received
                continue
            if response.status_code not in (200, 201):
                raise refused(response)
            status = AttachmentStatus.model_validate(response.json())
            if not status.complete and status.received <= offset:
                raise ProtocolError(f"attachment {sha256}: upload at {offset} made no progress")
            offset = status.received
            self.store.attachment_progress(sha256, status.received, status.complete)
        self.store.attachment_progress(sha256, local.size, True)
        return status
