"""QR codes of a certificate's signed payload, as SVG or PNG (segno, pure Python)."""

from __future__ import annotations

import io

import segno


def qr_svg(payload: str, *, scale: int = 3) -> bytes:
    out = io.BytesIO()
    # Error correction M: survives a crease or stain on a printed certificate.
    segno.make(payload, error="m", micro=False).save(
        out, kind="svg", scale=scale, xmldecl=False, title="KP certificate payload"
    )
    return out.getvalue()


def qr_png(payload: str, *, scale: int = 4) -> bytes:
    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(out, kind="png", scale=scale)
    return out.getvalue()
