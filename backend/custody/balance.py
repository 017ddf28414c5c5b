"""Mass balance per organisation and period, reconciled with its stock takes.

    closing = opening + received - dispatched - losses - voided

received: outputs of its purchases and acceptances; dispatched: inputs of its transfers and
exports; losses: inputs minus outputs of its consolidations, splits and re-weighings (a
gain within the scale resolution shows as a small negative loss); voided: lots withdrawn by
a correction. Value and seal events move no carats.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.custody import queries, views
from backend.custody.models import EventKind
from backend.errors import FieldError, Forbidden, NotFound, field_error
from backend.registry.models import Organisation

ZERO = Decimal("0.000")
RECEIVING = (EventKind.purchase, EventKind.accept)
DISPATCHING = (EventKind.transfer, EventKind.export)
TRANSFORMING = (EventKind.consolidate, EventKind.split_, EventKind.reweigh)


@dataclass(frozen=True)
class Movements:
    received: Decimal = ZERO
    dispatched: Decimal = ZERO
    losses: Decimal = ZERO
    voided: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.received - self.dispatched - self.losses - self.voided


def movements(sums: dict[str, tuple[Decimal, Decimal]]) -> Movements:
    """Per-kind (carats in, carats out) of an organisation's events, as balance movements."""

    def ins(kinds: tuple[EventKind, ...]) -> Decimal:
        return sum((sums.get(k.value, (ZERO, ZERO))[0] for k in kinds), ZERO)

    def outs(kinds: tuple[EventKind, ...]) -> Decimal:
        return sum((sums.get(k.value, (ZERO, ZERO))[1] for k in kinds), ZERO)

    return Movements(
        received=outs(RECEIVING),
        dispatched=ins(DISPATCHING),
        losses=ins(TRANSFORMING) - outs(TRANSFORMING),
        voided=ins((EventKind.void,)),
    )


def book_stock(session: Session, organisation_id: uuid.UUID, at: datetime) -> Decimal:
    """The organisation's stock by its books at time `at` (events up to and including `at`)."""
    sums = queries.balance_sums(session, organisation_id, since=None, until=at, inclusive=True)
    return movements(sums).net


def organisation_in_scope(
    session: Session, principal: Principal, organisation_id: uuid.UUID | None
) -> Organisation:
    if principal.is_organisation_scoped:
        if organisation_id is not None and organisation_id != principal.organisation_id:
            raise Forbidden(
                "buyers and exporters see their own organisation's balance only",
                errors=[FieldError("/query/organisation_id", "not your organisation")],
            )
        organisation_id = principal.organisation_id
    if organisation_id is None:
        raise field_error("/query/organisation_id", "name the organisation")
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound(f"no organisation {organisation_id}")
    return org


def report(
    session: Session,
    org: Organisation,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    end = until or utcnow()
    opening = ZERO
    if since is not None:
        opening = movements(queries.balance_sums(session, org.id, since=None, until=since)).net
    period = movements(queries.balance_sums(session, org.id, since=since, until=end))
    takes = queries.stock_takes(session, org.id, since, end)
    return {
        "organisation_id": org.id,
        "period_from": since,
        "period_to": end,
        "opening": str(opening),
        "received": str(period.received),
        "dispatched": str(period.dispatched),
        "losses": str(period.losses),
        "voided": str(period.voided),
        "closing": str(opening + period.net),
        "on_hand": str(queries.stock_of(session, org.id)),
        "stock_takes": [
            views.stock_take_public(t, book_stock(session, org.id, t.counted_at)) for t in takes
        ],
    }
