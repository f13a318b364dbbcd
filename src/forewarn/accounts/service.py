"""Accounts operations: organisations, people, roles, passwords, web sessions and API tokens.

Invariants:
- Passwords are stored only as argon2id hashes; API tokens and session cookies only as SHA-256
  hashes of 256-bit random values. The plain token is returned once, at creation.
- A token or a session acts for exactly one organisation the person belongs to; its roles are that
  membership's roles, read fresh on every request (revoking a role takes effect at once).
- Expired, revoked or inactive: denied, whatever else is true.
- Governance events (an organisation created, a role granted) are appended to the transparency log
  in the same transaction, with ids only: never names, emails or anything else personal.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import policy
from forewarn.accounts.models import ApiToken, Membership, Organisation, Person, WebSession
from forewarn.accounts.schemas import (
    ROLES_BY_KIND,
    MembershipOut,
    OrganisationIn,
    OrganisationOut,
    OrgKind,
    PersonIn,
    PersonOut,
    Principal,
    Role,
    TokenCreated,
    TokenIn,
    TokenOut,
)
from forewarn.core.clock import utcnow
from forewarn.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Problem, forbid_unless
from forewarn.ledger import service as ledger
from forewarn.ledger.schemas import EntryIn, SubjectRef

TOKEN_PREFIX = "fw_"  # noqa: S105 -- a public marker, not a secret


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


def _verify_password(stored: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- the public record (transparency log) --------------------------------------------------------


def _organisation_created(org: Organisation, actor: Principal | None) -> EntryIn:
    return EntryIn(
        type="accounts.organisation_created",
        actor_organisation_id=actor.organisation_id if actor else None,
        subjects=[SubjectRef(type="organisation", id=str(org.id))],
        reason=f"{org.kind} organisation joined the programme",
    )


def _role_granted(
    person_id: uuid.UUID, organisation_id: uuid.UUID | None, role: str, actor: Principal | None
) -> EntryIn:
    subjects = [SubjectRef(type="person", id=str(person_id))]
    if organisation_id is not None:
        subjects.insert(0, SubjectRef(type="organisation", id=str(organisation_id)))
    return EntryIn(
        type="accounts.role_granted",
        actor_organisation_id=actor.organisation_id if actor else None,
        subjects=subjects,
        reason=f"role {role} granted",
    )


# --- organisations -------------------------------------------------------------------------------


async def create_organisation(
    session: AsyncSession, *, data: OrganisationIn, actor: Principal | None
) -> OrganisationOut:
    """Create an organisation. ``actor=None`` is the system itself (CLI bootstrap, demo seed)."""
    if actor is not None:
        forbid_unless(policy.can_manage_organisations(actor), "you may not create organisations")
    clash = await session.scalar(
        select(Organisation).where(
            (func.lower(Organisation.name) == data.name.lower())
            | ((Organisation.code == data.code) if data.code else False)
        )
    )
    if clash is not None:
        field = "name" if clash.name.lower() == data.name.lower() else "code"
        raise Conflict("an organisation with this name or code exists", problems=[Problem(field, "taken")])
    org = Organisation(name=data.name, kind=data.kind.value, code=data.code, sector=data.sector)
    session.add(org)
    await session.flush()
    await ledger.append_many(session, [_organisation_created(org, actor)])
    return OrganisationOut.model_validate(org)


async def get_organisation(
    session: AsyncSession, *, organisation_id: uuid.UUID, actor: Principal | None
) -> OrganisationOut:
    if actor is not None and not policy.can_view_organisation(actor, organisation_id):
        raise NotFound("no such organisation")
    org = await session.get(Organisation, organisation_id)
    if org is None:
        raise NotFound("no such organisation")
    return OrganisationOut.model_validate(org)


async def find_organisation(session: AsyncSession, *, name_or_code: str) -> OrganisationOut:
    org = await session.scalar(
        select(Organisation).where(
            (func.lower(Organisation.name) == name_or_code.lower())
            | (Organisation.code == name_or_code.upper())
        )
    )
    if org is None:
        raise NotFound(f"no organisation named {name_or_code!r}")
    return OrganisationOut.model_validate(org)


async def list_organisations(
    session: AsyncSession, *, actor: Principal | None, kind: OrgKind | None = None
) -> list[OrganisationOut]:
    query = select(Organisation).order_by(Organisation.kind, Organisation.name)
    if kind is not None:
        query = query.where(Organisation.kind == kind.value)
    if actor is not None and not actor.is_platform_admin:
        if actor.organisation_id is None:
            return []
        query = query.where(Organisation.id == actor.organisation_id)
    return [OrganisationOut.model_validate(o) for o in await session.scalars(query)]


# --- people --------------------------------------------------------------------------------------


async def _person_out(session: AsyncSession, person: Person) -> PersonOut:
    rows = await session.execute(
        select(Membership.organisation_id, Organisation.name, Membership.role)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .where(Membership.person_id == person.id)
        .order_by(Organisation.name, Membership.role)
    )
    return PersonOut(
        id=person.id,
        email=person.email,
        name=person.name,
        active=person.active,
        is_platform_admin=person.is_platform_admin,
        memberships=[MembershipOut(organisation_id=o, organisation_name=n, role=Role(r)) for o, n, r in rows],
    )


def _check_roles(kind: OrgKind, roles: list[Role]) -> None:
    allowed = ROLES_BY_KIND[kind]
    bad = [r.value for r in roles if r not in allowed]
    if bad:
        raise InvalidInput(
            f"role not available in an organisation of kind {kind.value}",
            problems=[Problem("roles", f"{', '.join(bad)} not allowed for {kind.value}")],
        )


async def create_person(
    session: AsyncSession, *, data: PersonIn, actor: Principal | None, platform_admin: bool = False
) -> PersonOut:
    """Add a person to an organisation with roles. An existing person (same email) gains the roles."""
    if actor is not None:
        forbid_unless(
            policy.can_manage_people(actor, data.organisation_id),
            "you may not add people to this organisation",
        )
        if platform_admin and not actor.is_platform_admin:
            raise Forbidden("only a platform administrator can make another")
    org = await session.get(Organisation, data.organisation_id)
    if org is None:
        raise NotFound("no such organisation", problems=[Problem("organisation_id", "unknown")])
    _check_roles(OrgKind(org.kind), data.roles)
    person = await session.scalar(select(Person).where(Person.email == data.email))
    events: list[EntryIn] = []
    if person is None:
        person = Person(
            email=data.email,
            name=data.name,
            password_hash=hash_password(data.password) if data.password else None,
            is_platform_admin=platform_admin,
        )
        session.add(person)
        await session.flush()
        if platform_admin:
            events.append(_role_granted(person.id, None, "platform_admin", actor))
    elif data.password:
        raise Conflict("a person with this email exists", problems=[Problem("email", "taken")])
    for role in dict.fromkeys(data.roles):
        exists = await session.scalar(
            select(Membership).where(
                Membership.person_id == person.id,
                Membership.organisation_id == org.id,
                Membership.role == role.value,
            )
        )
        if exists is None:
            session.add(Membership(person_id=person.id, organisation_id=org.id, role=role.value))
            events.append(_role_granted(person.id, org.id, role.value, actor))
    await session.flush()
    await ledger.append_many(session, events)
    return await _person_out(session, person)


async def list_people(
    session: AsyncSession, *, organisation_id: uuid.UUID, actor: Principal | None
) -> list[PersonOut]:
    if actor is not None and not policy.can_view_organisation(actor, organisation_id):
        raise NotFound("no such organisation")
    people = await session.scalars(
        select(Person)
        .join(Membership, Membership.person_id == Person.id)
        .where(Membership.organisation_id == organisation_id)
        .distinct()
        .order_by(Person.name)
    )
    return [await _person_out(session, p) for p in people]


async def get_person(session: AsyncSession, *, person_id: uuid.UUID) -> PersonOut:
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound("no such person")
    return await _person_out(session, person)


async def find_person(session: AsyncSession, *, email: str) -> PersonOut:
    person = await session.scalar(select(Person).where(Person.email == email.strip().lower()))
    if person is None:
        raise NotFound(f"no person with email {email.strip().lower()}")
    return await _person_out(session, person)


async def set_password(session: AsyncSession, *, person_id: uuid.UUID, password: str) -> None:
    if len(password) < 12:
        raise InvalidInput("password too short", problems=[Problem("password", "at least 12 characters")])
    person = await session.get(Person, person_id)
    if person is None:
        raise NotFound("no such person")
    person.password_hash = hash_password(password)
    person.must_change_password = False


async def must_change_password(session: AsyncSession, *, person_id: uuid.UUID) -> bool:
    person = await session.get(Person, person_id)
    return bool(person and person.must_change_password)


async def create_first_admin(
    session: AsyncSession, *, email: str = "admin@forewarn.local"
) -> tuple[str, str] | None:
    """Create the first platform administrator with a one-time password, unless one exists.

    Returns (email, password) the first time only; the password is shown once and must be changed.
    """
    existing = await session.scalar(select(Person).where(Person.is_platform_admin.is_(True)).limit(1))
    if existing is not None:
        return None
    events: list[EntryIn] = []
    office = await session.scalar(select(Organisation).where(Organisation.code == "PROGRAMME"))
    if office is None:
        office = Organisation(name="Programme office", kind=OrgKind.AGENCY.value, code="PROGRAMME")
        session.add(office)
        await session.flush()
        events.append(_organisation_created(office, None))
    password = secrets.token_urlsafe(15)
    person = Person(
        email=email,
        name="Administrator",
        password_hash=hash_password(password),
        is_platform_admin=True,
        must_change_password=True,
    )
    session.add(person)
    await session.flush()
    session.add(Membership(person_id=person.id, organisation_id=office.id, role=Role.ADMIN.value))
    await session.flush()
    events.append(_role_granted(person.id, None, "platform_admin", None))
    events.append(_role_granted(person.id, office.id, Role.ADMIN.value, None))
    await ledger.append_many(session, events)
    return email, password


# --- principals, sessions and tokens -------------------------------------------------------------


async def principal_for(
    session: AsyncSession, *, person_id: uuid.UUID, organisation_id: uuid.UUID | None, via: str
) -> Principal | None:
    person = await session.get(Person, person_id)
    if person is None or not person.active:
        return None
    roles: frozenset[Role] = frozenset()
    org: Organisation | None = None
    if organisation_id is not None:
        org = await session.get(Organisation, organisation_id)
        if org is None or not org.active:
            return None
        names = await session.scalars(
            select(Membership.role).where(
                Membership.person_id == person_id, Membership.organisation_id == organisation_id
            )
        )
        roles = frozenset(Role(n) for n in names if n in Role.__members__.values())
        if not roles:
            return None
    return Principal(
        person_id=person.id,
        email=person.email,
        name=person.name,
        organisation_id=org.id if org else None,
        organisation_name=org.name if org else None,
        org_kind=OrgKind(org.kind) if org else None,
        org_code=org.code if org else None,
        roles=roles,
        is_platform_admin=person.is_platform_admin,
        via=via,
    )


async def authenticate_password(session: AsyncSession, *, email: str, password: str) -> uuid.UUID:
    """The person's id when the password is right; the same error for every failure."""
    person = await session.scalar(select(Person).where(Person.email == email.strip().lower()))
    if person is None or not person.active or not person.password_hash:
        hash_password(password)  # same work either way, so timing does not reveal who exists
        raise InvalidInput("wrong email or password")
    if not _verify_password(person.password_hash, password):
        raise InvalidInput("wrong email or password")
    return person.id


async def organisations_of(session: AsyncSession, *, person_id: uuid.UUID) -> list[OrganisationOut]:
    orgs = await session.scalars(
        select(Organisation)
        .join(Membership, Membership.organisation_id == Organisation.id)
        .where(Membership.person_id == person_id, Organisation.active.is_(True))
        .distinct()
        .order_by(Organisation.name)
    )
    return [OrganisationOut.model_validate(o) for o in orgs]


async def start_session(
    session: AsyncSession, *, person_id: uuid.UUID, organisation_id: uuid.UUID | None, hours: int
) -> tuple[str, str]:
    """A new web session; returns (cookie value, CSRF token)."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_sha256(cookie),
            person_id=person_id,
            organisation_id=organisation_id,
            csrf_token=csrf,
            expires_at=utcnow() + timedelta(hours=hours),
        )
    )
    await session.flush()
    return cookie, csrf


async def resolve_session(session: AsyncSession, *, cookie: str) -> tuple[Principal, str] | None:
    """The principal and CSRF token of a live session, or None."""
    row = await session.get(WebSession, _sha256(cookie))
    if row is None or row.expires_at <= utcnow():
        return None
    principal = await principal_for(
        session, person_id=row.person_id, organisation_id=row.organisation_id, via="session"
    )
    return (principal, row.csrf_token) if principal else None


async def end_session(session: AsyncSession, *, cookie: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.id_hash == _sha256(cookie)))


async def purge_expired_sessions(session: AsyncSession) -> int:
    result = await session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def _token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        organisation_id=token.organisation_id,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )


async def create_token(
    session: AsyncSession,
    *,
    data: TokenIn,
    person_id: uuid.UUID,
    organisation_id: uuid.UUID,
    actor: Principal | None,
) -> TokenCreated:
    """Create an API token for ``person_id`` acting for ``organisation_id``; the plain token is in
    the result and nowhere else."""
    if actor is not None:
        forbid_unless(
            policy.can_use_tokens(actor) and actor.person_id == person_id, "you may not create this token"
        )
    member = await session.scalar(
        select(Membership).where(
            Membership.person_id == person_id, Membership.organisation_id == organisation_id
        )
    )
    if member is None:
        raise InvalidInput(
            "the person is not a member of this organisation",
            problems=[Problem("organisation", "not a member")],
        )
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        person_id=person_id,
        organisation_id=organisation_id,
        name=data.name,
        prefix=plain[:10],
        token_hash=_sha256(plain),
        expires_at=utcnow() + timedelta(days=data.days),
    )
    session.add(token)
    try:
        await session.flush()
    except IntegrityError:  # pragma: no cover - 256-bit collision
        raise Conflict("token collision, try again") from None
    return TokenCreated(**_token_out(token).model_dump(), token=plain)


async def list_tokens(session: AsyncSession, *, person_id: uuid.UUID) -> list[TokenOut]:
    tokens = await session.scalars(
        select(ApiToken).where(ApiToken.person_id == person_id).order_by(ApiToken.created_at.desc())
    )
    return [_token_out(t) for t in tokens]


async def revoke_token(session: AsyncSession, *, token_id: uuid.UUID, actor: Principal | None) -> TokenOut:
    token = await session.get(ApiToken, token_id)
    if token is None or (
        actor is not None and token.person_id != actor.person_id and not actor.is_platform_admin
    ):
        raise NotFound("no such token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    await session.flush()
    return _token_out(token)


async def resolve_token(session: AsyncSession, *, token: str) -> Principal | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == _sha256(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    row.last_used_at = now
    return await principal_for(
        session, person_id=row.person_id, organisation_id=row.organisation_id, via="token"
    )
