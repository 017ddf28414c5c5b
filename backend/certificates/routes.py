"""Certificate endpoints: issue, void, replace, confirm, read, print, QR, public verify and keys."""

from __future__ import annotations

from datetime import timedelta

from starlette.responses import HTMLResponse, Response

from backend.api.inputs import parse_model
from backend.api.jsonio import JSON
from backend.api.listing import (
    Q_CURSOR,
    Q_LIMIT,
    enum_param,
    page_of,
    reject_unknown_params,
    run_page,
)
from backend.api.routing import Context, QueryParam, Router
from backend.auth.permissions import Action, require
from backend.certificates import page, queries, service
from backend.certificates.keys import KeyRing
from backend.certificates.models import Certificate, CertificateStatus
from backend.certificates.offline import VerificationFailed, verify
from backend.certificates.qr import qr_png, qr_svg
from backend.certificates.schemas import (
    CertificateCounts,
    CertificateIn,
    CertificatePublic,
    CertificatesPublic,
    CertificateVoidIn,
    ConfirmationIn,
    PublicKeys,
    ReplacementIn,
    Verification,
)
from backend.certificates.views import certificate_public, fields_public, is_expired, signed_fields
from backend.clock import utcnow
from backend.errors import FieldError, NotFound, ValidationFailed

router = Router("certificates")
API = "/api/v1/certificates"
KEYS_PATH = "/.well-known/kp-certificate-keys.json"
MAX_PAYLOAD = 4000


def _keyring(ctx: Context) -> KeyRing:
    keyring: KeyRing = ctx.request.app.state.keyring
    return keyring


def _out(ctx: Context, cert: Certificate, status: int = 200) -> Response:
    successor = queries.replaced_by(ctx.session, [cert.id]).get(cert.id)
    return JSON(certificate_public(cert, successor), status_code=status)


def _visible(ctx: Context) -> Certificate:
    require(ctx.user, "certificate", Action.read)
    number = str(ctx.path["number"])
    cert = queries.visible_by_number(ctx.session, ctx.user, number)
    if cert is None:
        raise NotFound(f"no certificate {number} in your scope")
    return cert


@router.route(
    "POST",
    API,
    "Issue a KP certificate for a sealed export lot whose current evidence does not fail",
    request=CertificateIn,
    response=CertificatePublic,
    status=201,
    errors=(403, 409, 422),
    description="A failing report needs `override_reason` from an export-office officer; the "
    "override is audited and kept on the certificate. Numbers are `CC-YYYY-NNNNNN`, gapless "
    "per country and year.",
)
def issue(ctx: Context) -> Response:
    require(ctx.user, "certificate", Action.write)
    body = parse_model(CertificateIn, ctx.body)
    cert = service.issue(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        keyring=_keyring(ctx),
        body=body,
    )
    return _out(ctx, cert, 201)


Q_STATUS = QueryParam(
    "status", "valid or voided", {"type": "string", "enum": [s.value for s in CertificateStatus]}
)
Q_OVERDUE = QueryParam(
    "awaiting_confirmation",
    "true: valid certificates with no import confirmation after the confirmation period",
    {"type": "boolean"},
)


@router.route(
    "GET",
    API,
    "List certificates (exporters: their own; ministry, auditors, export office: all)",
    response=CertificatesPublic,
    query=(Q_STATUS, Q_OVERDUE, Q_LIMIT, Q_CURSOR),
    errors=(403, 422),
)
def list_certificates(ctx: Context) -> Response:
    require(ctx.user, "certificate", Action.read)
    reject_unknown_params(ctx.request, ("status", "awaiting_confirmation"))
    status = enum_param(ctx.request, "status", [s.value for s in CertificateStatus])
    overdue = enum_param(ctx.request, "awaiting_confirmation", ["true", "false"]) == "true"
    before = utcnow() - timedelta(days=ctx.settings.certificate_confirmation_days)
    stmt = queries.listing(ctx.user, status=status, overdue_before=before if overdue else None)
    rows, cursor = run_page(ctx.session, stmt, Certificate.id, page_of(ctx.request, ctx.settings))
    successors = queries.replaced_by(ctx.session, [c.id for c in rows])
    items = [certificate_public(c, successors.get(c.id)) for c in rows]
    return JSON({"items": items, "next_cursor": cursor})


@router.route(
    "GET",
    API + "/counts",
    "Certificate counts per year (donors see these and nothing else)",
    response=CertificateCounts,
    errors=(403,),
)
def counts(ctx: Context) -> Response:
    require(ctx.user, "certificate_counts", Action.read)
    days = ctx.settings.certificate_confirmation_days
    years = queries.counts_by_year(ctx.session, utcnow() - timedelta(days=days))
    return JSON({"confirmation_days": days, "years": years})


@router.route(
    "GET",
    API + "/{number}",
    "One certificate, with its override, voiding, replacement and confirmation",
    response=CertificatePublic,
    errors=(403, 404),
)
def read(ctx: Context) -> Response:
    return _out(ctx, _visible(ctx))


@router.route(
    "POST",
    API + "/{number}/void",
    "Void a certificate (its number is never reused)",
    request=CertificateVoidIn,
    response=CertificatePublic,
    errors=(403, 404, 409, 422),
)
def void(ctx: Context) -> Response:
    require(ctx.user, "certificate", Action.write)
    body = parse_model(CertificateVoidIn, ctx.body)
    cert = service.void(
        session=ctx.session, principal=ctx.user, number=str(ctx.path["number"]), reason=body.reason
    )
    return _out(ctx, cert)


@router.route(
    "POST",
    API + "/{number}/replace",
    "Void a certificate and issue its replacement for the same lot, under a new number",
    request=ReplacementIn,
    response=CertificatePublic,
    status=201,
    errors=(403, 404, 409, 422),
)
def replace(ctx: Context) -> Response:
    require(ctx.user, "certificate", Action.write)
    body = parse_model(ReplacementIn, ctx.body)
    cert = service.replace(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        keyring=_keyring(ctx),
        number=str(ctx.path["number"]),
        body=body,
    )
    return _out(ctx, cert, 201)


@router.route(
    "POST",
    API + "/{number}/confirmation",
    "Record the import confirmation (return slip) from the importing authority",
    request=ConfirmationIn,
    response=CertificatePublic,
    errors=(403, 404, 409, 422),
)
def confirm(ctx: Context) -> Response:
    require(ctx.user, "certificate", Action.write)
    body = parse_model(ConfirmationIn, ctx.body)
    cert = service.confirm(
        session=ctx.session, principal=ctx.user, number=str(ctx.path["number"]), body=body
    )
    return _out(ctx, cert)


@router.route(
    "GET",
    API + "/{number}/print",
    "The printable certificate: an A4 HTML page with its QR code",
    media_type="text/html",
    errors=(403, 404),
)
def print_page(ctx: Context) -> Response:
    return HTMLResponse(page.render(_visible(ctx)))


@router.route(
    "GET",
    API + "/{number}/qr.svg",
    "The certificate's signed payload as a QR code (SVG)",
    media_type="image/svg+xml",
    errors=(403, 404),
)
def qr_as_svg(ctx: Context) -> Response:
    return Response(qr_svg(_visible(ctx).payload), media_type="image/svg+xml")


@router.route(
    "GET",
    API + "/{number}/qr.png",
    "The certificate's signed payload as a QR code (PNG)",
    media_type="image/png",
    errors=(403, 404),
)
def qr_as_png(ctx: Context) -> Response:
    return Response(qr_png(_visible(ctx).payload), media_type="image/png")


def _check_payload(ctx: Context, number: str, cert: Certificate | None) -> dict[str, object]:
    payload = ctx.query["payload"]
    if len(payload) > MAX_PAYLOAD:
        raise ValidationFailed(
            "payload is too long",
            errors=[FieldError("/query/payload", f"at most {MAX_PAYLOAD} characters")],
        )
    try:
        verified = verify(payload, _keyring(ctx).public)
    except VerificationFailed as exc:
        return {"valid": False, "detail": str(exc)}
    if verified.fields["no"] != number:
        return {"valid": False, "detail": f"the payload is for {verified.fields['no']}"}
    if cert is None or signed_fields(cert) != verified.fields:
        return {"valid": False, "detail": "the payload does not match the issued certificate"}
    return {"valid": True, "detail": f"signature valid (key {verified.kid}) and matches the record"}


@router.route(
    "GET",
    API + "/{number}/verify",
    "Public: is this certificate valid, voided or unknown; optionally check a scanned payload",
    response=Verification,
    auth=False,
    query=(QueryParam("payload", "the text of the certificate's QR code (KPC1.…)"),),
    errors=(422,),
)
def verify_online(ctx: Context) -> Response:
    reject_unknown_params(ctx.request, ("payload",))
    number = str(ctx.path["number"])
    cert = queries.by_number(ctx.session, number)
    check = _check_payload(ctx, number, cert) if "payload" in ctx.query else None
    if cert is None:
        answer: dict[str, object] = {
            "number": number,
            "status": "unknown",
            "expired": None,
            "replaced_by": None,
            "certificate": None,
        }
    else:
        answer = {
            "number": number,
            "status": cert.status,
            "expired": is_expired(cert, utcnow().date()),
            "replaced_by": queries.replaced_by(ctx.session, [cert.id]).get(cert.id),
            "certificate": fields_public(cert),
        }
    return JSON({**answer, "payload_check": check})


@router.route(
    "GET",
    KEYS_PATH,
    "Public: the Ed25519 keys that sign KP certificates (JWK set), current and retired",
    response=PublicKeys,
    auth=False,
)
def public_keys(ctx: Context) -> Response:
    return JSON(_keyring(ctx).published())
