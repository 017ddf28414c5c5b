"""The HTTP/1.1 protocol the server runs: uvicorn's h11, with its own 400s as problem+json,
and with Nagle's algorithm off on every connection.

A request h11 cannot frame (a malformed `Content-Length`, two different ones, a broken request
line) never reaches the application: uvicorn answers it itself, as `text/plain`. This protocol
answers it the way every other refusal is answered, as an RFC 9457 problem. Serve with
`uvicorn.run(app, http=ProblemH11Protocol)`.

With `--workers N` uvicorn binds the listening socket itself, with `proto` 0; accepted sockets
inherit it, and asyncio sets TCP_NODELAY only on sockets whose `proto` is IPPROTO_TCP
(Kludex/uvicorn#3149). A response then leaves as two writes (head, body), and the body waits
for the client's delayed ACK: about 40 ms on every keep-alive request. The protocol sets it.
"""

from __future__ import annotations

import asyncio
import socket

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from backend.api.jsonio import dumps
from backend.errors import PROBLEM_CONTENT_TYPE, MalformedRequest


def framing_problem() -> bytes:
    error = MalformedRequest(
        "the request could not be read as HTTP/1.1: check Content-Length (one decimal number), "
        "Transfer-Encoding and the request line"
    )
    return dumps(error.problem("about:blank"))


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on a TCP connection (a Unix socket is left alone)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ProblemH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        super().connection_made(transport)

    def send_400_response(self, msg: str) -> None:
        body = framing_problem()
        headers = [
            (b"content-type", PROBLEM_CONTENT_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
