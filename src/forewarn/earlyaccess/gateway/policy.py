"""Who may do what with the model gateway: pure rules, deny by default.

The proxy (``/gateway/v1/...``) admits **no person**: neither a session nor an API token opens it. Its
only credential is a scoped gateway key, checked by the proxy itself against the database on every
call (see ``service.admit``). Its routes carry :func:`gateway_key_only`, which answers False for every
principal, so the app's access check sees an explicit, fail-closed rule on them.

People see their own keys; a lab's safety lead sees the usage of the lab's windows, per organisation.
Who may *hold* a key is decided by the review and partners domains before they call ``issue_key``.

The two roles that assess a model (the assessment coordinator and the reviewer) are stated here, the
lowest layer that needs them: the keys page links a holder to their assessment page, and the review
programme's assessment rules (``review.assessments.policy``) use these same two functions.
"""

from __future__ import annotations

import uuid

from forewarn.accounts.schemas import OrgKind, Principal, Role


def gateway_key_only(principal: Principal | None) -> bool:
    """The proxy's rule: no principal passes it; a valid gateway key is checked by the proxy itself."""
    return False


def can_view_own_keys(principal: Principal | None) -> bool:
    """A signed-in person lists the gateway keys they hold (none, for most people)."""
    return principal is not None and principal.organisation_id is not None


def can_view_lab_usage(principal: Principal | None) -> bool:
    """A lab's safety lead watches who uses the lab's model during its windows."""
    return (
        principal is not None
        and principal.org_kind == OrgKind.LAB
        and principal.organisation_id is not None
        and Role.SAFETY_LEAD in principal.roles
    )


def can_view_window_usage(principal: Principal | None, lab_organisation_id: uuid.UUID) -> bool:
    """The usage of one window: the safety lead of the lab whose model it serves."""
    return (
        can_view_lab_usage(principal)
        and principal is not None
        and (principal.organisation_id == lab_organisation_id)
    )


# --- who assesses ------------------------------------------------------------------------------------


def is_assessment_coordinator(principal: Principal | None) -> bool:
    """An agency's assessment coordinator: plans and triages every window's assessment."""
    return (
        principal is not None
        and principal.org_kind == OrgKind.AGENCY
        and principal.organisation_id is not None
        and Role.ASSESSMENT_COORDINATOR in principal.roles
    )


def is_assessment_reviewer(principal: Principal | None) -> bool:
    """A reviewer of an agency or a partner: works in the windows their organisation takes part in."""
    return (
        principal is not None
        and principal.org_kind in (OrgKind.AGENCY, OrgKind.PARTNER)
        and principal.organisation_id is not None
        and Role.REVIEWER in principal.roles
    )


def may_assess_held_window(principal: Principal | None) -> bool:
    """Whether the assessment page of a window in which ``principal`` holds an active key admits them.

    An active key means the holder's organisation takes part in the window, so the page's rule
    (``review.assessments.policy.can_see_window``) comes down to the two assessing roles.
    """
    return is_assessment_coordinator(principal) or is_assessment_reviewer(principal)
