"""Bearer tokens: issue, resolve to a Principal, revoke."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.models import Role, Token, User, UserDistrict
from backend.auth.passwords import verify_password
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.errors import Unauthenticated

TOKEN_PREFIX = "at_"
# The web sign-in keeps the same token in this HttpOnly, SameSite=Strict cookie.
SESSION_COOKIE = "alluvial_session"
COOKIE_METHODS = frozenset({"GET", "HEAD"})


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    *,
    session: Session,
    username: str,
    password: str,
    ttl_seconds: int,
    device_id: str | None = None,
) -> tuple[str, Token, User]:
    user = session.scalars(select(User).where(col(User.username) == username)).first()
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        raise Unauthenticated("unknown username, wrong password, or a disabled account")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = Token(
        token_hash=digest(secret),
        user_id=user.id,
        device_id=device_id,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    session.add(token)
    return secret, token, user


# One round trip: the token, its user and the user's live districts (one row per district, or
# one row with none), since every authenticated request pays for this lookup. Columns, not ORM
# instances, and the statement built once: nothing here is written back.
_PRINCIPAL_ROWS = (
    select(
        col(Token.id),
        col(Token.revoked_at),
        col(Token.expires_at),
        col(Token.device_id),
        col(Token.device_credential),
        col(User.id),
        col(User.username),
        col(User.role),
        col(User.active),
        col(User.organisation_id),
        col(UserDistrict.district_code),
    )
    .join(User, col(User.id) == col(Token.user_id))
    .outerjoin(
        UserDistrict,
        (col(UserDistrict.user_id) == col(User.id)) & col(UserDistrict.revoked_at).is_(None),
    )
    .where(col(Token.token_hash) == bindparam("token_hash"))
)


def principal_for(*, session: Session, secret: str, device_id: str | None = None) -> Principal:
    rows = session.execute(_PRINCIPAL_ROWS, {"token_hash": digest(secret)}).all()
    if not rows:
        raise Unauthenticated("the bearer token is not known")
    (token_id, revoked_at, expires_at, token_device, device_credential) = rows[0][:5]
    (user_id, username, role, active, organisation_id) = rows[0][5:10]
    now = utcnow()
    if revoked_at is not None:
        raise Unauthenticated("the bearer token was revoked")
    if expires_at <= now:
        raise Unauthenticated("the bearer token has expired; request a new one")
    if not active:
        raise Unauthenticated("the account is disabled")
    return Principal(
        user_id=user_id,
        username=username,
        role=Role(role),
        districts=frozenset(row[10] for row in rows if row[10] is not None),
        organisation_id=organisation_id,
        device_id=token_device or device_id,
        token_id=token_id,
        device_credential=device_credential,
    )


def principal_of(
    session: Session,
    user: User,
    *,
    device_id: str | None = None,
    token_id: uuid.UUID | None = None,
    device_credential: bool = False,
) -> Principal:
    """The principal of a user as their scope now stands (districts granted and not revoked)."""
    return Principal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        districts=_districts(session, user.id),
        organisation_id=user.organisation_id,
        device_id=device_id,
        token_id=token_id,
        device_credential=device_credential,
    )


def _districts(session: Session, user_id: uuid.UUID) -> frozenset[str]:
    return frozenset(
        session.scalars(
            select(col(UserDistrict.district_code)).where(
                col(UserDistrict.user_id) == user_id, col(UserDistrict.revoked_at).is_(None)
            )
        )
    )


def principal_of_user(
    *, session: Session, user_id: uuid.UUID, device_id: str | None
) -> Principal | None:
    """The principal a user acts as now, without a token (an op they made offline earlier,
    applied later); None if the account is disabled or gone."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    return Principal(
        user_id=user.id,
        username=user.username,
        role=Role(user.role),
        districts=_districts(session, user.id),
        organisation_id=user.organisation_id,
        device_id=device_id,
    )


def revoke_token(*, session: Session, token_id: uuid.UUID, at: datetime | None = None) -> None:
    session.execute(
        update(Token)
        .where(col(Token.id) == token_id, col(Token.revoked_at).is_(None))
        .values(revoked_at=at or utcnow())
    )


def revoke_device_credentials(*, session: Session, device_id: str) -> int:
    """Revoke every live credential of one device (a re-sent enrolment gets a fresh one)."""
    result = session.execute(
        update(Token)
        .where(
            col(Token.device_id) == device_id,
            col(Token.device_credential).is_(True),
            col(Token.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def revoke_user_tokens(*, session: Session, user_id: uuid.UUID) -> int:
    result = session.execute(
        update(Token)
        .where(col(Token.user_id) == user_id, col(Token.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
