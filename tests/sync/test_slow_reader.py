"""A tablet on a slow link pulling a page holds no lock, no transaction and no connection while
it downloads: writers beside it go on, on both databases."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, text

from backend.app import create_app
from backend.db import reader_factory
from backend.settings import Settings
from offline_sync.server.tables import SyncChange
from tests.e2e.conftest import Api
from tests.sync.server_helpers import Device, miner_fields


@pytest.fixture
def reader(api: Api) -> Iterator[Device]:
    device = Device(api, "ministry")
    yield device
    device.close()


@pytest.fixture
def writer(api: Api) -> Iterator[Device]:
    device = Device(api, "officer")
    yield device
    device.close()


def test_read_session_leaves_the_write_lock_to_writers(engine: Engine) -> None:
    with reader_factory(engine)() as session:
        session.execute(select(SyncChange.seq).limit(1)).all()  # a read transaction is open
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            if engine.dialect.name == "sqlite":
                cursor.execute("PRAGMA busy_timeout = 200")  # fail fast instead of waiting
                cursor.execute("BEGIN IMMEDIATE")  # the write lock: free although a read is open
            else:
                cursor.execute("SET lock_timeout = '200ms'")
                cursor.execute("LOCK TABLE sync_change IN SHARE ROW EXCLUSIVE MODE")
            raw.rollback()
        finally:
            raw.close()


def test_stalled_pull_download_leaves_writers_free_and_holds_no_connection(
    api: Api, settings: Settings, reader: Device, writer: Device
) -> None:
    """The page is read, the session closed, and only then does the first byte leave: a
    reader that stops reading after the first chunk blocks nobody."""
    for _ in range(3):  # enough changes that a page leaves in more than one chunk
        writer.results(
            *(writer.op("miner", "create", uuid.uuid4(), miner_fields()) for _ in range(120))
        )
    app = create_app(settings, check_schema=False)
    app_engine: Engine = app.state.engine
    token = reader.http.headers["Authorization"].encode()
    first_chunk = threading.Event()
    resume = threading.Event()
    chunks: list[bytes] = []

    async def call() -> None:
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/sync/v1/pull",
            "raw_path": b"/sync/v1/pull",
            "query_string": b"limit=5000",
            "root_path": "",
            "headers": [(b"authorization", token), (b"host", b"test")],
            "client": ("127.0.0.1", 1),
            "server": ("test", 80),
            "app": app,
        }

        received: list[bool] = []

        async def receive() -> dict[str, Any]:
            if not received:
                received.append(True)
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the tablet never hangs up; the answer just ends
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200
            if message["type"] == "http.response.body" and message.get("body"):
                chunks.append(message["body"])
                if len(chunks) == 1:
                    first_chunk.set()
                    # The tablet's link stalls here, in the middle of the download.
                    await asyncio.get_running_loop().run_in_executor(None, resume.wait, 60)

        await app(scope, receive, send)

    puller = threading.Thread(target=lambda: asyncio.run(call()))
    puller.start()
    try:
        assert first_chunk.wait(60)
        assert app_engine.pool.checkedout() == 0  # no connection held by the stalled stream
        if app_engine.dialect.name == "postgresql":
            with api.engine.connect() as conn:
                idle = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state LIKE 'idle in transaction%'"
                    )
                ).scalar_one()
            assert idle == 0
        # A writer (the real server, another process) is not held up by the stalled reader.
        writer.http.timeout = httpx.Timeout(10)
        answer = writer.results(writer.op("miner", "create", uuid.uuid4(), miner_fields()))
        assert answer[0]["status"] == "applied"
    finally:
        resume.set()
        puller.join(60)
        app_engine.dispose()
    assert len(chunks) > 2 and chunks[-1].endswith(b"}")
