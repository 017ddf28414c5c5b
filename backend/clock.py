"""Server time: always timezone-aware UTC."""

from __future__ import annotations

from offline_sync.server.sqltypes import as_utc, utcnow

__all__ = ["as_utc", "utcnow"]
