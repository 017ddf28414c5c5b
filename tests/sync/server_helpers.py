"""Talking to the real sync server without the reference client: enrol, push, pull."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.e2e.conftest import PASSWORD, Api


class Device:
    """A device enrolled for one e2e user, speaking the protocol by hand."""

    def __init__(self, api: Api, who: str) -> None:
        self.api = api
        with api.client(who) as c:
            r = c.post("/sync/v1/devices", json={"name": f"{who}-tablet", "platform": "test"})
        assert r.status_code == 201, r.text
        self.device_id = r.json()["device_id"]
        self.http = httpx.Client(
            base_url=api.base_url,
            timeout=60,
            headers={"Authorization": f"Bearer {r.json()['device_token']}"},
        )
        self.seq = 0
        self.cursor: str | None = None

    def op(
        self,
        entity: str,
        kind: str,
        record_id: uuid.UUID | str,
        fields: dict[str, Any] | None = None,
        base_version: int | None = None,
        op_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        self.seq += 1
        return {
            "op_id": str(op_id or uuid.uuid4()),
            "seq": self.seq,
            "entity": entity,
            "record_id": str(record_id),
            "kind": kind,
            "base_version": base_version,
            "fields": fields or {},
            "device_time": datetime.now(UTC).isoformat(),
        }

    def push(
        self, *ops: dict[str, Any], gzipped: bool = False, sent_at: datetime | None = None
    ) -> httpx.Response:
        body = json.dumps(
            {"sent_at": (sent_at or datetime.now(UTC)).isoformat(), "ops": list(ops)}
        ).encode()
        headers = {"Content-Type": "application/json"}
        if gzipped:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        return self.http.post("/sync/v1/push", content=body, headers=headers)

    def results(self, *ops: dict[str, Any]) -> list[dict[str, Any]]:
        r = self.push(*ops)
        assert r.status_code == 200, r.text
        results: list[dict[str, Any]] = r.json()["results"]
        assert [x["op_id"] for x in results] == [o["op_id"] for o in ops]
        return results

    def pull_all(self, limit: int = 1000) -> list[dict[str, Any]]:
        changes: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"limit": limit}
            if self.cursor:
                params["cursor"] = self.cursor
            r = self.http.get("/sync/v1/pull", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            changes.extend(page["changes"])
            self.cursor = page["cursor"]
            if not page["has_more"]:
                return changes

    def close(self) -> None:
        self.http.close()


def miner_fields(district: str = "SL-E-KO", **extra: Any) -> dict[str, Any]:
    return {"full_name": f"Synced Miner {uuid.uuid4().hex[:6]}", "district": district, **extra}


def user_token(api: Api, who: str) -> str:
    with httpx.Client(base_url=api.base_url) as c:
        r = c.post(
            "/api/v1/auth/token", json={"username": api.users[who].username, "password": PASSWORD}
        )
    return str(r.json()["access_token"])
