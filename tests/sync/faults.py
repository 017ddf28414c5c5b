"""Network faults for sync tests over real HTTP, and the checks that they did no harm.

`FaultyTransport` loses, repeats or refuses a device's requests; `CuttingProxy` is a loopback
TCP proxy that cuts connections mid-request or before the answer. Both sit in front of a real
server: nothing here imitates the server, it only misdelivers. The checks compare a device's
replica with the server's view and read the server's op ledger and audit trail.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.audit.models import AuditEntry
from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.users import create_user
from offline_sync.client import DeviceClient, RetryPolicy
from offline_sync.server.tables import SyncOp
from tests.e2e.conftest import PASSWORD

SYNC_PATHS = ("/sync/v1/push", "/sync/v1/pull")


class DeviceDied(Exception):
    """Not a transport error, so the client does not retry: the device died mid-request."""


class FaultyTransport(httpx.BaseTransport):
    """A real httpx transport with faults, taken one per request to `paths`, in order.

    - ``"pass"``: no fault (a placeholder to aim a later fault at the n-th request);
    - ``"lost"``: the server gets the request and answers, then the connection drops
      (``httpx.ReadError``): the server has committed, the device never hears of it;
    - ``"twice"``: the request reaches the server twice (a duplicate send); the device gets
      the second answer;
    - ``"crash"``: the server answers, then the device dies (``DeviceDied``) before reading it;
    - ``"impatient"``: the device gives up waiting after `patience` seconds
      (``httpx.ReadTimeout``) while the request goes on to the server and is answered there;
      the client's retry then races the request still in progress.

    ``offline`` refuses every request, whatever the path, while it is true.
    """

    def __init__(
        self, inner: httpx.BaseTransport | None = None, paths: tuple[str, ...] = SYNC_PATHS
    ) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.paths = paths
        self.faults: deque[str] = deque()
        self.offline = False
        self.injected: list[tuple[str, str]] = []  # (path, fault) of every fault that struck
        self.patience = 0.3
        self._abandoned: list[threading.Thread] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.offline:
            raise httpx.ConnectError("the device is offline", request=request)
        fault = self.faults.popleft() if self.faults and path in self.paths else "pass"
        if fault != "pass":
            self.injected.append((path, fault))
        if fault == "impatient":
            abandoned = threading.Thread(target=self._forward_unheard, args=(request,))
            abandoned.start()
            self._abandoned.append(abandoned)
            abandoned.join(self.patience)
            raise httpx.ReadTimeout("the device stopped waiting for the answer", request=request)
        if fault == "twice":
            unheard = self.inner.handle_request(request)
            unheard.read()  # answered, and nobody listens
            unheard.close()
        response = self.inner.handle_request(request)
        if fault in ("lost", "crash"):
            response.read()  # the whole answer arrived: the server is done with it
            response.close()
        if fault == "lost":
            raise httpx.ReadError("connection reset after the server answered", request=request)
        if fault == "crash":
            raise DeviceDied(f"the device died before it read the answer to {path}")
        return response

    def _forward_unheard(self, request: httpx.Request) -> None:
        with httpx.HTTPTransport() as own:  # its own connection, as a request still in flight
            own.handle_request(request).read()

    def settle(self) -> None:
        """Wait until the requests the device gave up on have been answered."""
        for thread in self._abandoned:
            thread.join()

    def close(self) -> None:
        self.settle()
        self.inner.close()


@dataclass
class _Link:
    """One device connection through the proxy, and what to do with the server's next bytes."""

    client: socket.socket
    upstream: socket.socket
    drop_answer: threading.Event = field(default_factory=threading.Event)


class CuttingProxy:
    """A loopback TCP proxy to a server port, run in threads; real sockets, real cuts.

    `cut(path, how)` arms one fault for the next request whose path starts with `path`:

    - ``"mid-request"``: forward the request line, the headers and half of the body, then close
      both connections: the server sees a body that never ends, the device a dead socket;
    - ``"before-answer"``: forward the whole request, wait until the server starts answering
      (it has committed), then close the device's connection without passing the answer on.

    While nothing listens on the server port (a restart), device connections are accepted and
    closed at once, as a load balancer in front of a dead backend would.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._armed: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.struck: list[tuple[str, str]] = []  # (path, how) of every cut made
        self.refused = 0  # connections closed because the server was down
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="cutting-proxy", daemon=True)
        self._thread.start()

    def cut(self, path: str, how: str) -> None:
        if how not in ("mid-request", "before-answer"):
            raise ValueError(how)
        with self._lock:
            self._armed.append((path, how))

    def armed(self) -> int:
        with self._lock:
            return len(self._armed)

    def disarm(self) -> None:
        with self._lock:
            self._armed.clear()

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.listener.close()

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take(self, path: str) -> str | None:
        with self._lock:
            for i, (prefix, how) in enumerate(self._armed):
                if path.startswith(prefix):
                    del self._armed[i]
                    self.struck.append((path, how))
                    return how
        return None

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            self.refused += 1
            _close(client)
            return
        upstream.settimeout(None)
        link = _Link(client, upstream)
        down = threading.Thread(target=self._answers, args=(link,), daemon=True)
        down.start()
        try:
            self._requests(link)
        except OSError:
            pass
        finally:
            if not link.drop_answer.is_set():  # else the answer thread closes both, later
                _close(upstream)
                _close(client)

    def _requests(self, link: _Link) -> None:
        """Pass the device's requests on one by one, parsed just enough to cut them."""
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = link.client.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, rest = buf.partition(b"\r\n\r\n")
            length = _content_length(head)
            while len(rest) < length:
                chunk = link.client.recv(65536)
                if not chunk:
                    return
                rest += chunk
            body, buf = rest[:length], rest[length:]
            path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            how = self._take(path)
            if how == "mid-request":
                link.upstream.sendall(head + b"\r\n\r\n" + body[: len(body) // 2])
                return
            if how == "before-answer":
                link.drop_answer.set()
                link.upstream.sendall(head + b"\r\n\r\n" + body)
                return  # the answer thread closes the device's side when the answer starts
            link.upstream.sendall(head + b"\r\n\r\n" + body)

    def _answers(self, link: _Link) -> None:
        try:
            while data := link.upstream.recv(65536):
                if link.drop_answer.is_set():
                    # The server is answering, so it has committed: the device never hears.
                    # Keep draining the server's side so that it finishes its answer normally.
                    _close(link.client)
                    continue
                link.client.sendall(data)
        except OSError:
            pass
        finally:
            _close(link.upstream)
            _close(link.client)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


# --- after the faults: what the devices hold, and what the server recorded --------------------

Replica = dict[tuple[str, uuid.UUID], tuple[int | None, bool, dict[str, Any] | None]]


def replica_of(device: DeviceClient) -> Replica:
    """(entity, id) -> (version, deleted, data); a deleted record's last data is not compared."""
    out: Replica = {}
    for r in device.records(include_deleted=True):
        assert not r.dirty, f"{r.entity} {r.record_id} still has unanswered ops"
        out[(r.entity, r.record_id)] = (r.version, r.deleted, None if r.deleted else r.data)
    return out


def server_view(base_url: str, username: str, password: str, path: Path) -> Replica:
    """The user's scope as the server shows it now: a fresh device's first pull."""
    with DeviceClient.open(path, retry=RetryPolicy(attempts=1)) as fresh:
        fresh.enrol(base_url, username, password, name=f"snapshot {path.stem}")
        fresh.pull(limit=5000)
        return replica_of(fresh)


def replica_differences(device: Replica, server: Replica) -> list[str]:
    """Human-readable differences, empty when the device holds exactly the server's view."""
    out = [f"missing on the device: {k}" for k in server.keys() - device.keys()]
    out += [f"not on the server: {k}" for k in device.keys() - server.keys()]
    out += [
        f"{k}: device {device[k]} != server {server[k]}"
        for k in device.keys() & server.keys()
        if device[k] != server[k]
    ]
    return sorted(out)


def ledger(engine: Engine, op_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[SyncOp]]:
    """The server's op ledger rows for these op ids (a list each, to count them)."""
    ids = list(op_ids)
    rows: dict[uuid.UUID, list[SyncOp]] = {i: [] for i in ids}
    with Session(engine) as session:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in session.scalars(select(SyncOp).where(col(SyncOp.op_id).in_(chunk))):
                rows[row.op_id].append(row)
    return rows


def audit_actions(
    engine: Engine, entity_type: str, record_ids: Iterable[uuid.UUID]
) -> dict[str, Counter[str]]:
    """Per record id (as text): how many audit entries of each action it has."""
    ids = [str(i) for i in record_ids]
    out: dict[str, Counter[str]] = {i: Counter() for i in ids}
    with Session(engine) as session:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = session.execute(
                select(col(AuditEntry.entity_id), col(AuditEntry.action)).where(
                    col(AuditEntry.entity_type) == entity_type,
                    col(AuditEntry.entity_id).in_(chunk),
                )
            )
            for entity_id, action in rows:
                out[str(entity_id)][str(action)] += 1
    return out


def field_officers(engine: Engine, names: list[str], district: str) -> list[str]:
    """Field officers of one district (the usernames given), created directly in the store."""
    with Session(engine) as session:
        for name in names:
            create_user(
                session=session,
                principal=None,
                props=UserCreate(
                    username=name, password=PASSWORD, role=Role.field_officer, districts=[district]
                ),
            )
    return names
