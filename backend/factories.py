"""Default factories' signatures, inspected once per factory instead of once per row.

SQLModel builds a table row through pydantic's `FieldInfo.get_default`, and pydantic 2.14
asks `inspect.signature` of the field's default factory (`uuid7`, `utcnow`, `list`) on every
call, to learn whether it takes the validated data (pydantic/pydantic#13376 is the same defect
for private attributes). The answer depends only on the factory. A push of 500 ops spent 13 %
of its time there, and the signatures' throw-away objects fed the cycle collector.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pydantic._internal import _fields

_inspect = _fields.takes_validated_data_argument


@functools.cache
def takes_validated_data_argument(default_factory: Callable[..., Any]) -> bool:
    return bool(_inspect(default_factory))


def install() -> None:
    """Answer pydantic's question from the memo (idempotent)."""
    _fields.takes_validated_data_argument = takes_validated_data_argument  # type: ignore[assignment]


install()
