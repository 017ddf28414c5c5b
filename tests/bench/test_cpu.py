"""The benchmarks' CPU figures (`bench.cpu`): a busy process counts, an idle one does not, and
the database figure is the server's own PostgreSQL sessions or, where there are none, absent."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from sqlalchemy import Engine, text

from bench.cpu import cpu_seconds, cpu_window, database_backends

# Burns 0.3 s of CPU, then waits to be killed: its times stay readable after the work.
BUSY = (
    "import time\nend = time.process_time() + 0.3\n"
    "while time.process_time() < end: pass\ntime.sleep(30)\n"
)
IDLE = "import time; time.sleep(30)"


def run(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_seconds_grow_with_work_and_are_none_for_a_process_that_is_gone() -> None:
    before = cpu_seconds(os.getpid())
    burn(0.3)
    after = cpu_seconds(os.getpid())
    assert before is not None and after is not None
    assert after - before >= 0.25
    child = run(IDLE)
    assert cpu_seconds(child.pid) is not None
    child.kill()
    child.wait()
    assert cpu_seconds(child.pid) is None


def test_cpu_window_charges_each_group_its_own_processes_from_zero_for_late_ones() -> None:
    idle = run(IDLE)
    busy: list[subprocess.Popen[bytes]] = []
    try:
        with cpu_window(
            {
                "busy": lambda: [p.pid for p in busy],
                "idle": lambda: [idle.pid],
                "unknown": lambda: None,
            }
        ) as window:
            busy.append(run(BUSY))  # starts inside the window: counted from zero
            time.sleep(1.0)
    finally:
        for p in [idle, *busy]:
            p.kill()
            p.wait()
    assert window.seconds["unknown"] is None
    idle_seconds, busy_seconds = window.seconds["idle"], window.seconds["busy"]
    assert idle_seconds is not None and idle_seconds < 0.1
    assert busy_seconds is not None and 0.25 <= busy_seconds < 0.9


def test_database_backends_are_the_other_sessions_on_postgis_and_none_on_spatialite(
    engine: Engine,
) -> None:
    found = database_backends(engine)
    if engine.dialect.name == "sqlite":
        assert found is None
        return
    with engine.connect() as other:
        pid = other.execute(text("SELECT pg_backend_pid()")).scalar_one()
        found = database_backends(engine)
        assert found is not None and pid in found
        assert cpu_seconds(pid) is not None  # a local server: its backends are readable
