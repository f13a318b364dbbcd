"""Who may use matching beyond their own inventory: pure functions, deny by default.

Invariant: a stateless scan (``POST /api/v1/scan``) is open to an operator organisation's contacts
and to clearinghouse analysts only; it stores nothing and reveals only published advisories.
"""

from __future__ import annotations

from forewarn.accounts.schemas import Principal
from forewarn.clearinghouse.advisories.policy import is_analyst
from forewarn.clearinghouse.inventory.policy import is_operator


def can_scan(principal: Principal | None) -> bool:
    return is_operator(principal) or is_analyst(principal)
