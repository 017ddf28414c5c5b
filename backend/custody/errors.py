"""Custody refusals, each an `AppError` carrying its own HTTP status.

ValidationFailed (422)
 └── LicenceInvalid        422  licence-invalid   (buyer/exporter licence not valid that day)
LotUnavailable             409  lot-unavailable   (consumed, in transit, sealed, or taken
 │                                                 by a concurrent event)
 └── LotTaken              409  lot-unavailable   (a concurrent event took it first: a race,
                                                   worth trying again after reading it anew)
ChainMoved                 409  chain-moved       (another event extended the chain first)
"""

from __future__ import annotations

from backend.errors import AppError, ValidationFailed


class LicenceInvalid(ValidationFailed):
    code, title = "licence-invalid", "A licence is not valid on the event date"


class LotUnavailable(AppError):
    status, code, title = 409, "lot-unavailable", "The lot cannot be used"


class LotTaken(LotUnavailable):
    """Raised by a race, not by what the event says: the same event may be sent again."""


class ChainMoved(AppError):
    status, code, title = 409, "chain-moved", "Another event extended this custody chain first"
