"""The reference client against the real server (uvicorn, both databases), over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from offline_sync.client import DeviceClient, DeviceRevoked, RetryPolicy, ServerRefused
from offline_sync.protocol import ConflictResolution, OpStatus
from tests.e2e.conftest import PASSWORD, Api
from tests.e2e.helpers import free_spot, point, square, unique

SCOPE = "district:SL-E-KO"
Device = Callable[..., DeviceClient]


class LoseFirstPushAnswer(httpx.BaseTransport):
    """Real HTTP; the first push reaches the server and commits, then its answer is lost."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.lost = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path == "/sync/v1/push" and not self.lost:
            self.lost = True
            response.read()
            raise httpx.ReadError("connection reset after the server committed", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def device(api: Api, tmp_path: Path) -> Iterator[Device]:
    opened: list[DeviceClient] = []

    def enrolled(who: str = "officer", name: str = "tablet", **options: Any) -> DeviceClient:
        options.setdefault("retry", RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05))
        client = DeviceClient.open(tmp_path / f"{name}-{len(opened)}.sqlite", **options)
        opened.append(client)
        client.enrol(api.base_url, api.users[who].username, PASSWORD, name)
        return client

    yield enrolled
    for client in opened:
        client.close()


def miner_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "full_name": unique("Miner"),
        "national_id": unique("NID"),
        "phone": "+232 76 000000",
        "district": "SL-E-KO",
    }
    fields.update(overrides)
    return fields


def test_device_creates_offline_then_syncs_and_holds_what_the_api_shows(
    device: Device, api: Api
) -> None:
    tablet = device()
    rid = tablet.create("miner", miner_fields())
    tablet.update("miner", rid, {"phone": "+232 76 111111"})
    report = tablet.sync()
    assert [r.status for r in report.push.results] == [OpStatus.applied, OpStatus.applied]
    record = tablet.get("miner", rid)
    assert record is not None and record.version == 2 and record.scope == SCOPE
    with api.client("officer") as officer:
        rest = officer.get(f"/api/v1/miners/{rid}")
    assert rest.status_code == 200
    assert record.data == rest.json()


def test_site_and_visit_with_geometry_round_trip(device: Device, api: Api) -> None:
    with api.client("admin") as admin:
        lon, lat = free_spot(admin)
    tablet = device()
    site = tablet.create(
        "site", {"name": unique("site"), "district": "SL-E-KO", "geometry": square(lon, lat)}
    )
    visit = tablet.create(
        "site_visit",
        {
            "site_id": str(site),
            "visited_at": datetime.now(UTC).isoformat(),
            "diggers_counted": 12,
            "geometry": point(lon + 0.0005, lat + 0.0005),
        },
    )
    report = tablet.sync()
    assert [r.status for r in report.push.results] == [OpStatus.applied] * 2, report.push.results
    pulled = tablet.get("site_visit", visit)
    assert pulled is not None and pulled.version == 1
    assert pulled.data["geometry"]["type"] == "Point"


def test_lost_answer_is_replayed_and_answered_duplicate(device: Device, api: Api) -> None:
    tablet = device(transport=LoseFirstPushAnswer())
    rid = tablet.create("miner", miner_fields())
    report = tablet.push()
    assert [(r.status, r.first_status) for r in report.results] == [
        (OpStatus.duplicate, OpStatus.applied)
    ]
    with api.client("officer") as officer:
        assert officer.get(f"/api/v1/miners/{rid}").json()["version"] == 1


def test_rejected_op_keeps_its_rest_style_errors(device: Device) -> None:
    tablet = device()
    bad = tablet.create("miner", miner_fields(phone="not a phone"))
    readonly = tablet.create("licence", {"number": "X"})
    report = tablet.push()
    assert [r.status for r in report.problems] == [OpStatus.rejected, OpStatus.rejected]
    first, second = tablet.problems()
    assert first.op.record_id == bad and first.result is not None
    assert [e.pointer for e in first.result.errors] == ["#/fields/phone"]
    assert second.op.record_id == readonly and second.result is not None
    assert second.result.code == "pull-only"
    assert tablet.get("miner", bad) is None


def test_stale_update_of_another_field_merges(device: Device, api: Api) -> None:
    tablet = device()
    rid = tablet.create("miner", miner_fields())
    tablet.sync()
    with api.client("officer") as officer:
        r = officer.patch(f"/api/v1/miners/{rid}", json={"version": 1, "status": "inactive"})
        assert r.status_code == 200, r.text
    tablet.update("miner", rid, {"phone": "+232 76 222222"})
    report = tablet.sync()
    assert report.push.results[0].status is OpStatus.applied and report.push.results[0].merged
    record = tablet.get("miner", rid)
    assert record is not None
    assert (record.data["status"], record.data["phone"]) == ("inactive", "+232 76 222222")
    with api.client("officer") as officer:
        assert record.data == officer.get(f"/api/v1/miners/{rid}").json()


def test_same_field_conflict_is_listed_resolved_and_synced_back(device: Device, api: Api) -> None:
    tablet = device()
    rid = tablet.create("miner", miner_fields(phone="+232 76 000001"))
    tablet.sync()
    with api.client("admin") as admin:
        r = admin.patch(f"/api/v1/miners/{rid}", json={"version": 1, "phone": "+232 76 000002"})
        assert r.status_code == 200, r.text
    tablet.update("miner", rid, {"phone": "+232 76 000003"})
    report = tablet.sync()
    [conflict] = report.push.problems
    assert conflict.status is OpStatus.conflict and conflict.conflict_id is not None
    record = tablet.get("miner", rid)
    assert record is not None and record.data["phone"] == "+232 76 000002"  # server kept its value
    [info] = [c for c in tablet.conflicts() if c.id == conflict.conflict_id]
    assert info.fields["phone"].server == "+232 76 000002"
    assert info.fields["phone"].device == "+232 76 000003"  # neither value lost

    supervisor = device("admin", name="supervisor")
    resolved = supervisor.resolve(info.id, ConflictResolution(take={"phone": "device"}))
    assert resolved.status == "resolved" and resolved.resolution_version is not None
    tablet.pull()
    record = tablet.get("miner", rid)
    assert record is not None and record.data["phone"] == "+232 76 000003"
    assert record.version == resolved.resolution_version


def test_two_offline_edits_of_one_field_do_not_conflict_with_each_other(device: Device) -> None:
    """A device's own earlier ops are not 'changes since its base' (both carry base 1)."""
    tablet = device()
    rid = tablet.create("miner", miner_fields())
    tablet.sync()
    tablet.update("miner", rid, {"phone": "+232 76 300001"})
    tablet.update("miner", rid, {"phone": "+232 76 300002"})
    tablet.delete("miner", rid)
    report = tablet.sync()
    assert [r.status for r in report.push.results] == [OpStatus.applied] * 3, report.push.results


def test_attachment_upload_resumes_and_leaves_the_missing_list(device: Device, api: Api) -> None:
    tablet = device()
    photo = uuid.uuid4().bytes * 5000  # 80,000 bytes, unique to this run
    sha = tablet.attach(photo)
    rid = tablet.create("miner", miner_fields(photo_ref=sha))
    tablet.push()
    assert sha in tablet.missing_attachments()
    token = tablet.store.get("device_token")
    first = httpx.post(
        f"{api.base_url}/sync/v1/attachments/{sha}",
        params={"offset": 0},
        content=photo[:30000],
        headers={"Authorization": f"Bearer {token}", "X-Attachment-Size": str(len(photo))},
    )
    assert first.status_code == 200 and first.json()["received"] == 30000
    tablet.chunk_size = 16384
    [status] = tablet.upload_attachments()
    assert status.complete and status.received == len(photo)
    assert sha not in tablet.missing_attachments()
    assert tablet.get("miner", rid) is not None


def test_revoked_device_is_refused_and_keeps_its_ops(device: Device, api: Api) -> None:
    tablet = device()
    tablet.create("miner", miner_fields())
    with api.client("admin") as admin:
        r = admin.post(f"/sync/v1/devices/{tablet.device_id}/revoke")
        assert r.status_code == 200, r.text
    with pytest.raises(DeviceRevoked):
        tablet.push()
    assert [e.state for e in tablet.results()] == ["sent"]


def test_cli_enrol_create_sync_status(api: Api, tmp_path: Path) -> None:
    db = str(tmp_path / "cli.sqlite")

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "offline_sync.client", "--db", db, *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    user = api.users["officer"].username
    enrolled = cli("enrol", "--url", api.base_url, "--user", user, "--name", "cli", stdin=PASSWORD)
    assert enrolled.returncode == 0, enrolled.stderr
    assert cli("create", "miner", json.dumps(miner_fields())).returncode == 0
    assert cli("create", "miner", json.dumps(miner_fields(district="nowhere"))).returncode == 0
    synced = cli("sync")
    assert synced.returncode == 1, synced.stderr  # one op rejected
    out = json.loads(synced.stdout)
    assert out["push"]["answered"] == {"applied": 1, "rejected": 1}
    status = cli("status")
    assert json.loads(status.stdout)["ops"] == {"applied": 1, "rejected": 1}


def test_resolving_a_resolved_conflict_is_refused_with_409(device: Device, api: Api) -> None:
    tablet = device()
    rid = tablet.create("miner", miner_fields(phone="+232 76 400001"))
    tablet.sync()
    with api.client("admin") as admin:
        r = admin.patch(f"/api/v1/miners/{rid}", json={"version": 1, "phone": "+232 76 400002"})
        assert r.status_code == 200, r.text
    tablet.update("miner", rid, {"phone": "+232 76 400003"})
    [conflict] = tablet.sync().push.problems
    assert conflict.conflict_id is not None
    supervisor = device("admin", name="supervisor", retry=RetryPolicy(attempts=1))
    supervisor.resolve(conflict.conflict_id, ConflictResolution(take={"phone": "server"}))
    with pytest.raises(ServerRefused) as again:
        supervisor.resolve(conflict.conflict_id, ConflictResolution(take={"phone": "device"}))
    assert again.value.status == 409


def test_edit_after_a_merged_answer_and_no_pull_conflicts_instead_of_overwriting_unseen_value(
    device: Device,
) -> None:
    """Found by the convergence test's oracle: a merged answer carries a version whose other
    fields the tablet has not seen; basing the next edit on it overwrote them silently."""
    a, b = device(name="a"), device(name="b")
    rid = a.create("miner", miner_fields(phone="+232 76 100001"))
    a.sync()
    b.pull()
    b.update("miner", rid, {"phone": "+232 76 200002"})
    assert [r.status for r in b.push().results] == [OpStatus.applied]  # version 2
    a.update("miner", rid, {"status": "inactive"})
    [merged] = a.push().results  # no pull after it: the tablet is out of range again
    assert (merged.status, merged.merged, merged.version) == (OpStatus.applied, True, 3)
    record = a.get("miner", rid)
    assert record is not None and record.data["phone"] == "+232 76 100001"  # what it shows
    a.update("miner", rid, {"phone": "+232 76 300003"})
    [answer] = a.push().results
    assert answer.status is OpStatus.conflict  # b's phone, which a never saw, is kept
    a.pull()
    record = a.get("miner", rid)
    assert record is not None
    assert (record.data["phone"], record.data["status"]) == ("+232 76 200002", "inactive")
