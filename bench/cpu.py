"""CPU time a benchmark window cost the server's processes and the database's own backends.

Wall time on a shared machine moves with the neighbours; CPU seconds move much less, and they
say where a push's time goes: Python in the server, or PostgreSQL. Both are read from
`/proc/<pid>/stat` (the process's own user + system time), so they need the server and, for
the database, PostgreSQL on this machine. A PostgreSQL elsewhere,
or SpatiaLite (which runs inside the server's processes), has no backend figure: `None`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine, text

_TICKS = os.sysconf("SC_CLK_TCK")
_LOCAL_HOSTS = frozenset({None, "", "localhost", "127.0.0.1", "::1"})


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` so far; None when it is gone (or not ours to read)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    fields = stat[stat.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def database_backends(engine: Engine) -> list[int] | None:
    """Process ids of the other sessions on `engine`'s PostgreSQL database (the server's pool),
    when that PostgreSQL runs on this machine; None for SQLite or a remote server."""
    if engine.dialect.name != "postgresql" or engine.url.host not in _LOCAL_HOSTS:
        return None
    with engine.connect() as conn:
        pids = conn.scalars(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
    return [int(p) for p in pids]


@dataclass
class CpuWindow:
    """CPU seconds a `with cpu_window(...)` block cost each group of processes (None: unknown)."""

    seconds: dict[str, float | None] = field(default_factory=dict)


@contextmanager
def cpu_window(groups: dict[str, Callable[[], list[int] | None]]) -> Iterator[CpuWindow]:
    """Measure the CPU each group of processes spends inside the block.

    `groups` maps a name to what lists its processes now; it is asked at the start and at the
    end, and a process that appears meanwhile (a new pooled connection) counts from zero.
    """
    start: dict[str, dict[int, float] | None] = {}
    for name, listing in groups.items():
        pids = listing()
        start[name] = None if pids is None else _readings(pids)
    window = CpuWindow()
    yield window
    for name, listing in groups.items():
        before = start[name]
        pids = listing()
        if before is None or pids is None:
            window.seconds[name] = None
            continue
        after = _readings(pids)
        window.seconds[name] = sum(after[p] - before.get(p, 0.0) for p in after)


def _readings(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        seconds = cpu_seconds(pid)
        if seconds is not None:
            out[pid] = seconds
    return out
