"""Schemathesis hooks: how to make a valid `format: bbox` value (see backend.api.params), and
no made-up list cursors.

A cursor is the server's own signed token (an HMAC over the page's last id, the list and its
filters): no schema can say which strings the server issued, so any generated one is refused
with a 422 naming `cursor`. tests/e2e/test_security.py proves that refusal; here cursors are
left out of generated queries so every other parameter is still exercised.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st


@st.composite
def _bbox(draw: st.DrawFn) -> str:
    lons = sorted(draw(st.floats(-180, 180, allow_nan=False)) for _ in range(2))
    lats = sorted(draw(st.floats(-90, 90, allow_nan=False)) for _ in range(2))
    return f"{lons[0]},{lats[0]},{lons[1]},{lats[1]}"


schemathesis.openapi.format("bbox", _bbox())


@schemathesis.hook
def map_query(ctx: object, query: dict[str, object] | None) -> dict[str, object] | None:
    if query:
        query.pop("cursor", None)
    return query
