"""What the HTTP benchmarks share: a throwaway database, a real server, its memory, printing.

`bench_server()` creates a fresh PostGIS database (or, with `database="spatialite"`, a new
SQLite + SpatiaLite file), migrates it, seeds the demo country, creates a field officer for
Kono (SL-E-KO) and a ministry user, starts `python -m backend serve` on a free loopback port
exactly as an operator would, enrols one device and samples the server's resident memory every
50 ms, summed over uvicorn's supervisor and its workers (`serve` runs one worker per core).
Leaving the `with` block stops the server and drops the database.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from backend import schema
from backend.auth.models import Role
from backend.auth.schemas import UserCreate
from backend.auth.users import create_user
from backend.db import make_engine, session_factory
from backend.registry.demo import seed_demo
from backend.settings import Settings
from backend.sync import feed  # noqa: F401  (the app's publisher: the demo reaches the feed)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGIS_URL = "postgresql://alluvial:alluvial@127.0.0.1:5432/alluvial_test"
DISTRICT = "SL-E-KO"  # Kono: the field officer's district
PASSWORD = "bench-password-long-enough"
SAMPLE_SECONDS = 0.05
# Other work on the machine skews every figure: the tables say how busy it was.
LOAD_AT_START = os.getloadavg()[0]


def postgis_url() -> str:
    """The same server the test suite uses (`./dev test` creates it)."""
    return os.environ.get("TEST_POSTGIS_URL", DEFAULT_POSTGIS_URL)


def libpq_url(database_url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg's own `connect` takes it (no driver suffix)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def _autocommit(url: str) -> Engine:
    return make_engine(Settings(database_url=url), isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextmanager
def fresh_postgis_database(base_url: str) -> Iterator[str]:
    """A new database with PostGIS, dropped afterwards (as tests.conftest does for the suite)."""
    name = f"{make_url(base_url).database}_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _autocommit(base_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        probe = _autocommit(url)
        with probe.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        probe.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def fresh_database(database: str, base_url: str | None = None) -> Iterator[str]:
    """A new, empty database of the kind named: `postgis` on the server at `base_url` (default
    `postgis_url()`), or `spatialite`: a file in a temporary folder, or `base_url` if it is a
    `sqlite:///` URL (the file must not exist yet)."""
    if database == "postgis":
        with fresh_postgis_database(base_url or postgis_url()) as url:
            yield url
    elif database == "spatialite":
        if base_url is not None:
            if not base_url.startswith("sqlite:///"):
                raise ValueError(f"a SpatiaLite database is a sqlite:/// URL, not {base_url}")
            if Path(base_url.removeprefix("sqlite:///")).exists():
                raise ValueError(f"{base_url} exists; the benchmark wants a new file")
            yield base_url
            return
        with tempfile.TemporaryDirectory(prefix="bench-sqlite-") as tmp:
            yield f"sqlite:///{tmp}/bench.sqlite"
    else:
        raise ValueError(f"unknown database {database!r}: postgis or spatialite")


# --- the server's memory --------------------------------------------------------------------------


def _status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class RssMonitor:
    """Samples a process's VmRSS every 50 ms; `window()` gives the peak inside a `with` block.

    Where the kernel lets us reset the high-water mark (/proc/<pid>/clear_refs, "5"), VmHWM
    catches spikes shorter than a sample; otherwise the sampled maximum stands alone.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._peak_kib = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._hwm_resettable = self._reset_hwm()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _reset_hwm(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            try:
                rss = _status_kib(self.pid, "VmRSS")
            except (OSError, KeyError):
                return  # the process is gone
            with self._lock:
                self._peak_kib = max(self._peak_kib, rss)

    def rss_bytes(self) -> int:
        return _status_kib(self.pid, "VmRSS") * 1024

    def hwm_bytes(self) -> int:
        """VmHWM: the process's peak since start, or since the last window began."""
        return _status_kib(self.pid, "VmHWM") * 1024

    def idle_bytes(self, settle_seconds: float = 0.5) -> int:
        """Resident memory at rest: the least of a few samples after a short pause."""
        samples = []
        for _ in range(5):
            time.sleep(settle_seconds / 5)
            samples.append(self.rss_bytes())
        return min(samples)

    @contextmanager
    def window(self) -> Iterator[Window]:
        w = Window(start_bytes=self.rss_bytes())
        with self._lock:
            self._peak_kib = w.start_bytes // 1024
            resettable = self._hwm_resettable and self._reset_hwm()
        try:
            yield w
        finally:
            with self._lock:
                sampled = self._peak_kib * 1024
            w.peak_bytes = max(sampled, self.hwm_bytes() if resettable else 0, self.rss_bytes())
            w.end_bytes = self.rss_bytes()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


@dataclass
class Window:
    start_bytes: int
    peak_bytes: int = 0
    end_bytes: int = 0


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants: `python -m backend serve` is uvicorn's supervisor and, with
    more than one worker (the default: one per core), its worker processes."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass  # gone, or the kernel does not list children
    return found


class ServerRssMonitor(RssMonitor):
    """`RssMonitor` over the server's process tree (supervisor and workers), summed.

    The peak of a window is at least the sum of each process's own peak (VmHWM, reset at the
    window's start), so two workers' peaks at different moments both count: an upper bound
    on the server's memory at any one moment, never below it.
    """

    def processes(self) -> list[int]:
        return process_tree(self.pid)

    def _sum_kib(self, key: str) -> int:
        total = 0
        for p in self.processes():
            # A process may end between the listing and the read.
            with contextlib.suppress(OSError, KeyError):
                total += _status_kib(p, key)
        return total

    def _reset_hwm(self) -> bool:
        done = True
        for p in self.processes():
            try:
                with open(f"/proc/{p}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                done = False
        return done

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            if not Path(f"/proc/{self.pid}").exists():
                return
            rss = self._sum_kib("VmRSS")
            with self._lock:
                self._peak_kib = max(self._peak_kib, rss)

    def rss_bytes(self) -> int:
        return self._sum_kib("VmRSS") * 1024

    def hwm_bytes(self) -> int:
        return self._sum_kib("VmHWM") * 1024


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Device:
    device_id: str
    token: str
    seq: int = 0

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclass
class BenchServer:
    base_url: str
    db_url: str
    engine: Engine
    pid: int
    monitor: ServerRssMonitor
    log: Path
    user_tokens: dict[str, str] = field(default_factory=dict)
    officer_id: uuid.UUID = field(default_factory=uuid.uuid4)
    device: Device = field(default_factory=lambda: Device("", ""))

    def client(self, token: str, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(300),
            **kwargs,
        )

    def enrol(self, who: str = "officer", name: str = "bench-tablet") -> Device:
        with self.client(self.user_tokens[who]) as c:
            r = c.post("/sync/v1/devices", json={"name": name, "platform": "bench"})
        r.raise_for_status()
        body = r.json()
        return Device(device_id=body["device_id"], token=body["device_token"])


def wait_until_up(
    url: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    *,
    seconds: float = 60,
    what: str = "server",
    error: type[Exception] = RuntimeError,
) -> None:
    """Poll `url` until it answers 200; `error` if the process exits first or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise error(f"{what} exited with {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise error(f"{what} did not answer {url} within {seconds:.0f} s")


def stop(proc: subprocess.Popen[bytes], seconds: float = 15) -> None:
    """Terminate a process we started; kill it if it has not ended within `seconds`."""
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _users(engine: Engine) -> uuid.UUID:
    """A Kono field officer and a ministry user; returns the officer's id."""
    officer_id = uuid.UUID(int=0)
    with session_factory(engine)() as session:
        for name, role, districts in (
            ("officer", Role.field_officer, [DISTRICT]),
            ("ministry", Role.ministry, []),
        ):
            user = create_user(
                session=session,
                principal=None,
                props=UserCreate(
                    username=f"bench-{name}", password=PASSWORD, role=role, districts=districts
                ),
            )
            if name == "officer":
                officer_id = user.id
    return officer_id


@contextmanager
def bench_server(
    *, base_url: str | None = None, database: str = "postgis"
) -> Iterator[BenchServer]:
    with (
        fresh_database(database, base_url) as db_url,
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
    ):
        settings = Settings(database_url=db_url)
        engine = make_engine(settings)
        try:
            schema.upgrade(engine)
            with session_factory(engine)() as session:
                seed_demo(session=session, settings=settings)
            officer_id = _users(engine)
            log = Path(tmp) / "server.log"
            port = free_port()
            env = {**os.environ, "DATABASE_URL": db_url}
            with log.open("wb") as sink:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "backend",
                        "serve",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            monitor: ServerRssMonitor | None = None
            try:
                url = f"http://127.0.0.1:{port}"
                wait_until_up(url + "/healthz", proc, log)
                monitor = ServerRssMonitor(proc.pid)
                server = BenchServer(
                    base_url=url,
                    db_url=db_url,
                    engine=engine,
                    pid=proc.pid,
                    monitor=monitor,
                    log=log,
                    officer_id=officer_id,
                )
                with httpx.Client(base_url=url, timeout=30) as c:
                    for who in ("officer", "ministry"):
                        r = c.post(
                            "/api/v1/auth/token",
                            json={"username": f"bench-{who}", "password": PASSWORD},
                        )
                        r.raise_for_status()
                        server.user_tokens[who] = r.json()["access_token"]
                server.device = server.enrol("officer")
                yield server
            finally:
                if monitor is not None:
                    monitor.stop()
                stop(proc)
            errors = log.read_text()
            if "Traceback" in errors:
                raise RuntimeError(f"the server logged an error:\n{errors[-4000:]}")
        finally:
            engine.dispose()


# --- printing -------------------------------------------------------------------------------------


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; enough for a few dozen batch latencies."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def command_line(module: str, args: dict[str, Any]) -> str:
    parts = ["python", "-m", module]
    for name, value in args.items():
        parts += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join(parts)


def print_table(title: str, command: str, rows: list[tuple[str, str, str]]) -> None:
    """Rows of (figure, value, server RSS beside it)."""
    head = ("figure", "value", "server RSS")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    rule = "  ".join("-" * w for w in widths)
    print()
    print(f"## {title}")
    print(f"command: {command}")
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]} "
        f"({os.path.realpath(sys.executable)}), "
        f"{time.strftime('%Y-%m-%d')}, load average {LOAD_AT_START:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end"
    )
    print(rule)
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print(rule)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(rule, flush=True)


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)
