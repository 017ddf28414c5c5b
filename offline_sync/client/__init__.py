"""The reference sync client: a device's SQLite replica and outbox, push, pull and uploads.

    with DeviceClient.open("device.sqlite") as device:
        device.enrol("https://server", "officer", password, name="tablet 7")
        miner_id = device.create("miner", {...})
        report = device.sync()

It imports `offline_sync.protocol` and nothing of the server (see docs/sync-protocol.md).
"""

from offline_sync.client.client import (
    DeviceClient,
    PullReport,
    PushReport,
    Status,
    SyncReport,
)
from offline_sync.client.derived import licence_status
from offline_sync.client.errors import (
    ClientError,
    DeviceRevoked,
    NotEnrolled,
    ProtocolError,
    ServerRefused,
    TransportFailed,
    UnknownRecord,
)
from offline_sync.client.store import Attachment, OutboxEntry, Record, Store, outcome_of
from offline_sync.client.transport import RetryPolicy

__all__ = [
    "Attachment",
    "ClientError",
    "DeviceClient",
    "DeviceRevoked",
    "NotEnrolled",
    "OutboxEntry",
    "ProtocolError",
    "PullReport",
    "PushReport",
    "Record",
    "RetryPolicy",
    "ServerRefused",
    "Status",
    "Store",
    "SyncReport",
    "TransportFailed",
    "UnknownRecord",
    "licence_status",
    "outcome_of",
]
