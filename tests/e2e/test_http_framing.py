"""A request HTTP/1.1 cannot frame gets a problem+json 400, sent over a raw socket.

h11 refuses a malformed `Content-Length` before the application sees the request; the server's
protocol (backend.api.http11) answers that refusal as a problem too.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine

from backend.api.http11 import ProblemH11Protocol
from backend.app import create_app
from backend.settings import Settings
from tests.e2e.conftest import free_port

MALFORMED_LENGTHS = [b"abc", b"-1", b"+5", b"0x10", b"5, 6", b"", b"5\xc2\xb2", b"1" * 40]


@pytest.fixture(scope="module")
def port(engine: Engine, settings: Settings) -> Iterator[int]:
    """The application under uvicorn with the server's protocol, on loopback."""
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=free_port(),
        http=ProblemH11Protocol,
        log_level="error",
        lifespan="off",
    )
    try:
        with serving(config):
            yield config.port
    finally:
        app.state.engine.dispose()  # lifespan is off: nobody else closes its pool


@contextmanager
def serving(config: uvicorn.Config, **run: Any) -> Iterator[uvicorn.Server]:
    """uvicorn in a thread until the block ends; `run` goes to `Server.run` (e.g. sockets)."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("length", MALFORMED_LENGTHS, ids=repr)
def test_malformed_content_length_is_a_problem_400(port: int, length: bytes) -> None:
    status, headers, body = exchange(
        port,
        b"POST /api/v1/miners HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + length + b"\r\nConnection: close\r\n\r\n{}",
    )
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 400
    assert "Content-Length" in problem["detail"]


def test_two_different_content_lengths_are_a_problem_400(port: int) -> None:
    status, headers, _ = exchange(
        port,
        b"POST /api/v1/miners HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Content-Length: 3\r\nConnection: close\r\n\r\n{}",
    )
    assert (status, headers["content-type"]) == (400, "application/problem+json")


def test_a_well_framed_request_still_reaches_the_application(port: int) -> None:
    status, headers, _ = exchange(
        port,
        b"POST /api/v1/miners HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    assert (status, headers["content-type"]) == (401, "application/problem+json")


def test_a_connection_on_a_socket_bound_the_way_workers_get_it_has_nagle_off() -> None:
    """`--workers N`: uvicorn binds the socket (proto 0) and asyncio leaves Nagle on."""

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        assert scope["type"] == "http"
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), http=ProblemH11Protocol, lifespan="off"
    )
    listener = config.bind_socket()  # what the multiprocess supervisor hands each worker
    with (
        serving(config, sockets=[listener]) as server,
        socket.create_connection(("127.0.0.1", config.port), timeout=10) as client,
    ):
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert client.recv(65536).startswith(b"HTTP/1.1 204")
        (connection,) = server.server_state.connections
        accepted = connection.transport.get_extra_info("socket")  # type: ignore[attr-defined]
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
