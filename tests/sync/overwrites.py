"""The convergence oracle: every value a synced record took is explained by the op that wrote
it, by a conflict record, or by what the writing tablet had on its screen.

Inputs are read from the server after the run (audit trail, op ledger, conflict records) and
from the harness's own log of what each tablet showed when each edit was made. Every check
returns human-readable violations, empty when all is explained.

Rules, per record and tracked field, over the audit trail in version order:

- each version 1..n has exactly one audit entry, and each device write is the ledger's op
  that answered with that version (applied, or a conflict that merged other fields), audited
  as that op's own device;
- a device op only changes fields it sent (a delete changes every field: the record goes);
- a device op that changes a field whose current value another writer wrote at version j must
  have been based on j or later (`base_version >= j`): otherwise it overwrote a value its
  device never saw, and the engine owed a conflict instead;
- a write of the supervisor's conflict resolution is a conflict record's `resolution_version`,
  and changes only that conflict's fields;
- a web (REST) write is a compare-and-set on the version it read, so it saw what it replaced;
- each conflict record names fields another writer changed after the op's base, holds the
  device's value as sent, and the server's value of that moment: a device never conflicts
  with itself;
- what the tablet showed for a field when it made an edit, apart from the values of its own
  unanswered ops shown on top, is what the server held at the edit's base version: a tablet
  never claims a base whose values it has not seen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.audit.models import AuditEntry
from offline_sync.server.tables import SyncConflict, SyncOp

TRACKED: dict[str, tuple[str, ...]] = {
    "miner": ("full_name", "national_id", "phone", "status"),
    "site": ("name", "status", "notes"),
    "site_visit": ("diggers_counted", "notes"),
}
DELETED = "_deleted"


@dataclass(frozen=True)
class Shown:
    """What a tablet showed of a record when it queued an edit of it."""

    device_id: uuid.UUID
    op_id: uuid.UUID
    values: dict[str, Any]  # tracked field -> value on screen (its own unanswered ones left out)


@dataclass
class Evidence:
    """What the server recorded, keyed for the checks."""

    audit: dict[tuple[str, uuid.UUID], list[AuditEntry]]  # by record, in version order
    ops: dict[uuid.UUID, SyncOp]  # the ledger, by op id
    conflicts: dict[uuid.UUID, SyncConflict]
    supervisor_device: uuid.UUID | None = None
    by_version: dict[tuple[uuid.UUID, int], SyncOp] = field(init=False)

    def __post_init__(self) -> None:
        self.by_version = {}
        for row in self.ops.values():
            if wrote(row):
                self.by_version[(row.record_id, int(row.result["version"]))] = row


def wrote(row: SyncOp) -> bool:
    """Did this op make a new version? An applied op did; a conflict did if it merged fields."""
    if row.status == "applied":
        return row.result.get("version") is not None
    return row.status == "conflict" and bool(row.result.get("merged"))


def version_of(entry: AuditEntry) -> int:
    assert entry.after is not None
    return int(entry.after["version"])


def values_of(entity: str, snapshot: Mapping[str, Any] | None) -> dict[str, Any]:
    """The tracked fields of an audit snapshot, and whether the record was deleted."""
    if snapshot is None:
        return {}
    out = {f: snapshot.get(f) for f in TRACKED[entity]}
    out[DELETED] = snapshot.get("deleted_at") is not None
    return out


def changed_fields(entity: str, entry: AuditEntry) -> set[str]:
    before, after = values_of(entity, entry.before), values_of(entity, entry.after)
    if entry.before is None:
        return set(after)
    return {f for f in after if before.get(f) != after[f]}


def check_versions(evidence: Evidence) -> list[str]:
    """One audit entry per version 1..n, each device write the op that answered with it."""
    out: list[str] = []
    for (entity, rid), entries in evidence.audit.items():
        versions = [version_of(e) for e in entries]
        if versions != list(range(1, len(entries) + 1)):
            out.append(f"{entity} {rid}: audited versions {versions}")
        for e in entries[1:]:
            k = version_of(e)
            op = evidence.by_version.get((rid, k))
            if e.device_id is None or _is_supervisor(evidence, e):
                if op is not None:
                    out.append(f"{entity} {rid} v{k}: op {op.op_id} claims a web/supervisor write")
                continue
            if op is None:
                out.append(f"{entity} {rid} v{k}: written by device {e.device_id}, no op says so")
            elif str(op.device_id) != e.device_id:
                out.append(
                    f"{entity} {rid} v{k}: op {op.op_id} of device {op.device_id} audited as "
                    f"device {e.device_id}"
                )
    return out


def _is_supervisor(evidence: Evidence, entry: AuditEntry) -> bool:
    return evidence.supervisor_device is not None and entry.device_id == str(
        evidence.supervisor_device
    )


def check_overwrites(evidence: Evidence) -> list[str]:
    """Every change of a field another writer had set is explained (see the module rules)."""
    # A resolution that keeps every server value writes nothing, and its resolution_version
    # is the record's version of the moment: only the ones that wrote made a version.
    resolutions = {
        (c.record_id, int(c.resolution_version)): c
        for c in evidence.conflicts.values()
        if c.resolution_version is not None and c.resolution and c.resolution.get("written")
    }
    out: list[str] = []
    for (entity, rid), entries in evidence.audit.items():
        last: dict[str, tuple[int, str]] = {}  # field -> (version, writer) of its value now
        for e in entries:
            k, writer = version_of(e), e.device_id or "web"
            changed = changed_fields(entity, e)
            where = f"{entity} {rid} v{k}"
            if e.before is None:
                last = {f: (k, writer) for f in changed}
                continue
            if writer == "web":
                pass  # a REST PATCH is a compare-and-set on version k - 1
            elif _is_supervisor(evidence, e):
                conflict = resolutions.get((rid, k))
                if conflict is None:
                    out.append(f"{where}: a supervisor write with no conflict resolved to it")
                elif not changed <= set(conflict.fields) & set(conflict.resolution["written"]):
                    out.append(f"{where}: resolution changed {changed - set(conflict.fields)}")
            else:
                op = evidence.by_version.get((rid, k))
                if op is None:
                    continue  # reported by check_versions
                sent = set(TRACKED[entity]) | {DELETED} if op.kind == "delete" else set(op.fields)
                if not changed <= sent:
                    out.append(f"{where}: op {op.op_id} changed {changed - sent}, not sent")
                base = op.base_version or 0
                for f in sorted(changed if op.kind != "delete" else set(last)):
                    j, by = last.get(f, (0, writer))
                    if by != writer and j > base:
                        out.append(
                            f"{where}: op {op.op_id} (device {writer}, base v{base}) overwrote "
                            f"{f} that {by} wrote at v{j}, unseen and with no conflict"
                        )
            for f in changed:
                last[f] = (k, writer)
    return out


def check_conflicts(evidence: Evidence) -> list[str]:
    """Each conflict: the device's value as sent, the server's of the moment, another writer."""
    out: list[str] = []
    for row in evidence.ops.values():
        if row.status != "conflict":
            continue
        conflict = evidence.conflicts.get(uuid.UUID(str(row.result["conflict_id"])))
        if conflict is None or conflict.op_id != row.op_id:
            out.append(f"op {row.op_id}: conflict {row.result['conflict_id']} is not its record")
            continue
        entries = evidence.audit[(row.entity, row.record_id)]
        at = {version_of(e): e for e in entries}
        server_then = values_of(row.entity, at[conflict.server_version].after)
        for f, both in conflict.fields.items():
            device_value = True if f == DELETED else row.fields.get(f)
            if both["device"] != device_value:
                out.append(f"conflict {conflict.id} {f}: device value {both['device']!r} not sent")
            if f != DELETED and both["server"] != server_then.get(f):
                out.append(
                    f"conflict {conflict.id} {f}: server value {both['server']!r}, but "
                    f"v{conflict.server_version} held {server_then.get(f)!r}"
                )
            rivals = {
                e.device_id or "web"
                for e in entries[1:]
                if row.base_version is not None
                and row.base_version < version_of(e) <= conflict.server_version
                and (f == DELETED or f in changed_fields(row.entity, e))
            }
            if not rivals - {str(row.device_id)}:
                out.append(
                    f"conflict {conflict.id} {f}: no other writer changed it after base "
                    f"v{row.base_version} (writers {sorted(rivals)}): a device conflicted "
                    "with itself"
                )
    return out


def check_shown(evidence: Evidence, shown: Iterable[Shown]) -> list[str]:
    """A tablet's edit is based on the version whose values it showed."""
    out: list[str] = []
    for s in shown:
        op = evidence.ops.get(s.op_id)
        if op is None or op.base_version is None:
            continue
        entries = evidence.audit.get((op.entity, op.record_id), [])
        at = {version_of(e): e for e in entries}
        if op.base_version not in at:
            continue  # a base the server never had: answered base-version-ahead, or pending
        server = values_of(op.entity, at[op.base_version].after)
        for f, value in s.values.items():
            if value != server.get(f):
                out.append(
                    f"op {op.op_id} ({op.entity} {op.record_id}, base v{op.base_version}): the "
                    f"tablet showed {f}={value!r} where the server held {server.get(f)!r} at "
                    "that version"
                )
    return out
