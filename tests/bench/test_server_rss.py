"""The benchmarks' server memory counts every process of the server, not only its supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bench.common import RssMonitor, ServerRssMonitor, process_tree
from bench.sync_push import describe_processes

# A parent that holds ~64 MiB in a child, like uvicorn's supervisor and a worker.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import time; block = bytearray(64 * 2**20); print('ready', flush=True); time.sleep(60)"],
    stdout=sys.stdout)
time.sleep(60)
"""


def test_server_rss_sums_the_supervisor_and_its_workers() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 10
        while len(process_tree(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = process_tree(parent.pid)
        assert tree[0] == parent.pid
        assert len(tree) == 2
        assert describe_processes(tree) == "2: supervisor 1, other 1"

        alone, whole = RssMonitor(parent.pid), ServerRssMonitor(parent.pid)
        try:
            assert whole.processes() == tree
            assert whole.rss_bytes() - alone.rss_bytes() > 60 * 2**20
            with whole.window() as w:
                pass
            assert w.peak_bytes >= whole.rss_bytes() - 2**20
            assert w.peak_bytes - alone.rss_bytes() > 60 * 2**20
        finally:
            alone.stop()
            whole.stop()
    finally:
        for pid in reversed(process_tree(parent.pid)):
            os.kill(pid, signal.SIGKILL)
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
