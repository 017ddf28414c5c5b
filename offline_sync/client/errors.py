"""The reference client's error tree; every error it raises on purpose is one of these.

ClientError
 ├── NotEnrolled        the database has no device credential yet: run enrol first
 ├── UnknownRecord      update or delete of a record the replica does not hold
 ├── TransportFailed    the server stayed unreachable (or kept answering 5xx) after every retry
 ├── ProtocolError      the server's answer does not follow the protocol (say, a result missing)
 └── ServerRefused      a 4xx answer, with its RFC 9457 problem document
      └── DeviceRevoked  403 on push: this device was revoked; the server quarantined the ops
"""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of every error the client raises on purpose."""


class NotEnrolled(ClientError):
    pass


class UnknownRecord(ClientError):
    pass


class TransportFailed(ClientError):
    pass


class ProtocolError(ClientError):
    pass


class ServerRefused(ClientError):
    """A 4xx answer; `problem` is the RFC 9457 document (or what the server sent instead)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        title = problem.get("detail") or problem.get("title") or "refused"
        super().__init__(f"HTTP {status}: {title}")


class DeviceRevoked(ServerRefused):
    pass
