"""Who may register and read models: pure rules, deny by default."""

from __future__ import annotations

import uuid

from forewarn.accounts.schemas import OrgKind, Principal, Role


def can_register_models(principal: Principal | None) -> bool:
    """A lab's safety lead registers the lab's models."""
    return (
        principal is not None
        and principal.org_kind == OrgKind.LAB
        and principal.organisation_id is not None
        and Role.SAFETY_LEAD in principal.roles
    )


def can_list_models(principal: Principal | None) -> bool:
    """Labs see their own; benchmark custodians and platform administrators see all."""
    if principal is None:
        return False
    if principal.is_platform_admin:
        return True
    if principal.org_kind == OrgKind.AGENCY and Role.BENCHMARK_CUSTODIAN in principal.roles:
        return True
    return principal.org_kind == OrgKind.LAB and principal.organisation_id is not None


def sees_all_models(principal: Principal) -> bool:
    return principal.is_platform_admin or (
        principal.org_kind == OrgKind.AGENCY and Role.BENCHMARK_CUSTODIAN in principal.roles
    )


def can_view_model(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    if principal is None:
        return False
    return sees_all_models(principal) or principal.organisation_id == organisation_id


# --- the review programme ----------------------------------------------------------------------------


def is_safety_lead(principal: Principal | None) -> bool:
    """A lab's safety lead: signs and withdraws, opens windows, hands over the credential."""
    return can_register_models(principal)


def is_lab_person(principal: Principal | None) -> bool:
    return (
        principal is not None and principal.org_kind == OrgKind.LAB and principal.organisation_id is not None
    )


def is_coordinator(principal: Principal | None) -> bool:
    """An agency's assessment coordinator: grants agencies access and issues reviewer keys."""
    return (
        principal is not None
        and principal.org_kind == OrgKind.AGENCY
        and Role.ASSESSMENT_COORDINATOR in principal.roles
    )


def can_publish_agreement(principal: Principal | None) -> bool:
    """The programme publishes agreement versions: coordinators and platform administrators."""
    return principal is not None and (principal.is_platform_admin or is_coordinator(principal))


def can_read_windows(principal: Principal | None) -> bool:
    """Labs, agencies and partners may ask; the service shows each only the windows it takes part in."""
    if principal is None:
        return False
    return principal.is_platform_admin or (
        principal.organisation_id is not None
        and principal.org_kind in (OrgKind.LAB, OrgKind.AGENCY, OrgKind.PARTNER)
    )


def can_use_channel(principal: Principal | None) -> bool:
    """The message channel of a model: its lab and the agencies (the service checks which model)."""
    return (
        principal is not None
        and principal.organisation_id is not None
        and principal.org_kind
        in (
            OrgKind.LAB,
            OrgKind.AGENCY,
        )
    )


def can_manage_window(principal: Principal | None) -> bool:
    """Close a window: its lab's safety lead (checked by the service) or a coordinator."""
    return is_safety_lead(principal) or is_coordinator(principal)


def can_open_model_page(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    """Whether a model's page (``/review/models/{id}``) of ``organisation_id`` admits ``principal`` on the
    rules alone: the route's (the channel's sides) and the model's (its lab, custodians, administrators).
    Agencies granted access to one of its windows reach it too; only the service knows that."""
    return can_use_channel(principal) and can_view_model(principal, organisation_id)


def can_open_window(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    """A lab's safety lead opens windows for the lab's own models (the service checks the model's state)."""
    return (
        is_safety_lead(principal) and principal is not None and principal.organisation_id == organisation_id
    )
