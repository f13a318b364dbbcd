"""Access rules: pure functions of a principal (and a target), deny by default.

Every route asks one of these. A rule answers True only for what it names; an anonymous caller, an
unknown role or a missing organisation gets False. Rules never touch the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from forewarn.accounts.schemas import OrgKind, Principal, Role

Rule = Callable[[Principal | None], bool]


def anyone(principal: Principal | None) -> bool:
    """Public: no sign-in needed (the transparency log, public advisories, health)."""
    return True


def signed_in(principal: Principal | None) -> bool:
    return principal is not None


def platform_admin(principal: Principal | None) -> bool:
    return principal is not None and principal.is_platform_admin


def has_role(principal: Principal | None, role: Role) -> bool:
    return principal is not None and role in principal.roles


def in_agency(principal: Principal | None, *codes: str) -> bool:
    if principal is None or principal.org_kind != OrgKind.AGENCY:
        return False
    return not codes or principal.org_code in codes


def can_view_organisation(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    if principal is None:
        return False
    return principal.is_platform_admin or principal.organisation_id == organisation_id


def can_manage_people(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    """Platform administrators anywhere; an organisation's own ``admin`` within it."""
    if principal is None:
        return False
    if principal.is_platform_admin:
        return True
    return principal.organisation_id == organisation_id and Role.ADMIN in principal.roles


def can_manage_organisations(principal: Principal | None) -> bool:
    return platform_admin(principal)


def can_use_tokens(principal: Principal | None) -> bool:
    """A person manages their own API tokens; a token cannot mint more tokens."""
    return principal is not None and principal.via == "session" and principal.organisation_id is not None


def can_manage_people_somewhere(principal: Principal | None) -> bool:
    return principal is not None and (principal.is_platform_admin or Role.ADMIN in principal.roles)
