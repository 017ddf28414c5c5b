"""Custody queries as SQLAlchemy expressions, each role's scope applied in the WHERE clause."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    case,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.controls.licences import LicenceFacts
from backend.custody.models import (
    CustodyEvent,
    EventInput,
    EventKind,
    EventOutput,
    Lot,
    LotOrigin,
    LotStatus,
    StockTake,
)
from backend.registry.models import Licence, Miner, Organisation, Site

ZERO = Decimal("0.000")


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    kind: str | None = None
    tag: str | None = None
    holder_organisation_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None
    lot_id: uuid.UUID | None = None
    site_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    updated_since: datetime | None = None


# --- scope ----------------------------------------------------------------------------------------


def _party(org_id: uuid.UUID | None) -> Any:
    """Events an organisation is a party to: its own, and transfers addressed to it."""
    if org_id is None:
        return false()
    return or_(
        col(CustodyEvent.organisation_id) == org_id,
        col(CustodyEvent.counterparty_organisation_id) == org_id,
    )


def _event_scope(principal: Principal) -> Any | None:
    """The WHERE clause limiting events to the principal's scope (None: sees all)."""
    if principal.is_organisation_scoped:
        return _party(principal.organisation_id)
    if principal.role is Role.field_officer:
        if not principal.districts:
            return false()
        return (col(CustodyEvent.kind) == EventKind.produce) & col(CustodyEvent.district_code).in_(
            sorted(principal.districts)
        )
    return None


def sees_all_lots(principal: Principal) -> bool:
    return _event_scope(principal) is None


def events(principal: Principal, f: Filters) -> Select[Any]:
    stmt = select(CustodyEvent)
    scope = _event_scope(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    if f.kind is not None:
        stmt = stmt.where(col(CustodyEvent.kind) == f.kind)
    if f.organisation_id is not None:
        stmt = stmt.where(_party(f.organisation_id))
    if f.site_id is not None:
        stmt = stmt.where(col(CustodyEvent.site_id) == f.site_id)
    if f.since is not None:
        stmt = stmt.where(col(CustodyEvent.occurred_at) >= f.since)
    if f.until is not None:
        stmt = stmt.where(col(CustodyEvent.occurred_at) < f.until)
    if f.updated_since is not None:
        stmt = stmt.where(col(CustodyEvent.updated_at) > f.updated_since)
    if f.lot_id is not None:
        touching = union_all(
            select(col(EventInput.event_id)).where(col(EventInput.lot_id) == f.lot_id),
            select(col(EventOutput.event_id)).where(col(EventOutput.lot_id) == f.lot_id),
        )
        stmt = stmt.where(col(CustodyEvent.id).in_(touching))
    return stmt


def lots(principal: Principal, f: Filters) -> Select[Any]:
    stmt = select(Lot)
    scope = _event_scope(principal)
    if scope is not None:
        scoped_events = select(col(CustodyEvent.id)).where(scope)
        touched = union_all(
            select(col(EventInput.lot_id)).where(col(EventInput.event_id).in_(scoped_events)),
            select(col(EventOutput.lot_id)).where(col(EventOutput.event_id).in_(scoped_events)),
        )
        held = (
            col(Lot.holder_organisation_id) == principal.organisation_id
            if principal.is_organisation_scoped
            else false()
        )
        stmt = stmt.where(or_(held, col(Lot.id).in_(touched)))
    if f.status is not None:
        stmt = stmt.where(col(Lot.status) == f.status)
    if f.tag is not None:
        stmt = stmt.where(col(Lot.tag) == f.tag)
    if f.holder_organisation_id is not None:
        stmt = stmt.where(col(Lot.holder_organisation_id) == f.holder_organisation_id)
    if f.updated_since is not None:
        stmt = stmt.where(col(Lot.updated_at) > f.updated_since)
    return stmt


def one_event(session: Session, principal: Principal, event_id: uuid.UUID) -> CustodyEvent | None:
    return session.scalars(
        events(principal, Filters()).where(col(CustodyEvent.id) == event_id)
    ).first()


def one_lot(session: Session, principal: Principal, lot_id: uuid.UUID) -> Lot | None:
    return session.scalars(lots(principal, Filters()).where(col(Lot.id) == lot_id)).first()


def carats_text(session: Session, carats: ColumnElement[Any]) -> ColumnElement[str]:
    """A carats expression (a CARATS column or its sum) as the API writes it, e.g. "12.345".

    Big reads (a trace's ten thousand purchases) then make no Decimal per row. PostgreSQL
    prints NUMERIC(14, 3) so (a sum keeps the scale); SQLite keeps thousandths, printed here.
    """
    if session.get_bind().dialect.name == "sqlite":
        n = type_coerce(carats, BigInteger())
        digits = type_coerce(
            func.printf("%d.%03d", func.abs(n) // 1000, func.abs(n) % 1000), String()
        )
        return case((n.is_(None), null()), (n < 0, "-" + digits), else_=digits)
    return cast(carats, String())


def uuid_text(session: Session, column: Any) -> ColumnElement[str]:
    """A UUID column as canonical text ("0190…-…"), as the API writes it, NULL staying NULL.

    Ten thousand rows of uuid.UUID cost more to build (and to collect) than the query takes to
    run. PostgreSQL's uuid::text is canonical; SQLite keeps 32 hex digits, hyphenated here.
    """
    if session.get_bind().dialect.name == "sqlite":

        def hex_(start: int, length: int) -> ColumnElement[str]:
            return type_coerce(func.substr(column, start, length), String())

        # || keeps NULL as NULL (printf would make it '').
        parts = [hex_(1, 8), hex_(9, 4), hex_(13, 4), hex_(17, 4), hex_(21, 12)]
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + "-" + part
        return joined
    return cast(column, String())


# --- writing --------------------------------------------------------------------------------------


def chain_head(session: Session, chain_id: uuid.UUID) -> tuple[int, str] | None:
    row = session.execute(
        select(col(CustodyEvent.chain_seq), col(CustodyEvent.hash))
        .where(col(CustodyEvent.chain_id) == chain_id)
        .order_by(col(CustodyEvent.chain_seq).desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), str(row[1]))


@dataclass(frozen=True)
class ChainState:
    """What an event about to join a chain must know, read in one statement."""

    head: tuple[int, str] | None  # the chain's last (seq, hash)
    stock: Decimal | None  # carats the holding organisation holds now, if one was named
    receipt_taken: bool  # the receipt number is already recorded on this chain


def chain_state(
    session: Session,
    chain_id: uuid.UUID,
    *,
    stock_of_organisation: uuid.UUID | None = None,
    receipt_number: str | None = None,
) -> ChainState:
    """The chain head, the organisation's stock and whether a receipt number is taken: three
    scalar subqueries, one round trip (each was a statement of its own)."""
    last = (
        select(col(CustodyEvent.chain_seq), col(CustodyEvent.hash))
        .where(col(CustodyEvent.chain_id) == chain_id)
        .order_by(col(CustodyEvent.chain_seq).desc())
        .limit(1)
    )
    columns: list[Any] = [
        last.with_only_columns(col(CustodyEvent.chain_seq)).scalar_subquery(),
        last.with_only_columns(col(CustodyEvent.hash)).scalar_subquery(),
    ]
    if stock_of_organisation is not None:
        columns.append(
            select(func.sum(Lot.carats))
            .where(
                col(Lot.holder_organisation_id) == stock_of_organisation,
                col(Lot.status).in_([LotStatus.active, LotStatus.sealed]),
            )
            .scalar_subquery()
        )
    if receipt_number is not None:
        columns.append(
            select(col(CustodyEvent.id))
            .where(
                col(CustodyEvent.chain_id) == chain_id,
                col(CustodyEvent.receipt_number) == receipt_number,
            )
            .limit(1)
            .scalar_subquery()
        )
    row = list(session.execute(select(*columns)).one())
    seq, digest = row.pop(0), row.pop(0)
    stock = None
    if stock_of_organisation is not None:
        value = row.pop(0)
        stock = ZERO if value is None else Decimal(value)
    receipt_taken = receipt_number is not None and row.pop(0) is not None
    return ChainState(
        head=None if seq is None else (int(seq), str(digest)),
        stock=stock,
        receipt_taken=receipt_taken,
    )


def claim_lot(
    session: Session, lot_id: uuid.UUID, version: int, from_status: str, to_status: str
) -> bool:
    """Compare-and-set a lot's status: of two concurrent events, exactly one wins the lot."""
    result = session.execute(
        update(Lot)
        .where(
            col(Lot.id) == lot_id,
            col(Lot.version) == version,
            col(Lot.status) == from_status,
        )
        .values(status=to_status, version=version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def set_lot_fields(session: Session, lot_id: uuid.UUID, version: int, **values: Any) -> bool:
    result = session.execute(
        update(Lot)
        .where(col(Lot.id) == lot_id, col(Lot.version) == version)
        .values(**values, version=version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount) == 1  # type: ignore[attr-defined]


def lots_by_id(session: Session, lot_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Lot]:
    ids = list(lot_ids)
    if not ids:
        return {}
    # populate_existing: status and version change through compare-and-set UPDATEs, which the
    # identity map does not see.
    stmt = select(Lot).where(col(Lot.id).in_(ids)).execution_options(populate_existing=True)
    return {lot.id: lot for lot in session.scalars(stmt)}


def latest_event_time(session: Session, lot_ids: Iterable[uuid.UUID]) -> datetime | None:
    """The time of the latest event that took in or brought out any of these lots."""
    ids = list(lot_ids)
    if not ids:
        return None
    touching = union_all(
        select(col(EventInput.event_id)).where(col(EventInput.lot_id).in_(ids)),
        select(col(EventOutput.event_id)).where(col(EventOutput.lot_id).in_(ids)),
    )
    value = session.scalar(
        select(func.max(CustodyEvent.occurred_at)).where(col(CustodyEvent.id).in_(touching))
    )
    return value if isinstance(value, datetime) else None


def origins_of(session: Session, lot_ids: Iterable[uuid.UUID]) -> list[LotOrigin]:
    ids = list(lot_ids)
    if not ids:
        return []
    return list(session.scalars(select(LotOrigin).where(col(LotOrigin.lot_id).in_(ids))))


def stock_of(session: Session, organisation_id: uuid.UUID) -> Decimal:
    """Carats an organisation holds now: its active and sealed lots."""
    value = session.scalar(
        select(func.sum(Lot.carats)).where(
            col(Lot.holder_organisation_id) == organisation_id,
            col(Lot.status).in_([LotStatus.active, LotStatus.sealed]),
        )
    )
    return ZERO if value is None else Decimal(value)


# The columns a licence check reads, in `LicenceFacts`' order (evidence reads the same).
LICENCE_FACT_COLUMNS = (
    col(Licence.id),
    col(Licence.number),
    col(Licence.kind),
    col(Licence.status),
    col(Licence.valid_from),
    col(Licence.valid_to),
    col(Licence.fit_and_proper),
)


def _facts(session: Session, holder: Any) -> list[LicenceFacts]:
    """The facts a licence check needs, read as columns: never the licence's polygon."""
    return [
        LicenceFacts(
            id=r.id,
            number=r.number,
            kind=r.kind,
            status=r.status,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
            fit_and_proper=r.fit_and_proper,
        )
        for r in session.execute(select(*LICENCE_FACT_COLUMNS).where(holder))
    ]


def organisation_licences(session: Session, organisation_id: uuid.UUID) -> list[LicenceFacts]:
    return _facts(session, col(Licence.holder_organisation_id) == organisation_id)


def miner_licences(session: Session, miner_id: uuid.UUID) -> list[LicenceFacts]:
    return _facts(session, col(Licence.holder_miner_id) == miner_id)


def _fact_of(row: Any, offset: int) -> LicenceFacts | None:
    """The licence facts at `row[offset:]` of an outer-joined row, or None where none joined."""
    if row[offset] is None:
        return None
    return LicenceFacts(*row[offset : offset + len(LICENCE_FACT_COLUMNS)])


def organisation_with_licences(
    session: Session, organisation_id: uuid.UUID
) -> tuple[Organisation, list[LicenceFacts]] | None:
    """An organisation and its licences' facts in one statement; None if there is none."""
    rows = session.execute(
        select(Organisation, *LICENCE_FACT_COLUMNS)
        .select_from(Organisation)
        .outerjoin(Licence, col(Licence.holder_organisation_id) == col(Organisation.id))
        .where(col(Organisation.id) == organisation_id)
    ).all()
    if not rows:
        return None
    return rows[0][0], [f for row in rows if (f := _fact_of(row, 1)) is not None]


def site_miner_licences(
    session: Session, site_id: uuid.UUID, miner_id: uuid.UUID
) -> tuple[Site, Miner, list[LicenceFacts]] | None:
    """A site, a miner and the miner's licences' facts in one statement; None if either is
    missing (the caller then asks for each alone to say which)."""
    rows = session.execute(
        select(Site, Miner, *LICENCE_FACT_COLUMNS)
        .select_from(Site)
        .join(Miner, true())
        .outerjoin(Licence, col(Licence.holder_miner_id) == col(Miner.id))
        .where(col(Site.id) == site_id, col(Miner.id) == miner_id)
    ).all()
    if not rows:
        return None
    return rows[0][0], rows[0][1], [f for row in rows if (f := _fact_of(row, 2)) is not None]


# --- reading events with their lots ------------------------------------------------------------


def inputs_of(
    session: Session, event_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[EventInput]]:
    ids = list(event_ids)
    found: dict[uuid.UUID, list[EventInput]] = defaultdict(list)
    if ids:
        for row in session.scalars(
            select(EventInput).where(col(EventInput.event_id).in_(ids)).order_by(col(EventInput.id))
        ):
            found[row.event_id].append(row)
    return found


def outputs_of(
    session: Session, event_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[EventOutput]]:
    ids = list(event_ids)
    found: dict[uuid.UUID, list[EventOutput]] = defaultdict(list)
    if ids:
        for row in session.scalars(
            select(EventOutput)
            .where(col(EventOutput.event_id).in_(ids))
            .order_by(col(EventOutput.id))
        ):
            found[row.event_id].append(row)
    return found


def lines_of(
    session: Session, event_ids: Iterable[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[EventInput]], dict[uuid.UUID, list[EventOutput]]]:
    """`inputs_of` and `outputs_of` in one statement (UNION ALL), each list in id order.

    The rows are read as columns and built as detached model objects, for showing only."""
    ids = list(event_ids)
    ins: dict[uuid.UUID, list[EventInput]] = defaultdict(list)
    outs: dict[uuid.UUID, list[EventOutput]] = defaultdict(list)
    if not ids:
        return ins, outs
    taken = select(
        literal(1).label("is_input"),
        col(EventInput.id),
        col(EventInput.event_id),
        col(EventInput.lot_id),
        col(EventInput.carats),
        col(EventInput.stone_count),
        col(EventInput.consumed),
    ).where(col(EventInput.event_id).in_(ids))
    made = select(
        literal(0),
        col(EventOutput.id),
        col(EventOutput.event_id),
        col(EventOutput.lot_id),
        col(EventOutput.carats),
        col(EventOutput.stone_count),
        false(),
    ).where(col(EventOutput.event_id).in_(ids))
    rows = sorted(session.execute(union_all(taken, made)), key=lambda r: r[1])
    for is_input, line_id, event_id, lot_id, carats, stones, consumed in rows:
        if is_input:
            ins[event_id].append(
                EventInput(
                    id=line_id,
                    event_id=event_id,
                    lot_id=lot_id,
                    carats=carats,
                    stone_count=stones,
                    consumed=bool(consumed),
                )
            )
        else:
            outs[event_id].append(
                EventOutput(
                    id=line_id, event_id=event_id, lot_id=lot_id, carats=carats, stone_count=stones
                )
            )
    return ins, outs


def corrections_of(
    session: Session, event_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[CustodyEvent]]:
    ids = list(event_ids)
    found: dict[uuid.UUID, list[CustodyEvent]] = defaultdict(list)
    if ids:
        for row in session.scalars(
            select(CustodyEvent)
            .where(col(CustodyEvent.corrects_event_id).in_(ids))
            .order_by(col(CustodyEvent.id))
        ):
            assert row.corrects_event_id is not None
            found[row.corrects_event_id].append(row)
    return found


def chain_events(session: Session, chain_id: uuid.UUID, batch: int = 500) -> Iterator[CustodyEvent]:
    """A chain's events in sequence order, read in batches so a long chain streams."""
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(CustodyEvent)
                .where(col(CustodyEvent.chain_id) == chain_id, col(CustodyEvent.chain_seq) > last)
                .order_by(col(CustodyEvent.chain_seq))
                .limit(batch)
            )
        )
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].chain_seq


def chain_holder_exists(session: Session, chain_id: uuid.UUID) -> bool:
    """A chain is an organisation's or (for production) a miner's, or has events of its own."""
    return (
        session.get(Organisation, chain_id) is not None
        or session.get(Miner, chain_id) is not None
        or chain_head(session, chain_id) is not None
    )


def chain_visible(principal: Principal, chain_id: uuid.UUID) -> bool:
    if principal.is_organisation_scoped:
        return principal.organisation_id == chain_id
    return True


# --- balances -------------------------------------------------------------------------------------


def balance_sums(
    session: Session,
    organisation_id: uuid.UUID,
    *,
    since: datetime | None,
    until: datetime,
    inclusive: bool = False,
) -> dict[str, tuple[Decimal, Decimal]]:
    """Per event kind, the carats in and out of the organisation's own events in the period."""
    period = [col(CustodyEvent.organisation_id) == organisation_id]
    period.append(
        col(CustodyEvent.occurred_at) <= until
        if inclusive
        else col(CustodyEvent.occurred_at) < until
    )
    if since is not None:
        period.append(col(CustodyEvent.occurred_at) >= since)
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    ins = session.execute(
        select(col(CustodyEvent.kind), func.sum(EventInput.carats))
        .join(EventInput, col(EventInput.event_id) == col(CustodyEvent.id))
        .where(*period)
        .group_by(col(CustodyEvent.kind))
    )
    for kind, total in ins:
        sums[str(kind)] = (Decimal(total or 0), ZERO)
    outs = session.execute(
        select(col(CustodyEvent.kind), func.sum(EventOutput.carats))
        .join(EventOutput, col(EventOutput.event_id) == col(CustodyEvent.id))
        .where(*period)
        .group_by(col(CustodyEvent.kind))
    )
    for kind, total in outs:
        taken, _ = sums.get(str(kind), (ZERO, ZERO))
        sums[str(kind)] = (taken, Decimal(total or 0))
    return sums


def stock_takes(
    session: Session, organisation_id: uuid.UUID, since: datetime | None, until: datetime
) -> list[StockTake]:
    stmt = select(StockTake).where(
        col(StockTake.organisation_id) == organisation_id, col(StockTake.counted_at) < until
    )
    if since is not None:
        stmt = stmt.where(col(StockTake.counted_at) >= since)
    return list(session.scalars(stmt.order_by(col(StockTake.counted_at))))
