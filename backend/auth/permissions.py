"""Which role may do what to which resource: the one table, checked before any query runs.

Scope *within* an allowed action (a field officer's districts, a buyer's organisation) is
applied in the queries themselves; this table only says whether the action is open at all.
"""

from __future__ import annotations

from enum import StrEnum

from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.errors import Forbidden


class Action(StrEnum):
    read = "read"
    write = "write"
    administer = "administer"  # licence status changes, overlap overrides


R = Role
ALL = frozenset(Role)

PERMISSIONS: dict[tuple[str, Action], frozenset[Role]] = {
    ("jurisdiction", Action.read): ALL,
    ("jurisdiction", Action.write): frozenset({R.admin, R.ministry}),
    ("organisation", Action.read): ALL,
    ("organisation", Action.write): frozenset({R.admin, R.ministry}),
    # Buyers and exporters get a reduced view (name and licence numbers); donors none at all.
    ("miner", Action.read): ALL - {R.donor},
    ("miner", Action.write): frozenset({R.admin, R.ministry, R.field_officer}),
    ("licence", Action.read): ALL,
    ("licence", Action.write): frozenset({R.admin, R.ministry}),
    ("licence", Action.administer): frozenset({R.admin, R.ministry}),
    ("site", Action.read): ALL,
    ("site", Action.write): frozenset({R.admin, R.ministry, R.field_officer}),
    ("site_visit", Action.read): ALL - {R.buyer, R.exporter},
    ("site_visit", Action.write): frozenset({R.admin, R.ministry, R.field_officer}),
    ("audit", Action.read): frozenset({R.admin, R.ministry, R.auditor}),
    ("user", Action.read): frozenset({R.admin}),
    ("user", Action.write): frozenset({R.admin}),
    # Custody: which kinds each role may record is in custody/rules.py (KIND_ROLES); buyers and
    # exporters are scoped to their organisation's lots and events in custody/queries.py.
    ("lot", Action.read): ALL - {R.donor},
    ("custody_event", Action.read): ALL - {R.donor},
    ("custody_event", Action.write): ALL - {R.donor, R.auditor},
    ("trace", Action.read): ALL - {R.donor, R.field_officer},
    ("balance", Action.read): ALL - {R.donor, R.field_officer},
    ("stock_take", Action.write): frozenset({R.admin, R.ministry, R.buyer, R.exporter}),
    ("custody_chain", Action.read): ALL - {R.donor, R.field_officer},
    # Evidence: national readers see every report, an exporter its own lots' (evidence/access.py);
    # the export office (and admin) computes; buyers, donors and field officers see none.
    ("evidence_report", Action.read): frozenset(
        {R.admin, R.ministry, R.auditor, R.export_office, R.exporter}
    ),
    ("evidence_report", Action.write): frozenset({R.admin, R.export_office}),
    ("capacity_rate", Action.read): frozenset({R.admin, R.ministry, R.auditor, R.export_office}),
    ("capacity_rate", Action.write): frozenset({R.admin, R.ministry}),
    ("footprint_profile", Action.read): frozenset(
        {R.admin, R.ministry, R.auditor, R.export_office}
    ),
    ("footprint_profile", Action.write): frozenset({R.admin, R.ministry, R.export_office}),
    # Incidents name people and places under investigation: not for traders or donors.
    ("incident", Action.read): frozenset(
        {R.admin, R.ministry, R.field_officer, R.export_office, R.auditor}
    ),
    ("incident", Action.write): frozenset({R.admin, R.ministry, R.field_officer, R.export_office}),
    # Certificates: exporters are scoped to their own in certificates/queries.py; donors get
    # counts only; verifying a certificate by number or payload is public.
    ("certificate", Action.read): frozenset(
        {R.admin, R.ministry, R.auditor, R.export_office, R.exporter}
    ),
    ("certificate", Action.write): frozenset({R.admin, R.export_office}),
    ("certificate_counts", Action.read): frozenset(
        {R.admin, R.ministry, R.auditor, R.export_office, R.donor}
    ),
}


def allowed(principal: Principal, resource: str, action: Action) -> bool:
    return principal.role in PERMISSIONS.get((resource, action), frozenset())


def require(principal: Principal, resource: str, action: Action) -> None:
    if not allowed(principal, resource, action):
        raise Forbidden(
            f"the {principal.role.value} role may not {action.value} {resource} records"
        )


# Views of a miner: what each role receives.
FULL_MINER_VIEW = frozenset({R.admin, R.ministry, R.field_officer, R.export_office, R.auditor})
PURCHASE_MINER_VIEW = frozenset({R.buyer, R.exporter})
