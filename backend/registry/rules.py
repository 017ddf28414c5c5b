"""Registry rules with no I/O: licence holders and dates, effective licence status."""

from __future__ import annotations

from datetime import date

from backend.errors import FieldError
from backend.registry.models import LicenceKind, LicenceStatus
from backend.registry.schemas import LicenceCreate

P = "/properties/"


def licence_create_errors(props: LicenceCreate) -> list[FieldError]:
    """What is wrong with a new licence's holder, district and dates, field by field."""
    errors: list[FieldError] = []
    if props.valid_to < props.valid_from:
        errors.append(FieldError(P + "valid_to", "valid_to is before valid_from"))
    if props.kind is LicenceKind.artisanal_mining:
        if props.holder_miner_id is None:
            errors.append(
                FieldError(P + "holder_miner_id", "an artisanal_mining licence is held by a miner")
            )
        if props.holder_organisation_id is not None:
            errors.append(
                FieldError(
                    P + "holder_organisation_id",
                    "an artisanal_mining licence is held by a miner, not an organisation",
                )
            )
        if props.district is None:
            errors.append(
                FieldError(P + "district", "an artisanal_mining licence needs its district")
            )
        if props.fit_and_proper is not None:
            errors.append(
                FieldError(
                    P + "fit_and_proper",
                    "fit_and_proper applies to buyer and exporter licences only",
                )
            )
    else:
        if props.holder_organisation_id is None:
            errors.append(
                FieldError(
                    P + "holder_organisation_id",
                    f"a {props.kind.value} licence is held by an organisation",
                )
            )
        if props.holder_miner_id is not None:
            errors.append(
                FieldError(
                    P + "holder_miner_id",
                    f"a {props.kind.value} licence is held by an organisation, not a miner",
                )
            )
        if props.fit_and_proper is None:
            errors.append(
                FieldError(
                    P + "fit_and_proper",
                    f"a {props.kind.value} licence needs the fit-and-proper finding (true/false)",
                )
            )
    return errors


def effective_status(status: str, valid_to: date, today: date) -> LicenceStatus:
    """An active licence past its end date is expired, whether or not anyone has noted it yet."""
    current = LicenceStatus(status)
    if current is LicenceStatus.active and valid_to < today:
        return LicenceStatus.expired
    return current


# Which status a licence may move to from each status; revocation is final.
TRANSITIONS: dict[LicenceStatus, frozenset[LicenceStatus]] = {
    LicenceStatus.active: frozenset(
        {LicenceStatus.suspended, LicenceStatus.revoked, LicenceStatus.expired}
    ),
    LicenceStatus.suspended: frozenset(
        {LicenceStatus.active, LicenceStatus.revoked, LicenceStatus.expired}
    ),
    LicenceStatus.expired: frozenset({LicenceStatus.active, LicenceStatus.revoked}),
    LicenceStatus.revoked: frozenset(),
}


def transition_error(current: LicenceStatus, target: LicenceStatus) -> str | None:
    if target in TRANSITIONS[current]:
        return None
    allowed = (
        ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none: revocation is final"
    )
    return f"a {current.value} licence cannot become {target.value} (allowed: {allowed})"
