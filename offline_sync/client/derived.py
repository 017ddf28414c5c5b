"""Values a device derives from a record on its own date, because the server cannot know
when the device will read them (a licence's effective status changes at midnight)."""

from __future__ import annotations

from datetime import date
from typing import Any


def licence_status(data: dict[str, Any], today: date) -> str:
    """A licence's status on `today`: the stored status, except that an active licence past
    its `valid_to` is expired (the server's rule, applied on the device's date)."""
    status = str(data.get("status"))
    valid_to = data.get("valid_to")
    if status == "active" and valid_to is not None and date.fromisoformat(str(valid_to)) < today:
        return "expired"
    return status
