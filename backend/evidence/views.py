"""How an evidence report looks: public JSON, and a plain server-rendered HTML page."""

from __future__ import annotations

from html import escape
from typing import Any

from backend.evidence.models import EvidenceOverride, EvidenceReport

LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}
TITLES = {
    "licences": "1. Licences",
    "sites": "2. Sites",
    "purchase_points": "3. Purchase points",
    "custody": "4. Custody",
    "production": "5. Production plausibility",
    "footprint": "6. Footprint",
    "origin": "7. Origin",
    "incidents": "8. Incidents",
}


def report_public(
    report: EvidenceReport, lot_tag: str, current: bool, overrides: list[EvidenceOverride]
) -> dict[str, Any]:
    return {
        "id": str(report.id),
        "lot_id": str(report.lot_id),
        "lot_tag": lot_tag,
        "computed_at": report.computed_at.isoformat(),
        "computed_by": None if report.computed_by is None else str(report.computed_by),
        "verdict": report.verdict,
        "current": current,
        "data_version": report.data_version,
        "digest": report.digest,
        "checks": report.checks,
        "overrides": [
            {
                "id": str(o.id),
                "reason": o.reason,
                "decided_by": str(o.decided_by),
                "decided_at": o.decided_at.isoformat(),
                "purpose": o.purpose,
            }
            for o in overrides
        ],
    }


def report_html(data: dict[str, Any]) -> str:
    """A page for people who do not read JSON: verdicts, sentences, staleness, overrides."""
    rows = []
    for check in data["checks"]:
        records = check.get("records") or []
        shown = ", ".join(escape(r) for r in records[:10])
        more = f" and {len(records) - 10} more" if len(records) > 10 else ""
        rows.append(
            f'<tr class="{escape(check["verdict"])}"><th scope="row">'
            f"{escape(TITLES.get(check['id'], check['id']))}<br><code>{escape(check['id'])}</code>"
            f"</th><td><strong>{LABEL.get(check['verdict'], check['verdict'])}</strong></td>"
            f"<td>{escape(check['sentence'])}"
            + (f'<div class="records">Records: {shown}{more}</div>' if records else "")
            + "</td></tr>"
        )
    stale = (
        ""
        if data["current"]
        else '<p class="stale" role="alert">This report was computed on data that has changed '
        "since. Recompute it before relying on it.</p>"
    )
    overrides = "".join(
        f"<li>{escape(o['decided_at'])}: {escape(o['purpose'])}: {escape(o['reason'])}</li>"
        for o in data["overrides"]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Evidence report for lot {escape(data["lot_tag"])}</title>
<style>
body {{ font-family: sans-serif; max-width: 60rem; margin: 2rem auto; line-height: 1.4; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #999; padding: .4rem; vertical-align: top; text-align: left; }}
tr.fail td:nth-child(2) {{ background: #f8d0d0; }}
tr.warn td:nth-child(2) {{ background: #fbeec0; }}
tr.pass td:nth-child(2) {{ background: #d4efd4; }}
.stale {{ border: 2px solid #b00; padding: .5rem; font-weight: bold; }}
.records {{ font-size: .8rem; color: #444; word-break: break-all; }}
</style></head><body>
<h1>Internal-control evidence: lot {escape(data["lot_tag"])}</h1>
<p>Verdict: <strong>{LABEL.get(data["verdict"], escape(data["verdict"]))}</strong>.
Computed {escape(data["computed_at"])}. Report {escape(data["id"])}.</p>
{stale}
<table><thead><tr><th>Check</th><th>Verdict</th><th>Finding</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>Overrides</h2>
{"<ul>" + overrides + "</ul>" if overrides else "<p>None.</p>"}
<p>Digest (SHA-256): <code>{escape(data["digest"])}</code><br>
Data version: <code>{escape(data["data_version"])}</code></p>
</body></html>
"""
