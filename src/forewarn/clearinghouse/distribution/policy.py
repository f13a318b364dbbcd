"""Who may see notices and set the webhook secret: pure functions, deny by default.

Invariants: only a contact of an operator organisation reads its notices and sets its webhook
signing secret, and only its own (the organisation comes from the principal, never the request);
only clearinghouse analysts see which operators have not acknowledged a critical notice.
"""

from __future__ import annotations

import uuid

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories.policy import is_analyst
from forewarn.clearinghouse.inventory.policy import is_operator

__all__ = ["can_manage_notices", "is_analyst", "is_operator"]


def can_manage_notices(principal: Principal | None, organisation_id: uuid.UUID) -> bool:
    return is_operator(principal) and principal is not None and principal.organisation_id == organisation_id
