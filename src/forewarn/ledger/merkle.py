"""RFC 9162 §2.1 Merkle tree hashing, proofs and proof verification (pure: no I/O).

Invariants:

- Hashing is exactly RFC 9162 §2.1.1: SHA-256, a leaf is ``H(0x00 || data)``, an
  interior node ``H(0x01 || left || right)``, and the empty tree's hash is ``H("")``.
  The 0x00/0x01 prefixes keep leaves and nodes apart, so no leaf can be passed off as a
  subtree (second preimages).
- ``MTH(D[n])`` splits at the largest power of two *strictly* smaller than ``n``. Every
  node of such a tree covers a leaf range ``[start, end)`` where ``start`` is a multiple
  of the largest power of two not above ``end - start``; so each node's hash is a right
  fold of *complete, aligned* subtrees ``(level, index)`` covering ``[index * 2**level,
  (index + 1) * 2**level)``. A store that keeps the hash of every complete aligned
  subtree can therefore produce any proof and any root with O(log n) lookups (``*_from``
  functions), and ``append`` writes only the O(k + log n) nodes that appending ``k``
  leaves completes.
- The verifiers implement RFC 9162 §2.1.3.2 and §2.1.4.2 literally, reject any hash that
  is not 32 bytes, any size outside ``[0, 2**64)``, and proofs that are too long or too
  short, and raise ``ProofError`` on every failure: returning normally is the only
  success signal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from forewarn.core.errors import InvalidInput

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "Appended",
    "GetNode",
    "Node",
    "NodeId",
    "ProofError",
    "append",
    "consistency_proof",
    "consistency_proof_from",
    "consistency_ranges",
    "frontier",
    "inclusion_proof",
    "inclusion_proof_from",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "nodes_for",
    "range_hash",
    "root",
    "root_from",
    "subtree_pieces",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
# RFC 9162 §4.1 carries tree sizes and leaf indices as uint64.
MAX_TREE_SIZE = 2**64 - 1
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Longest proofs for trees below 2**64 leaves: a path has one hash per level, a
# consistency proof at most one more (ceil(log2 n) + 1).
_MAX_INCLUSION_LEN = 64
_MAX_CONSISTENCY_LEN = 65
_sha256 = hashlib.sha256

NodeId = tuple[int, int]
"""``(level, index)``: complete subtree on ``[index << level, (index+1) << level)``."""

GetNode = Callable[[int, int], bytes]
"""Returns the stored hash of the complete aligned subtree ``(level, index)``."""


class ProofError(InvalidInput, ValueError):
    """A Merkle proof did not verify; the message says why.

    An ``InvalidInput`` (forewarn's error root) and a ``ValueError`` (for scripts).
    """


Node = tuple[int, int, bytes]
"""``(level, index, hash)`` of a complete aligned subtree, as storage keeps it."""


@dataclass(frozen=True, slots=True)
class Appended:
    """Result of ``append``: what to store, and the new tree head."""

    size: int
    root: bytes
    frontier: tuple[bytes, ...]
    """Hashes of ``frontier(size)``, largest first: the input to the next ``append``."""
    nodes: tuple[Node, ...]
    """Every complete aligned subtree the batch completed, leaves (level 0) included."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x00 || data)``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: ``SHA-256(0x01 || left || right)``."""
    return _sha256(b"\x01" + left + right).digest()


def _check_hashes(hashes: Sequence[bytes], what: str) -> None:
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise ValueError(f"{what}[{i}] is {len(h)} bytes, not {HASH_SIZE}")


def _check_size(value: int, what: str) -> None:
    if not 0 <= value <= MAX_TREE_SIZE:
        raise ValueError(f"{what} {value} is outside [0, 2**64)")


def _split(size: int) -> int:
    """The largest power of two below ``size``: RFC 9162 §2.1.1's ``k``."""
    return 1 << ((size - 1).bit_length() - 1)


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` of the given leaf hashes (RFC 9162 §2.1.1).

    Reduced level by level: pairing neighbours and promoting an odd last node unchanged
    gives the same tree as the recursive split at the largest power of two below ``n``.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    _check_hashes(leaf_hashes, "leaf_hashes")
    level: Sequence[bytes] = leaf_hashes
    while len(level) > 1:
        pairs = iter(level)
        parents = [_sha256(b"\x01" + a + b).digest() for a, b in zip(pairs, pairs, strict=False)]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


# --- decomposition into complete aligned subtrees -------------------------------------


def subtree_pieces(start: int, end: int) -> list[NodeId]:
    """Complete aligned subtrees, left to right, whose right fold is the range's MTH.

    The range is ``[start, end)``; ``start`` must be a multiple of the largest power of
    two not above ``end - start``, as for every node of an RFC 9162 tree (and so for
    every range in a proof).
    """
    size = end - start
    if start < 0 or size <= 0:
        raise ValueError(f"empty or negative range [{start}, {end})")
    if start % (1 << (size.bit_length() - 1)):
        raise ValueError(f"range [{start}, {end}) is not a node of any RFC 9162 tree")
    pieces: list[NodeId] = []
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            pieces.append((level, start >> level))
            start += 1 << level
    return pieces


def frontier(tree_size: int) -> list[NodeId]:
    """The right edge of a tree of ``tree_size`` leaves: the pieces of its range."""
    _check_size(tree_size, "tree_size")
    return subtree_pieces(0, tree_size) if tree_size else []


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of adjacent subtree hashes, the way ``MTH`` joins its two parts."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _get(get_node: GetNode, node: NodeId) -> bytes:
    h = get_node(*node)
    if len(h) != HASH_SIZE:
        raise ValueError(f"stored node {node} is {len(h)} bytes, not {HASH_SIZE}")
    return h


def range_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """``MTH(D[start:end])`` from stored complete subtrees in ≤ log2(n) + 1 reads."""
    return _fold([_get(get_node, p) for p in subtree_pieces(start, end)])


def root_from(tree_size: int, get_node: GetNode) -> bytes:
    """The root of the first ``tree_size`` leaves, from stored complete subtrees."""
    _check_size(tree_size, "tree_size")
    return range_hash(0, tree_size, get_node) if tree_size else EMPTY_ROOT


def inclusion_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """Leaf ranges ``(start, end)`` whose hashes form ``PATH(index, D[tree_size])``.

    RFC 9162 §2.1.3.1, unrolled: descend from the root towards the leaf, taking the
    sibling at each split; the proof lists them leaf level first, so the descent is
    reversed.
    """
    _check_size(tree_size, "tree_size")
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} is not in a tree of size {tree_size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose ``MTH`` values form ``PROOF(old_size, D[new_size])``.

    RFC 9162 §2.1.4.1 ``SUBPROOF(m, D[n], b)``, unrolled. Defined for ``0 < old_size <=
    new_size``; equal sizes give the empty proof.
    """
    _check_size(new_size, "new_size")
    if not 0 < old_size <= new_size:
        raise ValueError(
            f"consistency proofs are defined for 0 < old_size <= new_size, "
            f"not {old_size} -> {new_size} (RFC 9162 §2.1.4)"
        )
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, new_size
    complete = True  # SUBPROOF's b: is [lo, old_size) the whole old tree?
    while old_size != hi:
        mid = lo + _split(hi - lo)
        if old_size <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
            complete = False
    if not complete:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def nodes_for(ranges: Sequence[tuple[int, int]]) -> list[NodeId]:
    """Every stored node the ranges need, without repeats: fetch them in one query."""
    seen: dict[NodeId, None] = {}
    for start, end in ranges:
        for piece in subtree_pieces(start, end):
            seen[piece] = None
    return list(seen)


def inclusion_proof_from(index: int, tree_size: int, get_node: GetNode) -> list[bytes]:
    """The inclusion proof of leaf ``index`` in a tree of ``tree_size``, from storage.

    Only the right edge can be incomplete, and the descent crosses it at most once, so
    this does at most about 2 * log2(tree_size) lookups.
    """
    return [range_hash(s, e, get_node) for s, e in inclusion_ranges(index, tree_size)]


def consistency_proof_from(old_size: int, new_size: int, get_node: GetNode) -> list[bytes]:
    """The consistency proof from ``old_size`` to ``new_size``, from stored nodes."""
    return [range_hash(s, e, get_node) for s, e in consistency_ranges(old_size, new_size)]


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``PATH(index, D[n])`` from all leaf hashes in memory (RFC 9162 §2.1.3.1)."""
    return [root(leaf_hashes[s:e]) for s, e in inclusion_ranges(index, len(leaf_hashes))]


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """``PROOF(old_size, D[n])`` over all leaf hashes in memory (RFC 9162 §2.1.4.1)."""
    return [root(leaf_hashes[s:e]) for s, e in consistency_ranges(old_size, len(leaf_hashes))]


# --- appending ------------------------------------------------------------------------


def append(tree_size: int, frontier_hashes: Sequence[bytes], leaf_hashes: Sequence[bytes]) -> Appended:
    """Append ``leaf_hashes`` to the ``tree_size`` tree with edge ``frontier_hashes``.

    ``frontier_hashes`` are the stored hashes of ``frontier(tree_size)``, largest first.
    Returns the complete aligned subtrees the batch creates (to store), the new frontier
    and the new root. Touches O(k + log n) nodes for k new leaves: a binary counter over
    subtree levels.
    """
    _check_size(tree_size, "tree_size")
    _check_size(tree_size + len(leaf_hashes), "new tree size")
    edge = frontier(tree_size)
    if len(frontier_hashes) != len(edge):
        raise ValueError(
            f"a tree of size {tree_size} has {len(edge)} frontier nodes, got {len(frontier_hashes)}"
        )
    _check_hashes(frontier_hashes, "frontier_hashes")
    _check_hashes(leaf_hashes, "leaf_hashes")
    stack: list[tuple[int, bytes]] = [(level, h) for (level, _), h in zip(edge, frontier_hashes, strict=True)]
    nodes: list[Node] = []
    position = tree_size
    for leaf in leaf_hashes:
        nodes.append((0, position, leaf))
        level, h = 0, leaf
        # Equal-level subtrees on top of the stack are siblings: merge them (a carry).
        while stack and stack[-1][0] == level:
            h = node_hash(stack.pop()[1], h)
            level += 1
            nodes.append((level, position >> level, h))
        stack.append((level, h))
        position += 1
    hashes = tuple(h for _, h in stack)
    return Appended(
        size=position,
        root=_fold(hashes) if hashes else EMPTY_ROOT,
        frontier=hashes,
        nodes=tuple(nodes),
    )


# --- verification ---------------------------------------------------------------------


def _check_proof_hashes(proof: Sequence[bytes], limit: int) -> None:
    # No tree of fewer than 2**64 leaves needs more: bound the work before hashing.
    if len(proof) > limit:
        raise ProofError(f"proof has {len(proof)} hashes, more than any tree needs")
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise ProofError(f"proof[{i}] is {len(p)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the ``tree_size`` tree ``root``.

    RFC 9162 §2.1.3.2. Raises ``ProofError`` with the reason; returns None on success.
    """
    if not 0 <= tree_size <= MAX_TREE_SIZE:
        raise ProofError(f"tree size {tree_size} is outside [0, 2**64)")
    # Step 1: the index must be inside the tree.
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is not in a tree of size {tree_size}")
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
    if len(root) != HASH_SIZE:
        raise ProofError(f"root hash is {len(root)} bytes, not {HASH_SIZE}")
    _check_proof_hashes(proof, _MAX_INCLUSION_LEN)
    # Steps 2-3.
    fn, sn, r = index, tree_size - 1, leaf_hash
    # Step 4.
    for p in proof:
        if sn == 0:  # 4a
            raise ProofError(f"proof is longer than the {_expected_len(index, tree_size)} hashes expected")
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    # Step 5.
    if sn != 0:
        raise ProofError(f"proof is shorter than the {_expected_len(index, tree_size)} hashes expected")
    if r != root:
        raise ProofError("calculated root does not match the given root")


def _expected_len(index: int, tree_size: int) -> int:
    return len(inclusion_ranges(index, tree_size))


def verify_consistency(
    old_size: int,
    new_size: int,
    proof: Sequence[bytes],
    old_root: bytes,
    new_root: bytes,
) -> None:
    """Check that the ``new_size`` tree with ``new_root`` extends the ``old_size`` one.

    RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. Outside that range the outcomes
    follow transparency-dev/merkle (and its test vectors): ``old_size > new_size`` or
    ``old_size == 0`` fail; equal sizes hold only with an empty proof and equal roots.
    Raises ``ProofError``.
    """
    if not 0 <= new_size <= MAX_TREE_SIZE:
        raise ProofError(f"new tree size {new_size} is outside [0, 2**64)")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size < 0:
        raise ProofError(f"old size {old_size} is negative")
    if old_size == 0:
        raise ProofError("a consistency proof from an empty tree proves nothing (RFC 9162 §2.1.4)")
    if old_size == new_size:
        if proof:
            raise ProofError("sizes are equal but the proof is not empty")
        if old_root != new_root:
            raise ProofError("sizes are equal but the roots differ")
        return
    # Step 1.
    if not proof:
        raise ProofError("proof is empty")
    if len(old_root) != HASH_SIZE:
        raise ProofError(f"old root is {len(old_root)} bytes, not {HASH_SIZE}")
    if len(new_root) != HASH_SIZE:
        raise ProofError(f"new root is {len(new_root)} bytes, not {HASH_SIZE}")
    _check_proof_hashes(proof, _MAX_CONSISTENCY_LEN)
    path = list(proof)
    # Step 2: when the old tree is complete, its root is where the path starts.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Step 3.
    fn, sn = old_size - 1, new_size - 1
    # Step 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is longer than expected")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError("proof is shorter than expected")
    if fr != old_root:
        raise ProofError("calculated old root does not match the given old root")
    if sr != new_root:
        raise ProofError("calculated new root does not match the given new root")
