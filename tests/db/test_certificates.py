"""Certificate use cases on both databases: issuance gated by evidence, overrides, void, confirm.

Evidence reports are written here as rows with the verdict each test needs and the lot's real
`data_version`, the way the evidence feature stores them.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.audit.models import AuditEntry
from backend.auth.models import Role
from backend.certificates import queries, service
from backend.certificates.errors import CertificateRefused, EvidenceFails, SigningKeyMissing
from backend.certificates.keys import EMPTY, KeyRing
from backend.certificates.models import Certificate, CertificateStatus, HsCode
from backend.certificates.offline import key_id, verify
from backend.certificates.schemas import CertificateIn, ConfirmationIn, ReplacementIn
from backend.certificates.views import signed_fields
from backend.clock import utcnow
from backend.custody import queries as custody_queries
from backend.custody.models import Lot
from backend.custody.schemas import LotOut, SealIn, SplitIn, ValueIn
from backend.errors import Duplicate, Forbidden, ValidationFailed
from backend.evidence.models import EvidenceOverride, EvidenceReport
from backend.evidence.reports import data_version
from backend.registry.models import Licence
from backend.settings import Settings
from tests.db.test_custody_rules import World, _user, make_world

SETTINGS = Settings(database_url="unused", certificate_issuing_authority="Test KP Authority")


def keyring() -> KeyRing:
    key = Ed25519PrivateKey.generate()
    kid = key_id(key.public_key())
    return KeyRing(signer=key, signer_kid=kid, public={kid: key.public_key()})


KEYS = keyring()


@pytest.fixture
def world(session: Session) -> Iterator[World]:
    yield make_world(session)


def sealed_lots(world: World, n: int = 1, usd: str = "2400.00") -> list[Lot]:
    """`n` valued, sealed lots held by the world's exporter, split from one purchase."""
    lot = world.accept(world.transfer(world.purchase(f"{n * 4}.005", 8 * n)), f"{n * 4}.005", 8 * n)
    lots = [lot]
    if n > 1:
        parts = [LotOut(tag=f"P-{i}", carats=Decimal("4.000"), stone_count=8) for i in range(n)]
        parts[0] = LotOut(tag="P-0", carats=Decimal("4.005"), stone_count=8)
        split = SplitIn(kind="split", occurred_at=world.tick(), lot_id=lot.id, outputs=parts)
        event = world.record(world.exporter, split)
        outs = custody_queries.outputs_of(world.session, [event.id])[event.id]
        lots = [world.lot(o.lot_id) for o in outs]
    for one in lots:
        world.record(
            world.export_office,
            ValueIn(kind="value", occurred_at=world.tick(), lot_id=one.id, usd_value=Decimal(usd)),
        )
        seal = SealIn(kind="seal", occurred_at=world.tick(), lot_id=one.id, container_id="S-1")
        world.record(world.export_office, seal)
    return [world.lot(one.id) for one in lots]


def sealed_lot(world: World) -> Lot:
    return sealed_lots(world)[0]


def check(id_: str, verdict: str) -> dict[str, Any]:
    return {"id": id_, "verdict": verdict, "sentence": f"{id_} is {verdict}", "records": []}


def report(session: Session, lot: Lot, verdict: str = "pass", **checks: str) -> EvidenceReport:
    results = [check(k, v) for k, v in ({"origin": "pass"} | checks).items()]
    row = EvidenceReport(
        lot_id=lot.id,
        verdict=verdict,
        checks=results,
        data_version=data_version(session, lot.id),
        digest=hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
    )
    session.add(row)
    session.commit()
    return row


def body(lot: Lot, **kw: Any) -> CertificateIn:
    values: dict[str, Any] = {
        "lot_id": lot.id,
        "importer_name": "Antwerp Rough Ltd",
        "importer_address": "Hoveniersstraat 2, 2018 Antwerpen",
        "destination_country": "BE",
        "hs_code": HsCode.non_industrial,
    }
    return CertificateIn(**(values | kw))


def issue(world: World, lot: Lot, who: Any = None, keys: KeyRing = KEYS, **kw: Any) -> Certificate:
    return service.issue(
        session=world.session,
        principal=who or world.export_office,
        settings=SETTINGS,
        keyring=keys,
        body=body(lot, **kw),
    )


def count(session: Session, model: Any) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_passing_evidence_issues_a_signed_certificate_with_the_annex_i_fields(
    world: World,
) -> None:
    lot = sealed_lot(world)
    rep = report(world.session, lot)
    cert = issue(world, lot, parcels=2)
    assert re.fullmatch(r"SL-\d{4}-\d{6}", cert.number)
    assert cert.number == f"SL-{cert.year}-{cert.serial:06d}"
    assert cert.country_of_origin == "SL" and cert.issuing_authority == "Test KP Authority"
    assert cert.exporter_name == world.exporter_org.name and cert.destination_country == "BE"
    assert cert.carats == Decimal("4.01") and cert.usd_value == Decimal("2400.00")
    assert cert.hs_code == "7102.31" and cert.parcels == 2
    assert cert.expiry_date - cert.issue_date == timedelta(days=SETTINGS.certificate_validity_days)
    assert (cert.evidence_report_id, cert.evidence_digest) == (rep.id, rep.digest)
    assert cert.override_id is None and cert.status == CertificateStatus.valid
    verified = verify(cert.payload, KEYS.public)
    assert verified.fields == signed_fields(cert) and verified.fields["no"] == cert.number
    entry = world.session.scalars(
        select(AuditEntry).where(col(AuditEntry.entity_id) == str(cert.id))
    ).one()
    assert entry.action == "issue" and entry.username == world.export_office.username
    assert queries.visible_by_number(world.session, world.exporter, cert.number) is not None
    stranger = make_world(world.session).exporter
    assert queries.visible_by_number(world.session, stranger, cert.number) is None


def test_numbers_follow_each_other_without_gaps_and_origin_is_mixed_unless_it_passes(
    world: World,
) -> None:
    first_lot, refused_lot, mixed_lot = sealed_lots(world, 3)
    report(world.session, first_lot)
    report(world.session, refused_lot, "fail", licences="fail")
    report(world.session, mixed_lot, "warn", origin="warn")
    first = issue(world, first_lot)
    with pytest.raises(EvidenceFails):
        issue(world, refused_lot)
    second = issue(world, mixed_lot)
    assert (second.year, second.serial) == (first.year, first.serial + 1)
    assert (first.country_of_origin, second.country_of_origin) == ("SL", "mixed")


def test_failing_evidence_is_refused_naming_checks_until_the_export_office_overrides(
    world: World,
) -> None:
    lot = sealed_lot(world)
    rep = report(world.session, lot, "fail", licences="fail", footprint="fail", sites="warn")
    tables = (Certificate, AuditEntry, EvidenceOverride)
    before = [count(world.session, t) for t in tables]
    with pytest.raises(EvidenceFails) as info:
        issue(world, lot)
    err = info.value
    assert [c["id"] for c in err.extra["failing_checks"]] == ["licences", "footprint"]
    assert "licences, footprint" in err.detail
    assert [e.pointer for e in err.errors] == ["/override_reason"]
    with pytest.raises(Forbidden):
        issue(world, lot, who=world.admin, override_reason="The admin thinks this is fine.")
    assert [count(world.session, t) for t in tables] == before

    reason = "Footprint profile for Kono is from 40 parcels only; expert valuation attached."
    cert = issue(world, lot, override_reason=reason)
    override = world.session.get(EvidenceOverride, cert.override_id)
    assert override is not None and override.report_id == rep.id
    assert override.reason == reason and override.purpose == f"certificate:{cert.number}"
    assert cert.override_reason == reason and verify(cert.payload, KEYS.public).fields["ovr"] == 1
    actions = set(
        world.session.scalars(
            select(col(AuditEntry.action)).where(
                col(AuditEntry.entity_id).in_([str(rep.id), str(cert.id)])
            )
        )
    )
    assert actions == {"override", "issue"}


def test_issuance_needs_a_key_current_evidence_a_sealed_lot_and_no_needless_override(
    world: World,
) -> None:
    lot = sealed_lot(world)
    with pytest.raises(CertificateRefused, match="no evidence report"):
        issue(world, lot)
    report(world.session, lot, "warn", production="warn")
    with pytest.raises(SigningKeyMissing, match="CERTIFICATE_KEY_FILES"):
        issue(world, lot, keys=EMPTY)
    with pytest.raises(ValidationFailed) as info:
        issue(world, lot, override_reason="Nothing fails but override anyway.")
    assert info.value.errors[0].pointer == "/override_reason"
    licence = world.session.get(Licence, world.site.licence_id)
    assert licence is not None
    licence.updated_at = utcnow() + timedelta(minutes=1)  # the latest registry write
    world.session.commit()
    with pytest.raises(CertificateRefused, match="changed since"):
        issue(world, lot)
    assert queries.valid_for_lot(world.session, lot.id) is None
    unsealed = world.accept(world.transfer(world.purchase("2.000", 4)), "2.000", 4)
    report(world.session, unsealed)
    with pytest.raises(CertificateRefused, match="only a sealed export lot") as refused:
        issue(world, unsealed)
    assert refused.value.errors[0].pointer == "/lot_id"
    with pytest.raises(ValidationFailed, match="no such lot"):
        service.issue(
            session=world.session,
            principal=world.export_office,
            settings=SETTINGS,
            keyring=KEYS,
            body=body(lot).model_copy(update={"lot_id": uuid.uuid4()}),
        )


def test_a_lot_gets_one_valid_certificate_and_a_voided_number_is_never_reused(
    world: World,
) -> None:
    lot = sealed_lot(world)
    report(world.session, lot)
    first = issue(world, lot)
    with pytest.raises(Duplicate):
        issue(world, lot)
    replacement = service.replace(
        session=world.session,
        principal=world.export_office,
        settings=SETTINGS,
        keyring=KEYS,
        number=first.number,
        body=ReplacementIn(
            importer_name="Dubai Rough DMCC",
            importer_address="Almas Tower, Dubai",
            destination_country="AE",
            hs_code=HsCode.non_industrial,
            void_reason="Importer changed before shipment.",
        ),
    )
    old = queries.by_number(world.session, first.number)
    assert old is not None and old.status == CertificateStatus.voided
    assert old.void_reason == "Importer changed before shipment."
    assert replacement.number != first.number and replacement.serial == first.serial + 1
    assert replacement.replaces_number == first.number
    assert verify(replacement.payload, KEYS.public).fields["rep"] == first.number
    assert queries.replaced_by(world.session, [old.id]) == {old.id: replacement.number}
    with pytest.raises(Duplicate, match="already been replaced"):
        service.replace(
            session=world.session,
            principal=world.export_office,
            settings=SETTINGS,
            keyring=KEYS,
            number=first.number,
            body=ReplacementIn(
                importer_name="x y",
                importer_address="x y",
                destination_country="AE",
                hs_code=HsCode.non_industrial,
                void_reason="A second replacement of the same one.",
            ),
        )
    voided = service.void(
        session=world.session,
        principal=world.export_office,
        number=replacement.number,
        reason="Shipment cancelled by the exporter.",
    )
    assert voided.status == CertificateStatus.voided and voided.version == 2
    with pytest.raises(CertificateRefused, match="already voided"):
        service.void(
            session=world.session,
            principal=world.export_office,
            number=replacement.number,
            reason="Voiding it a second time.",
        )
    third = issue(world, lot)
    assert third.serial == replacement.serial + 1


def test_confirmation_is_recorded_once_and_unconfirmed_certificates_are_listed(
    world: World,
) -> None:
    lot, other = sealed_lots(world, 2)
    report(world.session, lot)
    report(world.session, other)
    cert, late = issue(world, lot), issue(world, other)
    for c in (cert, late):
        c.issued_at = c.issued_at - timedelta(days=45)
    world.session.commit()
    cutoff = cert.issued_at + timedelta(days=10)
    ministry = _user(world.session, Role.ministry)
    listed = {
        c.number
        for c in world.session.scalars(
            queries.listing(ministry, status=None, overdue_before=cutoff)
        )
    }
    assert {cert.number, late.number} <= listed
    slip = ConfirmationIn(
        received_on=cert.issue_date + timedelta(days=3),
        importing_authority="Belgian FPS Economy, Diamond Office",
        reference="BE-IMP-77",
    )
    confirmed = service.confirm(
        session=world.session, principal=world.export_office, number=cert.number, body=slip
    )
    assert confirmed.confirmed_at is not None and confirmed.confirmation_reference == "BE-IMP-77"
    listed = {
        c.number
        for c in world.session.scalars(
            queries.listing(ministry, status=None, overdue_before=cutoff)
        )
    }
    assert late.number in listed and cert.number not in listed
    with pytest.raises(Duplicate):
        service.confirm(
            session=world.session, principal=world.export_office, number=cert.number, body=slip
        )
    early = ConfirmationIn(
        received_on=late.issue_date - timedelta(days=1), importing_authority="Somebody"
    )
    with pytest.raises(ValidationFailed):
        service.confirm(
            session=world.session, principal=world.export_office, number=late.number, body=early
        )
    years = {y["year"]: y for y in queries.counts_by_year(world.session, cutoff)}
    mine = years[cert.year]
    assert mine["confirmed"] >= 1 and mine["awaiting_confirmation_overdue"] >= 1
