"""The printable certificate: one A4 HTML page (English and French) with its QR code."""

from __future__ import annotations

from html import escape

from backend.certificates.models import Certificate
from backend.certificates.qr import qr_svg

STATEMENT_EN = (
    "The rough diamonds in this shipment have been handled in accordance with the provisions "
    "of the Kimberley Process Certification Scheme for rough diamonds."
)
STATEMENT_FR = (
    "Les diamants bruts de cette expédition ont été traités conformément aux dispositions du "
    "Système de certification du Processus de Kimberley pour les diamants bruts."
)

CSS = """
@page { size: A4; margin: 18mm; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10.5pt; color: #000; }
h1 { font-size: 17pt; margin: 0 0 2mm; } h1 small { display: block; font-size: 12pt; }
.statement { border: 1px solid #000; padding: 3mm; margin: 4mm 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #000; padding: 2mm; text-align: left; vertical-align: top; }
th { width: 42%; font-weight: normal; } th span { display: block; font-size: 8.5pt; color: #333; }
.qr { float: right; margin: 0 0 4mm 4mm; text-align: center; font-size: 8pt; width: 62mm; }
.qr svg { width: 60mm; height: 60mm; }
.voided { color: #a00; font-size: 20pt; font-weight: bold; border: 3px solid #a00; padding: 2mm; }
.note { margin-top: 4mm; font-size: 9pt; }
.sign { margin-top: 14mm; display: flex; justify-content: space-between; }
.sign div { border-top: 1px solid #000; width: 45%; padding-top: 1mm; font-size: 9pt; }
@media screen { body { max-width: 190mm; margin: 10mm auto; } }
"""


def _row(en: str, fr: str, value: object) -> str:
    return f"<tr><th>{escape(en)}<span>{escape(fr)}</span></th><td>{escape(str(value))}</td></tr>"


def render(cert: Certificate) -> str:
    origin = "Mixed / Mixte" if cert.country_of_origin == "mixed" else cert.country_of_origin
    rows = "".join(
        (
            _row("Certificate number", "Numéro du certificat", cert.number),
            _row("Issuing country", "Pays émetteur", cert.country_code),
            _row("Country of origin", "Pays d'origine", origin),
            _row("Issuing authority", "Autorité émettrice", cert.issuing_authority),
            _row("Exporter", "Exportateur", cert.exporter_name),
            _row("Importer", "Importateur", f"{cert.importer_name}, {cert.importer_address}"),
            _row("Country of destination", "Pays de destination", cert.destination_country),
            _row("Carat weight", "Poids en carats", f"{cert.carats} ct"),
            _row("Value (USD)", "Valeur (USD)", cert.usd_value),
            _row("Number of parcels", "Nombre de colis", cert.parcels),
            _row("HS code", "Code SH", cert.hs_code),
            _row("Date of issue", "Date de délivrance", cert.issue_date.isoformat()),
            _row("Date of expiry", "Date d'expiration", cert.expiry_date.isoformat()),
            _row("Evidence report digest", "Empreinte du rapport de preuves", cert.evidence_digest),
            _row("Signing key", "Clé de signature", cert.key_id),
        )
    )
    voided = ""
    if cert.status == "voided":
        voided = '<p class="voided">VOIDED / ANNULÉ</p>'
    notes = []
    if cert.replaces_number:
        notes.append(
            f"Replaces voided certificate / Remplace le certificat annulé "
            f"{escape(cert.replaces_number)}."
        )
    if cert.override_reason:
        notes.append(
            "Issued on an export-office override of failing evidence / Délivré sur décision "
            f"motivée du bureau d'exportation : {escape(cert.override_reason)}"
        )
    note_html = "".join(f'<p class="note">{n}</p>' for n in notes)
    qr = qr_svg(cert.payload).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Kimberley Process Certificate {escape(cert.number)}</title>
<style>{CSS}</style></head>
<body>
<div class="qr">{qr}<br>Scan to verify offline / Scanner pour vérifier hors ligne</div>
<h1>Kimberley Process Certificate<small>Certificat du Processus de Kimberley</small></h1>
{voided}
<p class="statement">{escape(STATEMENT_EN)}<br><i lang="fr">{escape(STATEMENT_FR)}</i></p>
<table>{rows}</table>
{note_html}
<div class="sign"><div>Validation by the exporting authority / Validation par l'autorité
d'exportation</div><div>Signature and stamp / Signature et cachet</div></div>
</body></html>
"""
