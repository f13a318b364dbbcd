"""Who may do what with the signed patch feed: pure functions, deny by default.

Invariants: the feed itself (metadata and targets) is public, because only TLP:CLEAR material is
ever in it; uploading a patch file for an advisory is open to clearinghouse analysts and to the
vendors named on the advisory's case, and to nobody else (an anonymous caller, an operator, a
vendor of another case: denied).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories.policy import VENDOR_KINDS, is_analyst


def may_upload_patches(principal: Principal | None) -> bool:
    """The route's rule: analysts, and members of organisations that can be vendors on a case."""
    return is_analyst(principal) or (
        principal is not None and principal.organisation_id is not None and principal.org_kind in VENDOR_KINDS
    )


def can_upload_patch(principal: Principal | None, *, vendor_organisation_ids: Collection[uuid.UUID]) -> bool:
    """An analyst, or a member of a vendor organisation on the advisory's case."""
    if is_analyst(principal):
        return True
    return (
        may_upload_patches(principal)
        and principal is not None
        and principal.organisation_id in vendor_organisation_ids
    )
