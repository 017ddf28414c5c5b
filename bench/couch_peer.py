"""The CouchDB-protocol peer the push is measured against: pouchdb-server and its replicate script.

`run_peer(directory, docs, script)` starts `node_modules/.bin/pouchdb-server` from
`directory` (an npm install of `pouchdb-server@4 pouchdb-node@9`, made outside the
repository; see bench/README.md) on a free loopback port with a throwaway data folder, runs
`node pouchdb-replicate.js DOCS http://127.0.0.1:PORT/purchases`, parses the docs/s it
prints, and stops the server. The script is not ours: it comes from `../shared/peers/` and is
used where it lies (or from `directory`, where the install steps copy it); `NODE_PATH` points
at `directory/node_modules` so it finds `pouchdb-node` either way, and `TMPDIR` points at a
folder removed afterwards, since the script leaves its local leveldb database in the temporary
folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, free_port, stop, wait_until_up

SCRIPT_NAME = "pouchdb-replicate.js"
# Where the peer's script is kept, beside the repository (the issue points there).
SHARED_SCRIPT = ROOT.parent / "shared" / "peers" / SCRIPT_NAME
_LINE = re.compile(
    r"pouchdb replicate (?P<docs>\d+) docs in (?P<seconds>\d+(?:\.\d+)?) s"
    r" = (?P<rate>\S+) docs/s"  # the script prints Infinity for 0 s: refused below
)


class PeerError(RuntimeError):
    """The peer could not be installed, started or run, or printed something unexpected."""


@dataclass(frozen=True)
class PeerRun:
    docs: int
    seconds: float

    @property
    def docs_per_second(self) -> float:
        return self.docs / self.seconds


def parse_replicate_output(output: str) -> PeerRun:
    """The figure line of `pouchdb-replicate.js`: `pouchdb replicate N docs in S s = R docs/s`.

    The rate is recomputed from N and S (the script rounds it to a whole number); an output
    with no such line, or with zero seconds, is an error rather than a figure.
    """
    matches = list(_LINE.finditer(output))
    if len(matches) != 1:
        raise PeerError(f"expected one 'pouchdb replicate … docs/s' line, got: {output[-2000:]!r}")
    match = matches[0]
    seconds = float(match["seconds"])
    if seconds <= 0:
        raise PeerError(f"the peer reports {seconds} s, no rate can be taken: {match[0]!r}")
    return PeerRun(docs=int(match["docs"]), seconds=seconds)


def find_script(directory: Path, script: Path | None) -> Path:
    """`script` if given; else the shared copy beside the repository, where the script comes
    from; else the copy the install steps put in `directory`."""
    if script is not None:
        if not script.is_file():
            raise PeerError(f"no peer script at {script}")
        return script.resolve()
    for candidate in (SHARED_SCRIPT, directory / SCRIPT_NAME):
        if candidate.is_file():
            return candidate.resolve()
    raise PeerError(f"no {SCRIPT_NAME} at {SHARED_SCRIPT} nor in {directory}")


def server_binary(directory: Path) -> Path:
    """`directory`'s pouchdb-server, or an error saying how to install it."""
    binary = directory / "node_modules" / ".bin" / "pouchdb-server"
    if not binary.exists():
        raise PeerError(
            f"{binary} is missing: install the peer first "
            "(npm install --no-audit --no-fund pouchdb-server@4 pouchdb-node@9)"
        )
    return binary


def run_peer(directory: Path, docs: int, replicate: Path) -> PeerRun:
    """Replicate `docs` documents into a fresh pouchdb-server on loopback; the parsed figure."""
    directory = directory.resolve()
    binary = server_binary(directory)
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        work = Path(tmp)
        (work / "srvdata").mkdir()
        (work / "tmp").mkdir()
        port = free_port()
        log = work / "pouchdb-server.log"
        with log.open("wb") as sink:
            # cwd is the throwaway folder: pouchdb-server writes its config.json and log there.
            server = subprocess.Popen(
                [str(binary), "-d", str(work / "srvdata"), "-p", str(port), "-o", "127.0.0.1"],
                cwd=work,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base + "/", server, log, what="pouchdb-server", error=PeerError)
            env = {
                **os.environ,
                "NODE_PATH": str(directory / "node_modules"),
                "TMPDIR": str(work / "tmp"),
            }
            done = subprocess.run(
                ["node", str(replicate), str(docs), f"{base}/purchases"],
                cwd=directory,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
        finally:
            stop(server)
    if done.returncode != 0:
        raise PeerError(f"{replicate.name} exited with {done.returncode}: {done.stderr[-2000:]}")
    run = parse_replicate_output(done.stdout)
    if run.docs != docs:
        raise PeerError(f"the peer wrote {run.docs} docs of {docs}: {done.stdout!r}")
    return run
