"""The transparency log: an RFC 9162 Merkle tree of governance events.

Checkpoints are C2SP signed notes. ``merkle`` holds the pure tree code and the public
proof verifiers that outside auditors script against; ``note`` the signed-note,
checkpoint and cosignature formats.
"""

# The package re-exports exactly merkle's public names (merkle.__all__): one list, kept there.
from forewarn.ledger.merkle import *  # noqa: F403
