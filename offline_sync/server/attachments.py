"""Attachments addressed by SHA-256, uploaded in offset-addressed chunks, immutable once whole."""

from __future__ import annotations

import hashlib
import re
import uuid

from sqlalchemy import delete
from sqlalchemy.orm import Session
from sqlmodel import col, select

from offline_sync.protocol import AttachmentStatus
from offline_sync.server.sqltypes import utcnow
from offline_sync.server.tables import SyncAttachment, SyncAttachmentChunk

SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_SIZE = 50 * 1024 * 1024


class AttachmentError(ValueError):
    def __init__(
        self,
        detail: str,
        *,
        field: str,
        status: AttachmentStatus | None = None,
        code: str = "bad-chunk",
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.status = status
        self.code = code


def status_of(row: SyncAttachment) -> AttachmentStatus:
    return AttachmentStatus(
        sha256=row.sha256,
        size=row.size,
        received=row.received,
        complete=row.completed_at is not None,
    )


def put_chunk(
    session: Session,
    *,
    sha256: str,
    offset: int,
    total: int,
    data: bytes,
    uploader: uuid.UUID | None,
) -> AttachmentStatus:
    """Append a chunk at `offset`. Re-sending a chunk already stored is harmless.

    An unfinished upload is no claim: only whole bytes that hash to the address count. So a
    chunk at offset 0 from another uploader, or with another declared size, starts the upload
    over (its partial bytes are dropped), and a size mismatch elsewhere answers "restart at 0".
    A wrong size or garbage left by one party then never blocks the rightful upload.
    """
    if not SHA256.match(sha256):
        raise AttachmentError("the address must be a lowercase hex SHA-256", field="sha256")
    if not 0 < total <= MAX_SIZE:
        raise AttachmentError(f"X-Attachment-Size must be 1..{MAX_SIZE}", field="X-Attachment-Size")
    row = session.get(SyncAttachment, sha256, with_for_update=True)
    if row is None:
        row = SyncAttachment(sha256=sha256, size=total, received=0, uploaded_by=uploader)
        session.add(row)
        session.flush()
    if row.completed_at is not None:
        return status_of(row)  # immutable: a finished file is never written again
    if offset == 0 and (total != row.size or row.uploaded_by != uploader):
        _restart(session, row, total, uploader)
    if total != row.size:
        raise AttachmentError(
            f"the size was given as {row.size} by an unfinished upload; start again at offset 0",
            field="X-Attachment-Size",
            status=AttachmentStatus(sha256=sha256, size=row.size, received=0, complete=False),
            code="size-mismatch",
        )
    if offset + len(data) <= row.received:
        return status_of(row)  # a replay of a stored chunk
    if offset != row.received:
        raise AttachmentError(
            f"resume at offset {row.received}",
            field="offset",
            status=status_of(row),
            code="wrong-offset",
        )
    if offset + len(data) > row.size:
        raise AttachmentError(
            "the chunk runs past the declared size", field="body", status=status_of(row)
        )
    session.add(SyncAttachmentChunk(sha256=sha256, offset=offset, data=data))
    session.flush()
    row.received = offset + len(data)
    if row.received == row.size:
        digest = hashlib.sha256()
        for chunk in session.scalars(
            select(SyncAttachmentChunk)
            .where(col(SyncAttachmentChunk.sha256) == sha256)
            .order_by(col(SyncAttachmentChunk.offset))
        ):
            digest.update(chunk.data)
        if digest.hexdigest() != sha256:
            # The bytes do not hash to their address: discard the partial upload and start over.
            session.execute(
                delete(SyncAttachmentChunk).where(col(SyncAttachmentChunk.sha256) == sha256)
            )
            row.received = 0
            session.add(row)
            session.flush()
            raise AttachmentError(
                "the uploaded bytes do not hash to the address; upload again from 0",
                field="sha256",
                status=status_of(row),
                code="hash-mismatch",
            )
        row.completed_at = utcnow()
    session.add(row)
    session.flush()
    return status_of(row)


def _restart(session: Session, row: SyncAttachment, total: int, uploader: uuid.UUID | None) -> None:
    session.execute(
        delete(SyncAttachmentChunk).where(col(SyncAttachmentChunk.sha256) == row.sha256)
    )
    row.size, row.received, row.uploaded_by = total, 0, uploader
    session.add(row)
    session.flush()


def content(session: Session, sha256: str) -> bytes | None:
    row = session.get(SyncAttachment, sha256)
    if row is None or row.completed_at is None:
        return None
    chunks = session.scalars(
        select(SyncAttachmentChunk)
        .where(col(SyncAttachmentChunk.sha256) == sha256)
        .order_by(col(SyncAttachmentChunk.offset))
    )
    return b"".join(c.data for c in chunks)


def complete_hashes(session: Session, hashes: list[str]) -> set[str]:
    if not hashes:
        return set()
    return set(
        session.scalars(
            select(col(SyncAttachment.sha256)).where(
                col(SyncAttachment.sha256).in_(hashes), col(SyncAttachment.completed_at).isnot(None)
            )
        )
    )
