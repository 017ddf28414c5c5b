"""A `python -m backend serve` that a test stops gracefully or kills outright, then starts again
on the same port and database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import START_TIMEOUT_S, free_port, serve_command


class KillableServer:
    """The real server, as an operator runs it (every worker process), in its own process group.

    `stop()` is SIGTERM: uvicorn finishes the requests in flight. `kill()` is SIGKILL to the
    whole group: every worker dies wherever it is, a push half-applied included, as when the
    machine loses power. A log with a traceback is a server bug; `tracebacks` keeps the lines
    that say what failed, so that the test can report them after its other checks.
    """

    def __init__(self, database_url: str, logs: Path) -> None:
        self.env = {**os.environ, "DATABASE_URL": database_url}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.starts = 0
        self.kills = 0
        self.tracebacks: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None

    def start(self) -> None:
        assert self._proc is None, "the server is running already"
        self._log = self.logs / f"server-{self.starts}.log"
        with self._log.open("wb") as sink:
            self._proc = subprocess.Popen(
                serve_command(self.port),
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a kill reaches every worker
            )
        self.starts += 1
        self._wait_until_up()

    def stop(self) -> None:
        """SIGTERM and wait: the requests in flight are answered first."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to every process of the server, at once."""
        self.kills += 1
        self._end(signal.SIGKILL)

    def _end(self, how: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, how)
        proc.wait(timeout=30)
        if how is signal.SIGKILL:
            # Workers are in the group too; wait until the port is free before a restart.
            self._wait_until_down()
        assert self._log is not None
        self.tracebacks.extend(server_errors(self._log.read_text(errors="replace")))

    def _wait_until_up(self) -> None:
        assert self._proc is not None and self._log is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"server exited: {self._log.read_text(errors='replace')}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not answer /healthz within {START_TIMEOUT_S} s")

    def _wait_until_down(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.base_url + "/healthz", timeout=0.5)
            except httpx.TransportError:
                return
            time.sleep(0.05)
        raise RuntimeError("a killed server still answers")


def server_errors(log: str) -> list[str]:
    """'what failed: the exception' for each traceback in a server log."""
    out: list[str] = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = next((j for j in range(i + 1, len(lines)) if not lines[j][:1].isspace()), i)
            what = lines[i - 1] if i and not lines[i - 1].startswith(" ") else "?"
            if not what.startswith(("During handling", "The above exception")):
                out.append(f"{what}: {lines[end]}")
    return out
