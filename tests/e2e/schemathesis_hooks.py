"""Schemathesis hooks: how to make a valid `format: bbox` value (see backend.api.params)."""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st


@st.composite
def _bbox(draw: st.DrawFn) -> str:
    lons = sorted(draw(st.floats(-180, 180, allow_nan=False)) for _ in range(2))
    lats = sorted(draw(st.floats(-90, 90, allow_nan=False)) for _ in range(2))
    return f"{lons[0]},{lats[0]},{lons[1]},{lats[1]}"


schemathesis.openapi.format("bbox", _bbox())
