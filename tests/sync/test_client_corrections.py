"""A rejected create on the reference client: it says which op was refused and why, what waits
behind it, and lets the user correct it and send it again (library and command line)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from offline_sync.client import ClientError, DeviceClient, licence_status
from offline_sync.client.__main__ import run
from offline_sync.protocol import OpStatus
from tests.sync.conftest import BASE_URL, FakeServer, miner

Open = Callable[..., DeviceClient]


def test_rejected_create_is_corrected_and_resent_and_the_edits_behind_it_then_apply(
    open_device: Open, fake: FakeServer
) -> None:
    device = open_device()
    rid = device.create("miner", miner(full_name=""))
    later = device.update("miner", rid, {"phone": "+232 76 123456"})
    report = device.push()
    assert [r.status for r in report.results] == [OpStatus.rejected, OpStatus.pending]
    (problem,) = device.problems()
    assert problem.op.record_id == rid and problem.result is not None
    assert [e.pointer for e in problem.result.errors] == ["/full_name"]
    assert [w.op.op_id for w in device.waiting_on(problem.op.op_id)] == [later.op_id]
    fixed = device.correct(problem.op.op_id, {"full_name": "Aminata Sesay"})
    assert fixed.op_id != problem.op.op_id and fixed.record_id == rid
    assert fixed.fields["full_name"] == "Aminata Sesay" and "district" in fixed.fields
    assert device.problems() == []
    device.push()
    device.push()  # the waiting edit is asked again and now answered for good
    assert device.waiting_on(problem.op.op_id) == []
    assert fake.records[("miner", rid)].data["full_name"] == "Aminata Sesay"
    assert fake.records[("miner", rid)].data["phone"] == "+232 76 123456"
    with pytest.raises(ClientError):
        device.correct(fixed.op_id, {})  # only a rejected op can be corrected


def test_cli_names_the_rejected_op_what_waits_and_corrects_it(
    tmp_path: Path, fake: FakeServer
) -> None:
    transport = httpx.MockTransport(fake.handler)
    db = str(tmp_path / "cli.sqlite")

    def cli(*argv: str, stdin: str = "") -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run(["--db", db, *argv], io.StringIO(stdin), out, err, transport=transport)
        return code, out.getvalue()

    cli("enrol", "--url", BASE_URL, "--user", "officer", "--name", "t1", stdin="secret\n")
    rid = json.loads(cli("create", "miner", json.dumps(miner(full_name="")))[1])["record_id"]
    cli("update", "miner", rid, '{"phone": "+5"}')
    assert cli("push")[0] == 1
    code, out = cli("results", "--problems")
    (problem,) = json.loads(out)
    assert code == 1 and problem["record_id"] == rid and problem["waiting"] == [2]
    assert problem["result"]["errors"][0]["pointer"] == "/full_name"
    code, out = cli("correct", problem["op_id"], '{"full_name": "Aminata Sesay"}')
    assert code == 0 and json.loads(out)["corrects"] == problem["op_id"]
    assert cli("push")[0] == 0
    cli("push")
    code, out = cli("results", "--problems")
    assert code == 0 and json.loads(out) == []
    assert fake.records[("miner", uuid.UUID(rid))].data["phone"] == "+5"


def test_licence_status_is_derived_on_the_devices_own_date() -> None:
    today = date(2026, 11, 30)
    data = {"status": "active", "valid_from": "2025-01-01", "valid_to": today.isoformat()}
    assert licence_status(data, today) == "active"
    assert licence_status(data, today + timedelta(days=1)) == "expired"
    assert licence_status({**data, "status": "suspended"}, today) == "suspended"
