"""Web sessions: the API's own token kept in an HttpOnly cookie; sign-in and sign-out."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from backend.audit.service import record as audit
from backend.auth import tokens
from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.errors import Unauthenticated
from backend.settings import Settings


def sessions(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def current_user(request: Request) -> Principal | None:
    """Who the session cookie belongs to; nobody once its token expired or was revoked."""
    secret = request.cookies.get(tokens.SESSION_COOKIE)
    if not secret:
        return None
    with sessions(request)() as session:
        try:
            return tokens.principal_for(session=session, secret=secret)
        except Unauthenticated:
            return None


def same_origin(request: Request) -> bool:
    """A form post from our own pages: a browser sends Origin, which must name this host."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@dataclass(frozen=True)
class SignedIn:
    secret: str
    max_age: int


def sign_in(request: Request, username: str, password: str) -> SignedIn:
    """A new token for the account, as POST /api/v1/auth/token issues; audited as a sign-in."""
    settings: Settings = request.app.state.settings
    with sessions(request)() as session:
        secret, token, user = tokens.issue_token(
            session=session,
            username=username,
            password=password,
            ttl_seconds=settings.token_ttl_seconds,
        )
        session.flush()
        who = Principal(
            user_id=user.id,
            username=user.username,
            role=Role(user.role),
            districts=frozenset(),
            organisation_id=user.organisation_id,
            token_id=token.id,
        )
        audit(
            session=session,
            principal=who,
            action="sign_in",
            entity_type="token",
            entity_id=token.id,
            before=None,
            after={"via": "web", "expires_at": token.expires_at},
        )
        session.commit()
    return SignedIn(secret=secret, max_age=settings.token_ttl_seconds)


def sign_out(request: Request) -> None:
    """Revoke the cookie's token (if it still works), so a copied cookie is worthless too."""
    secret = request.cookies.get(tokens.SESSION_COOKIE)
    if not secret:
        return
    with sessions(request)() as session:
        try:
            who = tokens.principal_for(session=session, secret=secret)
        except Unauthenticated:
            return
        assert who.token_id is not None
        tokens.revoke_token(session=session, token_id=who.token_id)
        audit(
            session=session,
            principal=who,
            action="revoke",
            entity_type="token",
            entity_id=who.token_id,
            before=None,
            after={"via": "web sign-out"},
        )
        session.commit()


def set_cookie(response: Response, request: Request, signed: SignedIn) -> None:
    response.set_cookie(
        tokens.SESSION_COOKIE,
        signed.secret,
        max_age=signed.max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        tokens.SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
