"""Auth endpoints: tokens, who-am-I, and user administration (admin only)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from backend.api.inputs import parse_model
from backend.api.jsonio import JSON, problem_response
from backend.api.listing import Q_CURSOR, Q_LIMIT, page_of, reject_unknown_params, run_page
from backend.api.routing import Context, Router
from backend.audit.service import record as audit
from backend.auth import devices, throttle, tokens, users
from backend.auth.models import User
from backend.auth.passwords import HashingBusy, hashing_slot
from backend.auth.permissions import Action, require
from backend.auth.principal import Principal
from backend.auth.schemas import (
    Me,
    Revoked,
    TokenRequest,
    TokenResponse,
    UserCreate,
    UserPublic,
    UsersPublic,
    UserUpdate,
)
from backend.clock import utcnow
from backend.errors import AppError, NotFound, Unauthenticated

router = Router("auth")
API = "/api/v1"


def authenticate(session: Session, request: Request) -> Principal:
    """The principal behind `Authorization: Bearer …`; the device from `X-Device-Id` if any.

    A device credential is good for /sync/v1 only, never for enrolling another device, and
    once its device is revoked only for a push (which goes to quarantine).

    Without that header, a read (GET or HEAD) may carry the web sign-in's token in its
    HttpOnly session cookie, so the pages' scripts read the API as the signed-in user. Writes
    never accept the cookie: a cookie travels by itself, a header must be sent on purpose.
    """
    header = request.headers.get("authorization", "")
    cookie = request.cookies.get(tokens.SESSION_COOKIE, "")
    if not header and cookie and request.method in tokens.COOKIE_METHODS:
        principal = tokens.principal_for(session=session, secret=cookie)
    else:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated(
                "send Authorization: Bearer <access_token> (POST /api/v1/auth/token)"
            )
        principal = tokens.principal_for(
            session=session, secret=secret.strip(), device_id=request.headers.get("x-device-id")
        )
    # Whichever way it came, a device credential is held to the device's rules.
    if principal.device_credential:
        devices.check_device_credential(
            session, principal, method=request.method, path=request.url.path
        )
    return principal


@router.route(
    "POST",
    API + "/auth/token",
    "Exchange username and password for a bearer token",
    request=TokenRequest,
    response=TokenResponse,
    auth=False,
    errors=(401, 422, 429),
)
def issue(ctx: Context) -> Response:
    body = parse_model(TokenRequest, ctx.body)
    settings = ctx.settings
    policy = throttle.Policy(
        account_free=settings.login_account_free,
        address_free=settings.login_address_free,
        first_lock=timedelta(seconds=settings.login_first_lock_seconds),
        max_lock=timedelta(seconds=settings.login_max_lock_seconds),
        window=timedelta(seconds=settings.login_window_seconds),
    )
    client = ctx.request.client
    keys = throttle.keys_for(body.username, client.host if client else None)
    wait = throttle.retry_after(ctx.session, keys, utcnow())
    if wait is not None:
        return _too_many(ctx, wait, "too many failed logins for this account or from this address")
    try:
        with hashing_slot(settings.password_hash_concurrency, settings.login_wait_seconds):
            secret, token, _user = tokens.issue_token(
                session=ctx.session,
                username=body.username,
                password=body.password,
                ttl_seconds=settings.token_ttl_seconds,
                device_id=body.device_id,
            )
    except HashingBusy:
        ctx.session.rollback()
        return _too_many(ctx, 1, "the server is checking many passwords at once; retry shortly")
    except Unauthenticated:
        ctx.session.rollback()
        throttle.record_failure(ctx.session, keys, utcnow(), policy)
        ctx.session.commit()
        raise
    throttle.clear_account(ctx.session, keys)
    ctx.session.commit()
    return JSON(
        TokenResponse(
            access_token=secret,
            expires_in=ctx.settings.token_ttl_seconds,
            expires_at=token.expires_at,
            token_id=token.id,
        ).model_dump()
    )


class TooManyRequests(AppError):
    status, code, title = 429, "too-many-requests", "Too many requests"


def _too_many(ctx: Context, seconds: int, detail: str) -> Response:
    response = problem_response(
        TooManyRequests(f"{detail}; retry after {seconds} s", extra={"retry_after": seconds}),
        ctx.request.url.path,
    )
    response.headers["Retry-After"] = str(seconds)
    return response


@router.route(
    "POST",
    API + "/auth/revoke",
    "Revoke the token this request carries",
    response=Revoked,
    errors=(401,),
)
def revoke(ctx: Context) -> Response:
    assert ctx.user.token_id is not None
    tokens.revoke_token(session=ctx.session, token_id=ctx.user.token_id)
    audit(
        session=ctx.session,
        principal=ctx.user,
        action="revoke",
        entity_type="token",
        entity_id=ctx.user.token_id,
        before=None,
        after=None,
    )
    ctx.session.commit()
    return JSON({"revoked": 1})


@router.route("GET", API + "/auth/me", "The caller's role and scope", response=Me, errors=(401,))
def me(ctx: Context) -> Response:
    p = ctx.user
    return JSON(
        Me(
            user_id=p.user_id,
            username=p.username,
            role=p.role,
            districts=sorted(p.districts),
            organisation_id=p.organisation_id,
            device_id=p.device_id,
        ).model_dump()
    )


@router.route(
    "GET",
    API + "/users",
    "List users (admin)",
    response=UsersPublic,
    query=(Q_LIMIT, Q_CURSOR),
    errors=(403,),
)
def list_users(ctx: Context) -> Response:
    require(ctx.user, "user", Action.read)
    reject_unknown_params(ctx.request, ())
    rows, cursor = run_page(ctx.session, select(User), User.id, page_of(ctx.request, ctx.settings))
    return JSON({"items": [users.public(ctx.session, u) for u in rows], "next_cursor": cursor})


@router.route(
    "POST",
    API + "/users",
    "Create a user with a role and scope (admin)",
    request=UserCreate,
    response=UserPublic,
    status=201,
    errors=(403, 409, 422),
)
def create_user(ctx: Context) -> Response:
    require(ctx.user, "user", Action.write)
    props = parse_model(UserCreate, ctx.body)
    user = users.create_user(session=ctx.session, principal=ctx.user, props=props)
    return JSON(users.public(ctx.session, user), status_code=201)


@router.route(
    "PATCH",
    API + "/users/{id}",
    "Disable a user or change a field officer's districts (admin)",
    request=UserUpdate,
    response=UserPublic,
    errors=(403, 404, 409, 422),
)
def update_user(ctx: Context) -> Response:
    require(ctx.user, "user", Action.write)
    props = parse_model(UserUpdate, ctx.body)
    user = users.update_user(
        session=ctx.session, principal=ctx.user, user_id=ctx.record_id(), props=props
    )
    return JSON(users.public(ctx.session, user))


@router.route(
    "POST",
    API + "/users/{id}/revoke-tokens",
    "Revoke every token of a user (admin)",
    response=Revoked,
    errors=(403, 404),
)
def revoke_all(ctx: Context) -> Response:
    require(ctx.user, "user", Action.write)
    user = ctx.session.get(User, ctx.record_id())
    if user is None:
        raise NotFound(f"no user {ctx.path['id']}")
    count = tokens.revoke_user_tokens(session=ctx.session, user_id=user.id)
    audit(
        session=ctx.session,
        principal=ctx.user,
        action="revoke",
        entity_type="user_tokens",
        entity_id=user.id,
        before=None,
        after={"revoked": count},
    )
    ctx.session.commit()
    return JSON({"revoked": count})
