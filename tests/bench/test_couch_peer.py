"""The peer's output is parsed strictly, its script is found in a fixed order, ratios are right."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench import couch_peer, sync_push
from bench.couch_peer import PeerError, PeerRun, find_script, parse_replicate_output, run_peer
from bench.sync_push import Measured, databases_arg, peer_rows

SEEN = "pouchdb replicate 10000 docs in 3.44 s = 2908 docs/s\n"


def test_parse_takes_docs_and_seconds_and_recomputes_the_rate() -> None:
    run = parse_replicate_output("(node:1) warning: something\n" + SEEN)
    assert run == PeerRun(docs=10000, seconds=3.44)
    assert run.docs_per_second == pytest.approx(10000 / 3.44)


@pytest.mark.parametrize(
    "output",
    [
        "",
        "Error: connect ECONNREFUSED 127.0.0.1:5986\n",
        SEEN + SEEN,  # two figures: which one would be the run's?
        "pouchdb replicate 10 docs in 0.00 s = Infinity docs/s\n",  # too fast to time
        "pouchdb replicate 10 docs in 0.50 s docs/s\n",
    ],
)
def test_parse_refuses_output_without_exactly_one_usable_figure(output: str) -> None:
    with pytest.raises(PeerError):
        parse_replicate_output(output)


def test_script_given_wins_then_the_shared_copy_then_the_install_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install = tmp_path / "install"
    install.mkdir()
    local = install / "pouchdb-replicate.js"
    local.write_text("// local copy")
    shared = tmp_path / "shared" / "pouchdb-replicate.js"
    monkeypatch.setattr(couch_peer, "SHARED_SCRIPT", shared)

    assert find_script(install, None) == local.resolve()
    shared.parent.mkdir()
    shared.write_text("// shared")
    assert find_script(install, None) == shared.resolve()
    given = tmp_path / "mine.js"
    given.write_text("// given")
    assert find_script(install, given) == given.resolve()
    with pytest.raises(PeerError):
        find_script(install, tmp_path / "missing.js")


def test_no_script_anywhere_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(couch_peer, "SHARED_SCRIPT", tmp_path / "nowhere.js")
    with pytest.raises(PeerError, match=r"pouchdb-replicate\.js"):
        find_script(tmp_path, None)


def test_a_folder_without_the_npm_install_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    script = tmp_path / "pouchdb-replicate.js"
    script.write_text("// never run")
    with pytest.raises(PeerError, match="npm install"):
        run_peer(tmp_path, 10, script)


def test_peer_rows_give_push_over_peer_for_each_database() -> None:
    runs = [Measured("postgis", 600.0, []), Measured("spatialite", 1500.0, [])]
    rows = peer_rows(PeerRun(docs=3000, seconds=1.5), Path("p.js"), runs)
    by_label = {label: value for label, value, _ in rows}
    assert by_label["peer: PouchDB replicate into pouchdb-server"].startswith("2,000 docs/s")
    assert by_label["push / peer (postgis)"].startswith("0.30 ")
    assert by_label["push / peer (spatialite)"].startswith("0.75 ")


def test_databases_are_one_or_both_each_once_in_the_order_given() -> None:
    assert databases_arg("spatialite") == ["spatialite"]
    assert databases_arg("spatialite, postgis") == ["spatialite", "postgis"]
    for bad in ("", "mysql", "postgis,postgis", "postgis,"):
        with pytest.raises(argparse.ArgumentTypeError):
            databases_arg(bad)


def test_push_benchmark_refuses_a_peer_folder_without_the_install_before_pushing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        sync_push.main(["--ops", "10", "--peer", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "pouchdb-server is missing" in err
    assert "starting a fresh" not in err
