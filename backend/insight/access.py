"""Who may read which insight view: one table, checked before any query runs.

Scope inside an allowed view (an officer's districts, a buyer's own organisation) is applied by
the queries; donors reach aggregates only, with no person, phone, id or purchase point.
"""

from __future__ import annotations

from collections.abc import Collection

from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.errors import Forbidden

R = Role
NATIONAL_READERS = frozenset({R.admin, R.ministry, R.auditor, R.export_office})
SUPERVISORS = frozenset({R.admin, R.ministry})

STATISTICS = NATIONAL_READERS | {R.field_officer, R.buyer, R.exporter, R.donor}
RETURNS = NATIONAL_READERS | {R.donor}
NON_REPORTING = NATIONAL_READERS | {R.field_officer}
COVERAGE = NATIONAL_READERS | {R.field_officer, R.donor}
SPOT_CHECKS = SUPERVISORS | {R.field_officer, R.auditor}
TASKS_READ = SUPERVISORS | {R.field_officer, R.auditor}
EXPORTS = NATIONAL_READERS | {R.field_officer}
# Purchase points are exact places of a trade: never for donors, officers see no purchases.
PURCHASE_POINTS = NATIONAL_READERS | {R.buyer, R.exporter}


def require_role(principal: Principal, roles: Collection[Role], what: str) -> None:
    if principal.role not in roles:
        raise Forbidden(f"the {principal.role.value} role may not {what}")
