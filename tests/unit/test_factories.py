"""A row's default factories are inspected once per factory, not once per row."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from backend import factories

# A fresh interpreter that imports only the models, as the server does: the memo must come
# with them.
BUILD_ROWS = textwrap.dedent(
    """
    from pydantic._internal import _typing_extra
    from backend.audit.models import AuditEntry
    from backend.registry.models import Miner

    calls = []
    real = _typing_extra.signature_no_eval

    def counted(fn, *args, **kwargs):
        calls.append(fn)
        return real(fn, *args, **kwargs)

    _typing_extra.signature_no_eval = counted
    for i in range(50):
        Miner(full_name=f"Miner {i}", district_code="KONO", status="active")
        AuditEntry(action="create", entity_type="miner", entity_id="x", user_id=None)
    print(len(calls), len(set(map(id, calls))))
    """
)


def test_building_rows_inspects_each_default_factory_once() -> None:
    out = subprocess.run(
        [sys.executable, "-c", BUILD_ROWS], capture_output=True, text=True, check=True
    ).stdout
    calls, distinct = map(int, out.split())
    assert calls > 0, "building a row asks about its default factories"
    assert calls == distinct, f"{calls} inspections of {distinct} factories"


@pytest.mark.parametrize("factory", [list, dict, lambda: 1, lambda data: data])
def test_the_memo_gives_pydantics_own_answer(factory: Any) -> None:
    assert factories.takes_validated_data_argument(factory) == bool(factories._inspect(factory))
