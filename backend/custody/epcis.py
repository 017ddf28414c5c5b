"""EPCIS 2.0 JSON-LD export of a lot's custody events (GS1 EPCIS 2.0, CBV 2.0).

Lots are not serialised items but quantities of a class, so each appears in quantity lists
as `epcClass` = urn:alluvial-trace:lot:<uuid> with its carats in `CTM` (metric carat, UN/CEFACT
Recommendation 20). Parties are urn:alluvial-trace:org:<uuid> / urn:alluvial-trace:miner:<uuid>,
sites urn:alluvial-trace:site:<uuid>; a GPS point is the readPoint as a geo: URI (RFC 5870).

| kind        | EPCIS event type    | action | bizStep       | disposition      |
| ----------- | ------------------- | ------ | ------------- | ---------------- |
| produce     | ObjectEvent         | ADD    | commissioning | active           |
| purchase    | TransactionEvent    | ADD    | receiving     | in_progress      |
|  (of a recorded production lot: TransformationEvent, same bizStep)              |
| consolidate | TransformationEvent | -      | repackaging   | in_progress      |
| split       | TransformationEvent | -      | repackaging   | in_progress      |
| transfer    | ObjectEvent         | OBSERVE| shipping      | in_transit       |
| accept      | TransformationEvent | -      | accepting     | in_progress      |
| reweigh     | TransformationEvent | -      | inspecting    | in_progress      |
| value       | ObjectEvent         | OBSERVE| inspecting    | in_progress      |
| seal        | AggregationEvent    | ADD    | packing       | container_closed |
| export      | ObjectEvent         | OBSERVE| departing     | in_transit       |
| void        | ObjectEvent         | DELETE | decommissioning | inactive       |

Purchases carry their receipt as bizTransaction type `inv`, transfers as `desadv` and
acceptances as `recadv`; source and destination are `owning_party`. An event that a later
event corrects carries an EPCIS `errorDeclaration` naming the correcting events. What EPCIS
has no field for (price, USD value, licences, flags, hash chain) travels in the
`at:` extension namespace declared in `@context`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from backend.api.jsonio import jsonable
from backend.clock import as_utc, utcnow
from backend.custody import queries
from backend.custody.models import CustodyEvent, EventInput, EventKind, EventOutput, Lot
from backend.spatial import from_db

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EXTENSION_NS = "https://alluvial-trace.org/epcis/"
CBV_BIZSTEP = "https://ref.gs1.org/cbv/BizStep-"
CBV_DISP = "https://ref.gs1.org/cbv/Disp-"
CBV_BTT = "https://ref.gs1.org/cbv/BTT-"
CBV_SDT = "https://ref.gs1.org/cbv/SDT-"
CARAT_UOM = "CTM"

# kind -> (event type, action, bizStep, disposition)
MAPPING: dict[EventKind, tuple[str, str | None, str, str]] = {
    EventKind.produce: ("ObjectEvent", "ADD", "commissioning", "active"),
    EventKind.purchase: ("TransactionEvent", "ADD", "receiving", "in_progress"),
    EventKind.consolidate: ("TransformationEvent", None, "repackaging", "in_progress"),
    EventKind.split_: ("TransformationEvent", None, "repackaging", "in_progress"),
    EventKind.transfer: ("ObjectEvent", "OBSERVE", "shipping", "in_transit"),
    EventKind.accept: ("TransformationEvent", None, "accepting", "in_progress"),
    EventKind.reweigh: ("TransformationEvent", None, "inspecting", "in_progress"),
    EventKind.value: ("ObjectEvent", "OBSERVE", "inspecting", "in_progress"),
    EventKind.seal: ("AggregationEvent", "ADD", "packing", "container_closed"),
    EventKind.export: ("ObjectEvent", "OBSERVE", "departing", "in_transit"),
    EventKind.void: ("ObjectEvent", "DELETE", "decommissioning", "inactive"),
}
TRANSACTION_TYPES = {
    EventKind.purchase: "inv",
    EventKind.transfer: "desadv",
    EventKind.accept: "recadv",
}


def urn(kind: str, value: object) -> str:
    return f"urn:alluvial-trace:{kind}:{value}"


def _time(value: Any) -> str:
    return str(as_utc(value).isoformat().replace("+00:00", "Z"))


def _quantity(lot_id: uuid.UUID, carats: Any) -> dict[str, Any]:
    return {"epcClass": urn("lot", lot_id), "quantity": float(carats), "uom": CARAT_UOM}


def _party(org_id: uuid.UUID | None, miner_id: uuid.UUID | None) -> str | None:
    if org_id is not None:
        return urn("org", org_id)
    if miner_id is not None:
        return urn("miner", miner_id)
    return None


def epcis_event(
    e: CustodyEvent,
    inputs: Sequence[EventInput],
    outputs: Sequence[EventOutput],
    corrections: Sequence[CustodyEvent],
) -> dict[str, Any]:
    kind = EventKind(e.kind)
    event_type, action, biz_step, disposition = MAPPING[kind]
    if kind is EventKind.purchase and inputs:
        event_type, action = "TransformationEvent", None
    doc: dict[str, Any] = {
        "type": event_type,
        "eventID": f"urn:uuid:{e.id}",
        "eventTime": _time(e.occurred_at),
        "eventTimeZoneOffset": "+00:00",
        "recordTime": _time(e.created_at),
        "bizStep": biz_step,
        "disposition": disposition,
    }
    if action is not None:
        doc["action"] = action
    in_q = [_quantity(i.lot_id, i.carats) for i in inputs]
    out_q = [_quantity(o.lot_id, o.carats) for o in outputs]
    if event_type == "TransformationEvent":
        doc["inputQuantityList"] = in_q
        doc["outputQuantityList"] = out_q
    elif event_type == "AggregationEvent":
        doc["parentID"] = urn("container", e.container_id)
        doc["childQuantityList"] = in_q
    else:
        doc["quantityList"] = out_q if kind in (EventKind.produce, EventKind.purchase) else in_q
    shape = from_db(e.location)
    if shape is not None:
        doc["readPoint"] = {"id": f"geo:{shape.y},{shape.x}"}
    elif e.device_id:
        doc["readPoint"] = {"id": urn("device", e.device_id)}
    if e.site_id is not None:
        doc["bizLocation"] = {"id": urn("site", e.site_id)}
    if kind in TRANSACTION_TYPES:
        reference = e.receipt_number if kind is EventKind.purchase else str(e.id)
        doc["bizTransactionList"] = [
            {"type": TRANSACTION_TYPES[kind], "bizTransaction": urn("transaction", reference)}
        ]
    source, destination = _parties(e)
    if source:
        doc["sourceList"] = [{"type": "owning_party", "source": source}]
    if destination:
        doc["destinationList"] = [{"type": "owning_party", "destination": destination}]
    if corrections:
        doc["errorDeclaration"] = {
            "declarationTime": _time(min(c.created_at for c in corrections)),
            "reason": "incorrect_data",
            "correctiveEventIDs": [f"urn:uuid:{c.id}" for c in corrections],
        }
    doc["at:custody"] = jsonable(
        {
            "kind": kind.value,
            "chainId": str(e.chain_id),
            "chainSeq": e.chain_seq,
            "prevHash": e.prev_hash,
            "hash": e.hash,
            "recordedBy": str(e.recorded_by),
            "deviceId": e.device_id,
            "deviceTime": None if e.device_time is None else _time(e.device_time),
            "licences": [
                str(x)
                for x in (e.organisation_licence_id, e.counterparty_licence_id, e.miner_licence_id)
                if x is not None
            ],
            "price": None if e.price is None else str(e.price),
            "currency": e.currency,
            "usdValue": None if e.usd_value is None else str(e.usd_value),
            "containerId": e.container_id,
            "reason": e.reason,
            "breakageDeclared": e.breakage_declared,
            "correctsEventID": None
            if e.corrects_event_id is None
            else f"urn:uuid:{e.corrects_event_id}",
            "flags": e.flags or [],
        }
    )
    return doc


def _parties(e: CustodyEvent) -> tuple[str | None, str | None]:
    kind = EventKind(e.kind)
    if kind is EventKind.purchase:
        return _party(None, e.miner_id), _party(e.organisation_id, None)
    if kind is EventKind.transfer:
        return _party(e.organisation_id, None), _party(e.counterparty_organisation_id, None)
    if kind is EventKind.accept:
        return _party(e.counterparty_organisation_id, None), _party(e.organisation_id, None)
    return None, None


def document(session: Session, events: Sequence[CustodyEvent], lot: Lot) -> dict[str, Any]:
    """An EPCISDocument of these events (oldest first), as JSON-LD."""
    ids = [e.id for e in events]
    ins = queries.inputs_of(session, ids)
    outs = queries.outputs_of(session, ids)
    fixes = queries.corrections_of(session, ids)
    return {
        "@context": [EPCIS_CONTEXT, {"at": EXTENSION_NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(utcnow()),
        "epcisBody": {
            "eventList": [epcis_event(e, ins[e.id], outs[e.id], fixes[e.id]) for e in events]
        },
        "at:lot": urn("lot", lot.id),
    }
