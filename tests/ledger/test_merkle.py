"""RFC 9162 Merkle code: transparency-dev vectors, an RFC reference model, properties."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from forewarn.core.errors import InvalidInput
from forewarn.ledger import merkle
from forewarn.ledger.merkle import ProofError

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "merkle"
VECTOR_FILES = sorted(VECTORS.glob("*/**/*.json"))

# The leaves of the RFC 6962 test tree that the transparency-dev vectors are built on
# (github.com/transparency-dev/merkle, testonly/constants.go).
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
RFC6962_LEAF_HASHES = [merkle.leaf_hash(d) for d in RFC6962_LEAVES]


# --- an independent model: RFC 9162 §2.1 definitions, written as recursively as the RFC


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return merkle.node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# --- strategies and helpers


@st.composite
def trees(draw: st.DrawFn, max_size: int = 80) -> list[bytes]:
    """Leaf hashes of distinct leaves (duplicates would let some wrong indices verify)."""
    n = draw(st.integers(1, max_size))
    salt = draw(st.binary(max_size=8))
    return [merkle.leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


def store(leaf_hashes: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete aligned subtree, as the database keeps them."""
    appended = merkle.append(0, [], leaf_hashes)
    return {(level, index): h for level, index, h in appended.nodes}


def flip(proof: Sequence[bytes], i: int, byte: int) -> list[bytes]:
    out = list(proof)
    out[i] = out[i][:byte] + bytes([out[i][byte] ^ 0x01]) + out[i][byte + 1 :]
    return out


def sides(index: int, size: int) -> list[bool]:
    """For each proof hash: is the sibling left of the leaf? The verifier needs no more."""
    return [start < index for start, _ in merkle.inclusion_ranges(index, size)]


# --- transparency-dev vectors


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _check_vector(path: Path) -> None:
    v = _load(path)
    proof = [_b64(p) for p in v["proof"] or []]
    if path.relative_to(VECTORS).parts[0] == "inclusion":
        args: tuple[Any, ...] = (
            _b64(v["leafHash"]),
            v["leafIdx"],
            v["treeSize"],
            proof,
            _b64(v["root"]),
        )
        verify: Callable[..., None] = merkle.verify_inclusion
    else:
        args = (v["size1"], v["size2"], proof, _b64(v["root1"]), _b64(v["root2"]))
        verify = merkle.verify_consistency
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify(*args)
    else:
        verify(*args)


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=str(p.relative_to(VECTORS))) for p in VECTOR_FILES]
    or [pytest.param(None, marks=pytest.mark.skip(reason=f"{VECTORS} is absent"))],
)
def test_transparency_dev_vector(path: Path) -> None:
    _check_vector(path)


def test_vector_set_is_complete() -> None:
    if not VECTORS.is_dir():
        pytest.skip(f"{VECTORS} is absent")
    wanted = [_load(p)["wantErr"] for p in VECTOR_FILES]
    # README.md of the folder: 196 probes, 12 of them valid.
    assert (len(wanted), wanted.count(False)) == (196, 12)


def test_generated_proofs_match_the_vectors() -> None:
    """Our generators reproduce upstream's happy-path proofs over the RFC 6962 leaves."""
    if not VECTORS.is_dir():
        pytest.skip(f"{VECTORS} is absent")
    leaves = RFC6962_LEAF_HASHES
    matched = 0
    for path in VECTORS.glob("*/*/happy-path.json"):
        v = _load(path)
        proof = [_b64(p) for p in v["proof"] or []]
        if "leafIdx" in v:
            size, index = v["treeSize"], v["leafIdx"]
            if _b64(v["leafHash"]) != leaves[index]:
                continue
            assert merkle.root(leaves[:size]) == _b64(v["root"])
            assert merkle.inclusion_proof(index, leaves[:size]) == proof
        else:
            size1, size2 = v["size1"], v["size2"]
            assert merkle.root(leaves[:size1]) == _b64(v["root1"])
            assert merkle.root(leaves[:size2]) == _b64(v["root2"])
            assert merkle.consistency_proof(size1, leaves[:size2]) == proof
        matched += 1
    assert matched >= 8


# --- known answers


def test_empty_tree_and_single_leaf() -> None:
    assert merkle.root([]) == hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.root([merkle.leaf_hash(b"x")]) == merkle.leaf_hash(b"x")
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


def test_rfc6962_roots() -> None:
    # Roots of the first 1..8 test leaves (transparency-dev/merkle testonly/constants.go).
    assert [merkle.root(RFC6962_LEAF_HASHES[:n]).hex()[:16] for n in (1, 2, 8)] == [
        "6e340b9cffb37a98",
        "fac54203e7cc696c",
        "5dc9da79a70659a9",
    ]


# --- agreement with the RFC model


@given(trees(max_size=70), st.data())
def test_agrees_with_rfc_definitions(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    old = data.draw(st.integers(1, n))
    assert merkle.root(leaves) == ref_mth(leaves)
    assert merkle.inclusion_proof(index, leaves) == ref_path(index, leaves)
    assert merkle.consistency_proof(old, leaves) == ref_subproof(old, leaves, True)


# --- every proof verifies; every mutation fails


@given(trees(), st.data())
def test_inclusion_proofs_verify(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    r = merkle.root(leaves)
    proof = merkle.inclusion_proof(index, leaves)
    merkle.verify_inclusion(leaves[index], index, n, proof, r)

    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        byte = data.draw(st.integers(0, 31))
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaves[index], index, n, flip(proof, i, byte), r)
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaves[index], index, n, proof[:-1], r)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaves[index], index, n, [*proof, r], r)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaves[index], index, n, proof, flip([r], 0, 5)[0])
    with pytest.raises(ProofError):
        merkle.verify_inclusion(merkle.leaf_hash(b"other"), index, n, proof, r)

    wrong_index = data.draw(st.integers(-2, n + 2).filter(lambda i: i != index))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaves[index], wrong_index, n, proof, r)


@given(trees(), st.data())
def test_inclusion_with_a_wrong_size(leaves: list[bytes], data: st.DataObject) -> None:
    """A wrong size fails against that size's root; against the true root it fails
    unless it leaves the shape of the path unchanged. RFC 9162 inclusion proofs do not
    bind the tree size on their own: the signed checkpoint binds size and root."""
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    size = data.draw(st.integers(0, 2 * n + 2).filter(lambda m: m != n))
    proof = merkle.inclusion_proof(index, leaves)
    if index < size <= n:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(leaves[index], index, size, proof, merkle.root(leaves[:size]))
    same_shape = index < size and sides(index, size) == sides(index, n)
    try:
        merkle.verify_inclusion(leaves[index], index, size, proof, merkle.root(leaves))
    except ProofError:
        assert not same_shape
    else:
        assert same_shape


@given(trees(), st.data())
def test_consistency_proofs_verify(leaves: list[bytes], data: st.DataObject) -> None:
    n = len(leaves)
    old = data.draw(st.integers(1, n))
    old_root, new_root = merkle.root(leaves[:old]), merkle.root(leaves)
    proof = merkle.consistency_proof(old, leaves)
    merkle.verify_consistency(old, n, proof, old_root, new_root)
    if old == n:
        assert proof == []
        return

    i = data.draw(st.integers(0, len(proof) - 1))
    byte = data.draw(st.integers(0, 31))
    with pytest.raises(ProofError):
        merkle.verify_consistency(old, n, flip(proof, i, byte), old_root, new_root)
    with pytest.raises(ProofError):
        merkle.verify_consistency(old, n, proof[:-1], old_root, new_root)
    with pytest.raises(ProofError):
        merkle.verify_consistency(old, n, [*proof, new_root], old_root, new_root)
    with pytest.raises(ProofError):
        merkle.verify_consistency(old, n, proof, flip([old_root], 0, byte)[0], new_root)
    with pytest.raises(ProofError):
        merkle.verify_consistency(old, n, proof, old_root, flip([new_root], 0, byte)[0])
    with pytest.raises(ProofError):
        merkle.verify_consistency(old, n, proof, new_root, old_root)


@given(trees(), st.data())
def test_consistency_with_wrong_sizes(leaves: list[bytes], data: st.DataObject) -> None:
    """Claimed sizes other than the true ones fail against the claimed sizes' roots."""
    n = len(leaves)
    old = data.draw(st.integers(1, n - 1)) if n > 1 else 1
    assume(old < n)
    proof = merkle.consistency_proof(old, leaves)
    old2 = data.draw(st.integers(0, n))
    new2 = data.draw(st.integers(max(old2, 1), n))
    assume((old2, new2) != (old, n))
    with pytest.raises(ProofError):
        merkle.verify_consistency(
            old2,
            new2,
            proof,
            merkle.root(leaves[:old2]),
            merkle.root(leaves[:new2]),
        )


# --- storage-oriented variants


@given(trees(), st.data())
def test_proofs_from_storage_agree(leaves: list[bytes], data: st.DataObject) -> None:
    """Proofs for any earlier size come from the nodes stored for the current tree."""
    nodes = store(leaves)
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    reads: list[tuple[int, int]] = []

    def get_node(level: int, index: int) -> bytes:
        reads.append((level, index))
        return nodes[level, index]

    prefix = leaves[:size]
    assert merkle.inclusion_proof_from(index, size, get_node) == merkle.inclusion_proof(index, prefix)
    assert set(reads) == set(merkle.nodes_for(merkle.inclusion_ranges(index, size)))
    assert len(reads) <= 2 * size.bit_length()
    reads.clear()
    assert merkle.consistency_proof_from(old, size, get_node) == merkle.consistency_proof(old, prefix)
    assert set(reads) == set(merkle.nodes_for(merkle.consistency_ranges(old, size)))
    assert len(reads) <= 2 * size.bit_length() + 1
    assert merkle.root_from(size, get_node) == merkle.root(prefix)


@given(trees(), st.data())
def test_subtree_pieces_fold_to_the_range_hash(leaves: list[bytes], data: st.DataObject) -> None:
    nodes = store(leaves)
    n = len(leaves)
    level = data.draw(st.integers(0, max(0, (n - 1).bit_length())))
    start = data.draw(st.integers(0, (n - 1) >> level)) << level
    end = data.draw(st.integers(start + 1, min(n, start + (1 << level))))
    h = merkle.range_hash(start, end, lambda lv, i: nodes[lv, i])
    assert h == merkle.root(leaves[start:end])


def test_subtree_pieces() -> None:
    assert merkle.subtree_pieces(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.subtree_pieces(8, 16) == [(3, 1)]
    assert merkle.subtree_pieces(4, 7) == [(1, 2), (0, 6)]
    assert merkle.frontier(0) == []
    assert merkle.frontier(13) == [(3, 0), (2, 2), (0, 12)]
    for start, end in [(2, 6), (1, 3), (3, 3), (5, 4), (-1, 0)]:
        with pytest.raises(ValueError, match="range"):
            merkle.subtree_pieces(start, end)


@given(trees(max_size=120), st.lists(st.integers(0, 20), max_size=30))
def test_incremental_appends(leaves: list[bytes], cuts: list[int]) -> None:
    size = 0
    edge: tuple[bytes, ...] = ()
    nodes: dict[tuple[int, int], bytes] = {}
    batches = [*cuts, len(leaves)]
    for batch in batches:
        chunk = leaves[size : size + batch]
        result = merkle.append(size, edge, chunk)
        for level, index, h in result.nodes:
            assert (level, index) not in nodes
            nodes[level, index] = h
        size, edge = result.size, result.frontier
        assert result.root == merkle.root(leaves[:size])
        assert len(edge) == len(merkle.frontier(size))
        if size == len(leaves):
            break
    n = len(leaves)
    complete = {(level, index) for level in range(n.bit_length()) for index in range(n >> level)}
    assert set(nodes) == complete
    for (level, index), h in nodes.items():
        assert h == merkle.root(leaves[index << level : (index + 1) << level])


def test_append_rejects_a_wrong_frontier() -> None:
    leaves = RFC6962_LEAF_HASHES
    first = merkle.append(0, [], leaves[:5])
    with pytest.raises(ValueError, match="frontier nodes"):
        merkle.append(5, first.frontier[:1], leaves[5:])
    with pytest.raises(ValueError, match="not 32"):
        merkle.append(5, first.frontier, [b"short"])
    assert merkle.append(0, [], []).root == merkle.EMPTY_ROOT


# --- huge trees: every leaf equal, so every complete subtree of a level has one hash


def _uniform_store() -> Callable[[int, int], bytes]:
    level_hash = [merkle.leaf_hash(b"same")]
    for _ in range(64):
        level_hash.append(merkle.node_hash(level_hash[-1], level_hash[-1]))
    return lambda level, index: level_hash[level]


@pytest.mark.parametrize(
    ("old", "new", "index"),
    [
        (1, 962_000_000, 961_999_999),
        (500_000_001, 962_123_457, 123_456_789),
        (2**40 + 3, 2**63 + 5, 2**62 + 1),
        (2**64 - 2, 2**64 - 1, 2**64 - 2),
    ],
)
def test_large_trees(old: int, new: int, index: int) -> None:
    get_node = _uniform_store()
    new_root = merkle.root_from(new, get_node)
    old_root = merkle.root_from(old, get_node)
    proof = merkle.inclusion_proof_from(index, new, get_node)
    merkle.verify_inclusion(get_node(0, 0), index, new, proof, new_root)
    consistency = merkle.consistency_proof_from(old, new, get_node)
    merkle.verify_consistency(old, new, consistency, old_root, new_root)
    with pytest.raises(ProofError):
        merkle.verify_consistency(old, new, consistency, new_root, new_root)


def test_bounds() -> None:
    h = merkle.leaf_hash(b"")
    with pytest.raises(ProofError, match="outside"):
        merkle.verify_inclusion(h, 0, 2**64, [], h)
    with pytest.raises(ProofError, match="more than any tree needs"):
        merkle.verify_inclusion(h, 0, 2**64 - 1, [h] * 65, h)
    with pytest.raises(ProofError, match="empty tree"):
        merkle.verify_consistency(0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    with pytest.raises(ValueError, match="not in a tree of size 3"):
        merkle.inclusion_proof(3, RFC6962_LEAF_HASHES[:3])
    with pytest.raises(ValueError, match="0 < old_size"):
        merkle.consistency_proof(0, RFC6962_LEAF_HASHES)
    with pytest.raises(ValueError, match="not 32"):
        merkle.root([b"not a hash"])
    assert issubclass(ProofError, ValueError)
    assert issubclass(ProofError, InvalidInput)
