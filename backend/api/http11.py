"""The HTTP/1.1 protocol the server runs: uvicorn's h11, with its own 400s as problem+json.

A request h11 cannot frame (a malformed `Content-Length`, two different ones, a broken request
line) never reaches the application: uvicorn answers it itself, as `text/plain`. This protocol
answers it the way every other refusal is answered, as an RFC 9457 problem. Serve with
`uvicorn.run(app, http=ProblemH11Protocol)`.
"""

from __future__ import annotations

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


class ProblemH11Protocol(H11Protocol):
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
