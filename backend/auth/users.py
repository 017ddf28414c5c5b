"""User administration: create users with a role and scope, change scope, disable."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.audit.service import record as audit
from backend.audit.service import snapshot
from backend.auth.models import Role, User, UserDistrict
from backend.auth.passwords import hash_password
from backend.auth.principal import Principal
from backend.auth.schemas import UserCreate, UserPublic, UserUpdate
from backend.auth.tokens import revoke_user_tokens
from backend.clock import utcnow
from backend.errors import Duplicate, FieldError, NotFound, field_error
from backend.records import check_version, update_versioned
from backend.registry.models import Jurisdiction, JurisdictionLevel, Organisation, OrganisationKind
from backend.usecase import use_case


def _check_scope(
    session: Session, role: Role, districts: list[str], organisation_id: uuid.UUID | None
) -> None:
    if role is Role.field_officer and not districts:
        raise field_error("/districts", "a field officer needs at least one district")
    if role is not Role.field_officer and districts:
        raise field_error("/districts", "only field officers are scoped by district")
    for i, code in enumerate(districts):
        j = session.scalars(select(Jurisdiction).where(col(Jurisdiction.code) == code)).first()
        if j is None or j.level != JurisdictionLevel.district:
            raise field_error(f"/districts/{i}", f"{code} is not a known district code")
    if role in (Role.buyer, Role.exporter):
        if organisation_id is None:
            raise field_error("/organisation_id", f"a {role.value} user belongs to an organisation")
        org = session.get(Organisation, organisation_id)
        if org is None:
            raise field_error("/organisation_id", f"no organisation {organisation_id}")
        wanted = (
            OrganisationKind.exporter if role is Role.exporter else OrganisationKind.buying_office
        )
        if org.kind != wanted:
            raise field_error(
                "/organisation_id", f"a {role.value} user belongs to a {wanted.value} organisation"
            )
    elif organisation_id is not None:
        raise field_error("/organisation_id", "only buyers and exporters belong to an organisation")


@use_case
def create_user(*, session: Session, principal: Principal | None, props: UserCreate) -> User:
    _check_scope(session, props.role, props.districts, props.organisation_id)
    if (
        session.scalars(select(User).where(col(User.username) == props.username)).first()
        is not None
    ):
        raise Duplicate(
            f"user {props.username} exists",
            errors=[FieldError("/username", "this username is taken")],
        )
    user = User(
        username=props.username,
        password_hash=hash_password(props.password),
        role=props.role,
        organisation_id=props.organisation_id,
    )
    session.add(user)
    session.flush()
    for code in sorted(set(props.districts)):
        session.add(UserDistrict(user_id=user.id, district_code=code))
    after = snapshot(user) | {"districts": sorted(set(props.districts))}
    after.pop("password_hash", None)
    audit(
        session=session,
        principal=principal,
        action="create",
        entity_type="user",
        entity_id=user.id,
        before=None,
        after=after,
    )
    session.commit()
    return user


def districts_of(session: Session, user_id: uuid.UUID) -> list[str]:
    return sorted(
        session.scalars(
            select(col(UserDistrict.district_code)).where(
                col(UserDistrict.user_id) == user_id, col(UserDistrict.revoked_at).is_(None)
            )
        )
    )


def public(session: Session, user: User) -> dict[str, Any]:
    return UserPublic(
        id=user.id,
        username=user.username,
        role=Role(user.role),
        districts=districts_of(session, user.id),
        organisation_id=user.organisation_id,
        active=user.active,
        version=user.version,
    ).model_dump()


@use_case
def update_user(
    *, session: Session, principal: Principal, user_id: uuid.UUID, props: UserUpdate
) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    check_version(user, props.version)
    before = public(session, user)
    if props.districts is not None:
        _check_scope(session, Role(user.role), props.districts, user.organisation_id)
        current = set(districts_of(session, user.id))
        wanted = set(props.districts)
        session.execute(
            update(UserDistrict)
            .where(
                col(UserDistrict.user_id) == user.id,
                col(UserDistrict.revoked_at).is_(None),
                col(UserDistrict.district_code).in_(current - wanted),
            )
            .values(revoked_at=utcnow())
        )
        for code in sorted(wanted - current):
            session.add(UserDistrict(user_id=user.id, district_code=code))
    user.version = update_versioned(
        session=session, model=User, record_id=user.id, base_version=props.version, values={}
    )
    if props.active is not None:
        user.active = props.active
        if not props.active:
            revoke_user_tokens(session=session, user_id=user.id)
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="update",
        entity_type="user",
        entity_id=user.id,
        before=before,
        after=public(session, user),
    )
    session.commit()
    return user
