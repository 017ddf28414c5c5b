"""Command line for the reference client: `python -m offline_sync.client --db FILE COMMAND`.

Output is JSON on stdout. Exit codes: 0 ok; 1 some ops were rejected or conflicted (they stay
in the outbox, see `results`); 2 usage error, or the server could not be reached or refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, TextIO

import httpx

from offline_sync.client.client import DeviceClient, PushReport
from offline_sync.client.errors import ClientError, ServerRefused
from offline_sync.client.store import PROBLEM_OUTCOMES, OutboxEntry, outcome_of
from offline_sync.client.transport import RetryPolicy
from offline_sync.protocol import OpStatus

OK, PROBLEMS, FAILED = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m offline_sync.client",
        description="Offline sync reference client: a local SQLite replica and outbox.",
    )
    p.add_argument("--db", required=True, help="the device's SQLite file (created if missing)")
    p.add_argument("--batch", type=int, default=500, help="ops per push request")
    p.add_argument("--attempts", type=int, default=6, help="tries per request before giving up")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    e = sub.add_parser("enrol", help="enrol this device (the password is read from stdin)")
    e.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8000")
    e.add_argument("--user", required=True)
    e.add_argument("--name", required=True, help="a name for this device")
    e.add_argument("--platform", default="offline_sync.client")

    c = sub.add_parser("create", help="queue a create; prints the new record id")
    c.add_argument("entity")
    c.add_argument("fields", help="JSON object of all required fields")
    c.add_argument("--id", help="record id (a UUID; default: a new one)")

    u = sub.add_parser("update", help="queue an update of the changed fields")
    u.add_argument("entity")
    u.add_argument("record_id")
    u.add_argument("fields", help="JSON object of the changed fields")

    d = sub.add_parser("delete", help="queue a delete")
    d.add_argument("entity")
    d.add_argument("record_id")

    sub.add_parser("push", help="send queued ops")
    sub.add_parser("pull", help="fetch changes after the cursor")
    sub.add_parser("sync", help="upload photos, push, then pull")
    st = sub.add_parser("status", help="queued ops, last results, problems, cursor, clock")
    st.add_argument("--recent", type=int, default=10)
    r = sub.add_parser("results", help="every op with its state and answer")
    r.add_argument("--last", type=int, default=None, help="only the last N ops")
    r.add_argument("--problems", action="store_true", help="only conflicts and rejections")
    cf = sub.add_parser("conflicts", help="conflict records on the server")
    cf.add_argument("--status", default="open", help="open, resolved or all")
    sub.add_parser("records", help="the replica as the device shows it").add_argument(
        "entity", nargs="?"
    )
    fx = sub.add_parser(
        "correct",
        help="correct a rejected op and queue it again (its fields, with these over them); "
        "prints the new op and the ops that waited for it",
    )
    fx.add_argument("op_id", help="the rejected op (see `results --problems`)")
    fx.add_argument("fields", help="JSON object of corrected fields (null drops a field)")
    a = sub.add_parser("attach", help="keep a photo and upload it; prints its sha256")
    a.add_argument("path")
    return p


def _entry(e: OutboxEntry, device: DeviceClient | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "seq": e.op.seq,
        "op_id": str(e.op.op_id),
        "entity": e.op.entity,
        "record_id": str(e.op.record_id),
        "kind": e.op.kind.value,
        "state": e.state,
        "outcome": None if e.outcome is None else e.outcome.value,
    }
    if e.result is not None:
        out["result"] = e.result.model_dump(mode="json", exclude_defaults=True)
    if device is not None and e.outcome is OpStatus.rejected:
        # What the rejection holds up, and how to get it moving again.
        out["waiting"] = [w.op.seq for w in device.waiting_on(e.op.op_id)]
        out["fix"] = f"correct {e.op.op_id} '<JSON of corrected fields>', then push"
    return out


def _push(report: PushReport) -> dict[str, Any]:
    return {
        "batches": report.batches,
        "answered": report.counts(),
        "clock_offset_ms": report.clock_offset_ms,
        "clock_drift": report.clock_drift,
        "problems": [r.model_dump(mode="json", exclude_defaults=True) for r in report.problems],
    }


def _object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("fields must be a JSON object")
    return value


def run(
    argv: Sequence[str],
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    *,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """The command line as a function; `transport` is for tests (an httpx.MockTransport)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return OK if exit_.code == 0 else FAILED

    def emit(value: Any) -> None:
        stdout.write(json.dumps(value, indent=2, default=str) + "\n")

    try:
        device = DeviceClient.open(
            args.db,
            batch_size=args.batch,
            retry=RetryPolicy(attempts=args.attempts),
            transport=transport,
        )
    except (OSError, ValueError) as err:
        stderr.write(f"error: {err}\n")
        return FAILED
    try:
        cmd = args.command
        if cmd == "enrol":
            password = stdin.readline().rstrip("\r\n")
            if not password:
                stderr.write("error: give the password on stdin\n")
                return FAILED
            cred = device.enrol(args.url, args.user, password, args.name, platform=args.platform)
            emit({"device_id": str(cred.device_id), "expires_at": cred.expires_at.isoformat()})
        elif cmd == "create":
            rid = uuid.UUID(args.id) if args.id else None
            emit(
                {"record_id": str(device.create(args.entity, _object(args.fields), record_id=rid))}
            )
        elif cmd == "update":
            op = device.update(args.entity, uuid.UUID(args.record_id), _object(args.fields))
            emit({"op_id": str(op.op_id), "seq": op.seq, "base_version": op.base_version})
        elif cmd == "delete":
            op = device.delete(args.entity, uuid.UUID(args.record_id))
            emit({"op_id": str(op.op_id), "seq": op.seq, "base_version": op.base_version})
        elif cmd == "push":
            report = device.push()
            emit(_push(report))
            return PROBLEMS if report.problems else OK
        elif cmd == "pull":
            emit(asdict(device.pull()))
        elif cmd == "sync":
            synced = device.sync()
            emit(
                {
                    "attachments": [a.model_dump(mode="json") for a in synced.attachments],
                    "push": _push(synced.push),
                    "pull": asdict(synced.pull),
                }
            )
            return PROBLEMS if synced.push.problems else OK
        elif cmd == "status":
            s = device.status(recent=args.recent)
            emit(
                {
                    "base_url": s.base_url,
                    "device_id": s.device_id,
                    "cursor": s.cursor,
                    "ops": s.ops,
                    "last_push_at": s.last_push_at,
                    "last_pull_at": s.last_pull_at,
                    "clock_offset_ms": s.clock_offset_ms,
                    "clock_drift": s.clock_drift,
                    "attachments_waiting": s.attachments_waiting,
                    "unanswered": [_entry(e) for e in s.unanswered],
                    "recent": [_entry(e) for e in s.recent],
                    "problems": [_entry(e, device) for e in s.problems],
                }
            )
            return PROBLEMS if s.problems else OK
        elif cmd == "results":
            entries = device.problems() if args.problems else device.results(limit=args.last)
            emit([_entry(e, device) for e in entries])
            shown = [e.result for e in entries if e.result is not None]
            return PROBLEMS if any(outcome_of(r) in PROBLEM_OUTCOMES for r in shown) else OK
        elif cmd == "conflicts":
            status = None if args.status == "all" else args.status
            emit([c.model_dump(mode="json") for c in device.conflicts(status)])
        elif cmd == "records":
            emit(
                [
                    {
                        "entity": r.entity,
                        "record_id": str(r.record_id),
                        "version": r.version,
                        "scope": r.scope,
                        "deleted": r.deleted,
                        "dirty": r.dirty,
                        "data": r.data,
                    }
                    for r in device.records(args.entity)
                ]
            )
        elif cmd == "correct":
            rejected = uuid.UUID(args.op_id)
            op = device.correct(rejected, _object(args.fields))
            emit(
                {
                    "corrects": str(rejected),
                    "op_id": str(op.op_id),
                    "seq": op.seq,
                    "fields": op.fields,
                    "waiting": [_entry(e) for e in device.waiting_on(rejected)],
                }
            )
        elif cmd == "attach":
            emit(device.upload_attachment(args.path).model_dump(mode="json"))
        return OK
    except ServerRefused as err:
        stderr.write(f"error: {err}\n{json.dumps(err.problem, indent=2, default=str)}\n")
        return FAILED
    except (ClientError, ValueError, OSError) as err:
        stderr.write(f"error: {err}\n")
        return FAILED
    finally:
        device.close()


def main() -> None:
    sys.exit(run(sys.argv[1:], sys.stdin, sys.stdout, sys.stderr))


if __name__ == "__main__":
    main()
