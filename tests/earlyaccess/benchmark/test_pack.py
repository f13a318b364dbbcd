"""Sealed packs: the authoring directory, sealing, identity, tampering, draws and canaries."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forewarn.core.errors import InvalidInput, TooLarge
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.benchmark import pack
from forewarn.earlyaccess.benchmark.pack import Item, Manifest, PackSource
from forewarn.earlyaccess.benchmark.scoring import ScorerKind

CANARIES = {
    "input": "CANARY-INPUT-7f3a9",
    "choice": "CANARY-CHOICE-2b8c1",
    "answer": "CANARY-ANSWER-e41d0",
    "pattern": "CANARYPATTERN5d2",
    "description": "CANARY-DESCRIPTION-9c6e2",
    "rubric": "canary-rubric-a1b2c",
    "rubric_text": "CANARY-RUBRIC-TEXT-6a0f4",
    "domain": "canarydomain",
    "id": "canary-id-31337",
}
MANIFEST_TOML = """format = 1
name = "test-pack"
version = "2026.1"
classification = "NON-CLASSIFIED EXAMPLE"
description = "{description}"
"""


def items_fixture() -> list[dict[str, Any]]:
    return [
        {
            "id": "c-1",
            "input": f"Which port? {CANARIES['input']}",
            "choices": ["22", CANARIES["choice"], "443"],
            "answer": "B",
            "scorer": "choice",
            "domain": "network",
            "difficulty": 1,
        },
        {
            "id": "e-1",
            "input": "Decode aGk=",
            "answer": ["hi", CANARIES["answer"]],
            "scorer": "exact",
            "domain": CANARIES["domain"],
            "difficulty": 2,
        },
        {
            "id": "i-1",
            "input": "Which IP?",
            "answer": "203.0.113.5",
            "scorer": "includes",
            "domain": "logs",
            "difficulty": 3,
        },
        {
            "id": "p-1",
            "input": "Which database?",
            "answer": [f"(?i)(mysql|{CANARIES['pattern']})"],
            "scorer": "pattern",
            "domain": "network",
            "difficulty": 4,
        },
        {
            "id": CANARIES["id"],
            "input": "Explain the flaw.",
            "rubric": CANARIES["rubric"],
            "scorer": "model_graded",
            "domain": "code",
            "difficulty": 5,
        },
    ]


def rubrics_fixture() -> list[dict[str, Any]]:
    return [
        {"handle": CANARIES["rubric"], "text": f"Full marks if the flaw is named. {CANARIES['rubric_text']}"},
        {"handle": "unused/rubric", "text": "A rubric no item uses is allowed."},
    ]


def write_pack_dir(
    path: Path,
    items: list[dict[str, Any]] | None = None,
    manifest: str | None = None,
    rubrics: list[dict[str, Any]] | None = None,
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    text = manifest if manifest is not None else MANIFEST_TOML.format(description=CANARIES["description"])
    (path / "pack.toml").write_text(text, encoding="utf-8")
    lines = [json.dumps(item) for item in (items if items is not None else items_fixture())]
    (path / "items.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rubric_lines = [json.dumps(r) for r in (rubrics if rubrics is not None else rubrics_fixture())]
    (path / "rubrics.jsonl").write_text("\n".join(rubric_lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def key() -> DataKey:
    return DataKey(os.urandom(32))


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    return write_pack_dir(tmp_path / "pack")


def assert_no_canary(*texts: object) -> None:
    for text in texts:
        rendered = text if isinstance(text, str) else repr(text)
        for canary in CANARIES.values():
            assert canary not in rendered, f"canary {canary} leaked"


# --- round trip --------------------------------------------------------------------------------


def test_build_open_round_trip(pack_dir: Path, key: DataKey) -> None:
    blob = pack.build(pack_dir, key)
    opened = pack.open_pack(blob, key)
    source = pack.read_directory(pack_dir)
    assert opened.items == source.items
    assert opened.manifest == source.manifest
    assert [item.id for item in opened.items] == sorted(item.id for item in source.items)
    assert len(opened) == 5
    header = pack.read_header(blob)
    assert header == opened.header
    assert (header.name, header.version, header.classification) == (
        "test-pack",
        "2026.1",
        "NON-CLASSIFIED EXAMPLE",
    )
    assert header.key_id == key.key_id
    assert opened.item("c-1").score("B")
    assert opened.item("c-1").prompt().endswith("Answer:")


def test_identity_is_hash_of_canonical_body(pack_dir: Path, key: DataKey) -> None:
    opened = pack.open_pack(pack.build(pack_dir, key), key)
    body = pack.disclosure(opened)
    assert hashlib.sha256(body).hexdigest() == opened.pack_hash
    # A later disclosure is checked against the public hash alone.
    assert pack.check_disclosure(body, opened.pack_hash).items == opened.items
    with pytest.raises(InvalidInput, match="does not match"):
        pack.check_disclosure(body + b" ", opened.pack_hash)
    with pytest.raises(InvalidInput, match="does not match"):
        pack.check_disclosure(body.replace(b"network", b"netw0rk"), opened.pack_hash)
    # Re-encoded (non-canonical) bytes of the same content do not pass either.
    pretty = json.dumps(json.loads(body), indent=1).encode()
    with pytest.raises(InvalidInput):
        pack.check_disclosure(pretty, hashlib.sha256(pretty).hexdigest())


def test_identity_ignores_line_order_but_not_salt(tmp_path: Path, key: DataKey) -> None:
    salt = b"s" * 32
    forward = pack.build(write_pack_dir(tmp_path / "a"), key, salt=salt)
    backward = pack.build(write_pack_dir(tmp_path / "b", items_fixture()[::-1]), key, salt=salt)
    assert pack.read_header(forward).pack_hash == pack.read_header(backward).pack_hash
    assert forward != backward  # fresh nonces
    other = pack.build(tmp_path / "a", key, salt=b"t" * 32)
    assert pack.read_header(other).pack_hash != pack.read_header(forward).pack_hash
    fresh = pack.build(tmp_path / "a", key)
    assert pack.read_header(fresh).pack_hash != pack.read_header(forward).pack_hash


def test_reseal_keeps_identity(pack_dir: Path, key: DataKey) -> None:
    blob = pack.build(pack_dir, key)
    new_key = DataKey(os.urandom(32))
    moved = pack.reseal(blob, key, new_key)
    assert pack.read_header(moved).pack_hash == pack.read_header(blob).pack_hash
    assert pack.read_header(moved).key_id == new_key.key_id
    assert pack.open_pack(moved, new_key).items == pack.open_pack(blob, key).items
    with pytest.raises(InvalidInput, match="another key"):
        pack.open_pack(moved, key)


def test_padding_hides_size(tmp_path: Path, key: DataKey) -> None:
    one = pack.build(write_pack_dir(tmp_path / "one", items_fixture()[:1]), key)
    five = pack.build(write_pack_dir(tmp_path / "five"), key)
    assert len(one) == len(five)


def test_write_directory_round_trip(pack_dir: Path, tmp_path: Path) -> None:
    source = pack.read_directory(pack_dir)
    copy = pack.write_directory(source, tmp_path / "copy")
    assert pack.read_directory(copy) == source


# --- the header is public, the rest is not -----------------------------------------------------


def test_header_holds_no_sealed_content(pack_dir: Path, key: DataKey) -> None:
    blob = pack.build(pack_dir, key)
    assert blob.startswith(pack.MAGIC)
    size = int.from_bytes(blob[len(pack.MAGIC) : len(pack.MAGIC) + 4], "big")
    header = json.loads(blob[len(pack.MAGIC) + 4 : len(pack.MAGIC) + 4 + size])
    assert set(header) == {"format", "name", "version", "classification", "key_id", "pack_hash"}
    for canary in CANARIES.values():
        assert canary.encode() not in blob
    assert b"items" not in blob[: len(pack.MAGIC) + 4 + size]


def test_reprs_show_nothing_sealed(pack_dir: Path, key: DataKey) -> None:
    source = pack.read_directory(pack_dir)
    opened = pack.open_pack(pack.build(pack_dir, key), key)
    assert_no_canary(source, source.manifest, opened, opened.manifest, opened.header, *opened.items)
    assert_no_canary(
        str(opened.items), str(opened.draw(5, seed=b"k" * 16)), repr(opened.__dict__.get("items"))
    )
    assert repr(opened.items[0]) == "Item(<sealed>)"
    assert "test-pack" in repr(opened)


# --- tampering ---------------------------------------------------------------------------------


def test_tampering_fails_cleanly(pack_dir: Path, key: DataKey) -> None:
    blob = pack.build(pack_dir, key)
    header_end = len(blob) - len(blob.split(pack.MAGIC, 1)[1]) + 4
    positions = [0, len(pack.MAGIC) + 1, header_end + 5, len(blob) // 2, len(blob) - 1]
    for position in positions:
        damaged = bytearray(blob)
        damaged[position] ^= 0x01
        with pytest.raises(InvalidInput) as caught:
            pack.open_pack(bytes(damaged), key)
        assert_no_canary(str(caught.value), caught.value.problems)
        # No decoder error (whose .doc / .object would hold plaintext) hangs on the exception.
        context = caught.value.__context__
        assert not hasattr(context, "doc")
        assert not hasattr(context, "object")
    for cut in (0, 5, len(pack.MAGIC) + 3, header_end + 10, len(blob) - 1):
        with pytest.raises(InvalidInput):
            pack.open_pack(blob[:cut], key)


def test_header_swap_is_detected(tmp_path: Path, key: DataKey) -> None:
    first = pack.build(write_pack_dir(tmp_path / "a"), key)
    second = pack.build(write_pack_dir(tmp_path / "b", items_fixture()[:2]), key)
    header_a, prefix_a, _ = pack._split(first)
    _, _, sealed_b = pack._split(second)
    assert header_a.pack_hash != pack.read_header(second).pack_hash
    with pytest.raises(InvalidInput, match="authentication"):
        pack.open_pack(prefix_a + sealed_b, key)


def test_wrong_key_names_the_needed_key_only(pack_dir: Path, key: DataKey) -> None:
    blob = pack.build(pack_dir, key)
    with pytest.raises(InvalidInput) as caught:
        pack.open_pack(blob, DataKey(os.urandom(32)))
    assert key.key_id in str(caught.value)
    assert key.raw.hex() not in str(caught.value)


def test_a_forged_key_id_still_fails_authentication(pack_dir: Path, key: DataKey) -> None:
    other = DataKey(os.urandom(32))
    blob = pack.build(pack_dir, key)
    header, _, sealed = pack._split(blob)
    forged = pack.PackHeader(**{**header.__dict__, "key_id": other.key_id})
    prefix = pack._prefix(forged)
    with pytest.raises(InvalidInput, match="authentication"):
        pack.open_pack(prefix + sealed, other)


def test_non_canonical_header_is_refused(pack_dir: Path, key: DataKey) -> None:
    blob = pack.build(pack_dir, key)
    header, _, sealed = pack._split(blob)
    loose = json.dumps(header.__dict__, indent=2).encode()
    with pytest.raises(InvalidInput, match="canonical"):
        pack.read_header(pack.MAGIC + len(loose).to_bytes(4, "big") + loose + sealed)


@pytest.mark.parametrize(
    "blob",
    [b"", b"not a pack", pack.MAGIC + b"\xff\xff\xff\xff", pack.MAGIC + (3).to_bytes(4, "big") + b"{}x"],
)
def test_garbage_is_refused(blob: bytes, key: DataKey) -> None:
    with pytest.raises(InvalidInput):
        pack.open_pack(blob, key)


# --- validation --------------------------------------------------------------------------------


def _with(index: int, **changes: Any) -> list[dict[str, Any]]:
    items = items_fixture()
    for field, value in changes.items():
        if value is _DROP:
            items[index].pop(field, None)
        else:
            items[index][field] = value
    return items


_DROP = object()


@pytest.mark.parametrize(
    ("items", "field"),
    [
        (_with(0, id=_DROP), "items.jsonl:1:id"),
        (_with(0, id="has space"), "items.jsonl:1:id"),
        (_with(0, input=""), "items.jsonl:1:input"),
        (_with(0, input="x" * (pack.MAX_INPUT_CHARS + 1)), "items.jsonl:1:input"),
        (_with(0, input=12), "items.jsonl:1:input"),
        (_with(0, scorer="regex"), "items.jsonl:1:scorer"),
        (_with(0, choices=_DROP), "items.jsonl:1:choices"),
        (_with(0, choices=["only one"]), "items.jsonl:1:choices"),
        (_with(0, choices=["same", "Same"]), "items.jsonl:1:choices"),
        (_with(0, answer="D"), "items.jsonl:1:answer"),
        (_with(0, answer="b"), "items.jsonl:1:answer"),
        (_with(0, answer=_DROP), "items.jsonl:1:answer"),
        (_with(1, choices=["a", "b"]), "items.jsonl:2:choices"),
        (_with(1, answer=[]), "items.jsonl:2:answer"),
        (_with(1, answer=["  "]), "items.jsonl:2:answer"),
        (_with(1, answer="***"), "items.jsonl:2:answer"),
        (_with(1, difficulty=0), "items.jsonl:2:difficulty"),
        (_with(1, difficulty=6), "items.jsonl:2:difficulty"),
        (_with(1, difficulty=True), "items.jsonl:2:difficulty"),
        (_with(1, difficulty="3"), "items.jsonl:2:difficulty"),
        (_with(1, domain="Has Caps"), "items.jsonl:2:domain"),
        (_with(1, rubric="r1"), "items.jsonl:2:rubric"),
        (_with(1, extra=CANARIES["answer"]), "items.jsonl:2:(fields)"),
        (_with(1, input="bad \ud800 surrogate"), "items.jsonl:2:input"),
        (_with(1, input="nul \x00"), "items.jsonl:2:input"),
        (_with(3, answer=["(a+)+" + CANARIES["pattern"]]), "items.jsonl:4:answer[0]"),
        (_with(4, rubric=_DROP), "items.jsonl:5:rubric"),
        (_with(4, rubric="Bad Handle"), "items.jsonl:5:rubric"),
        ([*items_fixture(), items_fixture()[0]], "items.jsonl:6:id"),
    ],
)
def test_invalid_items_are_named_by_file_line_field(
    tmp_path: Path, items: list[dict[str, Any]], field: str
) -> None:
    directory = write_pack_dir(tmp_path / "bad", items)
    with pytest.raises(InvalidInput) as caught:
        pack.read_directory(directory)
    fields = [problem.field for problem in caught.value.problems]
    assert field in fields, fields
    assert_no_canary(str(caught.value))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"id": "a", "id": "b"}', "repeats a key"),
        ('{"id": "x", "difficulty": NaN}', "NaN"),
        ("[1, 2]", "JSON object"),
        ('"just a string"', "JSON object"),
    ],
)
def test_malformed_lines(tmp_path: Path, line: str, message: str) -> None:
    directory = write_pack_dir(tmp_path / "bad", [])
    (directory / "items.jsonl").write_text(
        json.dumps(items_fixture()[1]) + "\n\n" + line + "\n", encoding="utf-8"
    )
    with pytest.raises(InvalidInput) as caught:
        pack.read_directory(directory)
    assert caught.value.problems[0].field.startswith("items.jsonl:3")
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("manifest", "field"),
    [
        ('format = 1\nname = "x"\nversion = "1"\n', "pack.toml:classification"),
        ('format = 2\nname = "x"\nversion = "1"\nclassification = "X"\n', "pack.toml:format"),
        ('format = 1\nname = "Bad Name"\nversion = "1"\nclassification = "X"\n', "pack.toml:name"),
        (
            'format = 1\nname = "x"\nversion = "1"\nclassification = "lower case"\n',
            "pack.toml:classification",
        ),
        ('format = 1\nname = "x"\nversion = "1"\nclassification = "X"\nsecret = "s"\n', "pack.toml:(fields)"),
        ('format = 1\nname = "x\nversion', "pack.toml"),
    ],
)
def test_invalid_manifest(tmp_path: Path, manifest: str, field: str) -> None:
    directory = write_pack_dir(tmp_path / "bad", manifest=manifest)
    with pytest.raises(InvalidInput) as caught:
        pack.read_directory(directory)
    assert field in [problem.field for problem in caught.value.problems]


def test_missing_files_and_empty_pack(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a pack directory"):
        pack.read_directory(tmp_path / "nowhere")
    directory = write_pack_dir(tmp_path / "empty", [])
    with pytest.raises(InvalidInput, match="holds no items"):
        pack.read_directory(directory)
    (directory / "items.jsonl").unlink()
    with pytest.raises(InvalidInput, match=r"items\.jsonl: is missing"):
        pack.read_directory(directory)


def test_not_utf8(tmp_path: Path) -> None:
    directory = write_pack_dir(tmp_path / "bad")
    (directory / "items.jsonl").write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(InvalidInput, match="not UTF-8"):
        pack.read_directory(directory)


def test_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = write_pack_dir(tmp_path / "big")
    monkeypatch.setattr(pack, "MAX_ITEMS_FILE_BYTES", 100)
    with pytest.raises(TooLarge):
        pack.read_directory(directory)
    monkeypatch.undo()
    monkeypatch.setattr(pack, "MAX_LINE_BYTES", 50)
    with pytest.raises(InvalidInput, match="longer than 50 bytes"):
        pack.read_directory(directory)
    monkeypatch.undo()
    monkeypatch.setattr(pack, "MAX_ITEMS", 3)
    with pytest.raises(InvalidInput, match="more than 3 items"):
        pack.read_directory(directory)


def test_problem_count_is_capped(tmp_path: Path) -> None:
    directory = write_pack_dir(tmp_path / "bad", [{"id": f"x{i}"} for i in range(200)])
    with pytest.raises(InvalidInput) as caught:
        pack.read_directory(directory)
    assert len(caught.value.problems) == 51
    assert caught.value.problems[-1].message == "further problems not shown"


def test_sealed_body_is_revalidated(pack_dir: Path, key: DataKey) -> None:
    # A body that is well sealed but invalid (e.g. written by another tool) is refused on open.
    source = pack.read_directory(pack_dir)
    broken = Item(
        id="z",
        input="x",
        answers=("Q",),
        scorer=ScorerKind.CHOICE,
        domain="d",
        difficulty=1,
        choices=("a", "b"),
    )
    blob = pack.seal(PackSource(manifest=source.manifest, items=(*source.items, broken)), key)
    with pytest.raises(InvalidInput) as caught:
        pack.open_pack(blob, key)
    assert "items[5].answer" in [problem.field for problem in caught.value.problems]


# --- draws -------------------------------------------------------------------------------------


def make_pack(count: int, key: DataKey) -> pack.Pack:
    items = tuple(
        Item(id=f"q{i:04d}", input=f"q{i}", answers=("a",), scorer=ScorerKind.EXACT, domain="d", difficulty=1)
        for i in range(count)
    )
    manifest = Manifest(name="draws", version="1", classification="NON-CLASSIFIED EXAMPLE")
    return pack.open_pack(pack.seal(PackSource(manifest=manifest, items=items), key), key)


def test_draw_is_reproducible_and_without_replacement(key: DataKey) -> None:
    drawn = make_pack(50, key)
    seed = pack.new_seed()
    first = drawn.draw(20, seed=seed)
    assert first == drawn.draw(20, seed=seed)
    assert len({item.id for item in first}) == 20
    assert drawn.draw(20, seed=pack.new_seed()) != first
    assert sorted(item.id for item in drawn.draw(50, seed=seed)) == [item.id for item in drawn.items]
    assert drawn.draw(0, seed=seed) == ()
    assert len(drawn.draw(10)) == 10  # a fresh secrets-based seed


def test_draw_depends_on_the_pack(key: DataKey) -> None:
    seed = b"x" * 32
    one, other = make_pack(30, key), make_pack(30, DataKey(os.urandom(32)))
    # Same items, different salt, so different pack hash and a different order.
    assert [i.id for i in one.draw(30, seed=seed)] != [i.id for i in other.draw(30, seed=seed)]


@pytest.mark.parametrize(("n", "seed"), [(51, b"x" * 16), (-1, b"x" * 16), (5, b"short"), (5, "text" * 8)])
def test_draw_rejects_bad_arguments(key: DataKey, n: int, seed: Any) -> None:
    with pytest.raises(InvalidInput):
        make_pack(50, key).draw(n, seed=seed)


def test_draw_is_uniform(key: DataKey) -> None:
    drawn = make_pack(5, key)
    runs = 5_000
    first = Counter(drawn.draw(2, seed=i.to_bytes(16, "big"))[0].id for i in range(runs))
    # Each of 5 items leads with probability 1/5: sd = sqrt(5000 * 0.2 * 0.8) ≈ 28; allow 5 sd.
    assert all(abs(count - runs / 5) < 5 * 28.3 for count in first.values()), first


_SHARED: dict[str, pack.Pack] = {}


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=16, max_size=40), st.integers(min_value=0, max_value=40))
def test_shorter_draw_is_a_prefix(seed: bytes, n: int) -> None:
    # A resumed run that draws more later walks the same sequence.
    drawn = _SHARED.setdefault("pack", make_pack(40, DataKey(b"k" * 32)))
    assert drawn.draw(n, seed=seed) == drawn.draw(40, seed=seed)[:n]


# --- canaries through every error path -----------------------------------------------------------


def test_canaries_never_reach_errors(tmp_path: Path, key: DataKey) -> None:
    messages: list[str] = []
    bad_values: list[tuple[int, str, Any]] = [
        (0, "answer", CANARIES["answer"]),  # not a choice letter
        (1, "difficulty", CANARIES["answer"]),
        (1, "domain", CANARIES["answer"]),
        (1, "id", CANARIES["answer"] + " !"),
        (3, "answer", "(" + CANARIES["answer"] + "+)+"),  # unsafe pattern
        (4, "rubric", CANARIES["answer"] + "!"),
        (0, "choices", [CANARIES["answer"], "x" * 5000]),
        (1, CANARIES["answer"], 1),  # unknown field
        (1, "scorer", CANARIES["answer"]),
    ]
    for index, field, value in bad_values:
        items = items_fixture()
        items[index][field] = value
        with pytest.raises(InvalidInput) as caught:
            pack.read_directory(write_pack_dir(tmp_path / f"bad-{len(messages)}", items))
        messages.append(str(caught.value))
    blob = pack.build(write_pack_dir(tmp_path / "good"), key)
    for damaged in (blob[:-1] + bytes([blob[-1] ^ 1]), blob[:200]):
        with pytest.raises(InvalidInput) as caught:
            pack.open_pack(damaged, key)
        messages.append(str(caught.value))
    assert_no_canary(*messages)


# --- rubrics of model-graded items -----------------------------------------------------------------


def test_rubrics_are_sealed_in_the_pack_and_resolve_by_handle(pack_dir: Path, key: DataKey) -> None:
    blob = pack.build(pack_dir, key)
    assert CANARIES["rubric_text"].encode() not in blob and CANARIES["rubric"].encode() not in blob
    opened = pack.open_pack(blob, key)
    assert CANARIES["rubric_text"] in opened.rubric(CANARIES["rubric"])
    assert opened.model_graded == 1
    assert [r.handle for r in opened.rubrics] == sorted([CANARIES["rubric"], "unused/rubric"])
    assert_no_canary(repr(opened), repr(opened.rubrics), repr(pack.read_directory(pack_dir)))
    with pytest.raises(InvalidInput):
        opened.rubric("no/such")
    # The disclosure holds the rubrics, and re-sealing keeps them (same hash).
    assert CANARIES["rubric_text"].encode() in pack.disclosure(opened)
    resealed = pack.open_pack(pack.reseal(blob, key, other := DataKey(os.urandom(32))), other)
    assert resealed.rubrics == opened.rubrics and resealed.pack_hash == opened.pack_hash
    # Written back as an authoring directory, it builds to the same body.
    again = pack.write_directory(
        PackSource(manifest=opened.manifest, items=opened.items, rubrics=opened.rubrics),
        pack_dir.parent / "w",
    )
    assert pack.read_directory(again).rubrics == opened.rubrics


def test_a_pack_without_rubrics_keeps_its_body_format(tmp_path: Path, key: DataKey) -> None:
    items = items_fixture()[:4]
    directory = write_pack_dir(tmp_path / "plain", items, rubrics=[])
    (directory / "rubrics.jsonl").unlink()
    opened = pack.open_pack(pack.build(directory, key), key)
    assert b'"rubrics"' not in pack.disclosure(opened) and opened.rubrics == ()


@pytest.mark.parametrize(
    ("rubrics", "field"),
    [
        ([], "items.jsonl:5:rubric"),  # the item's handle names no rubric
        ([{"handle": CANARIES["rubric"]}], "rubrics.jsonl:1:text"),
        ([{"handle": CANARIES["rubric"], "text": ""}], "rubrics.jsonl:1:text"),
        ([{"handle": CANARIES["rubric"], "text": "x" * (pack.MAX_RUBRIC_CHARS + 1)}], "rubrics.jsonl:1:text"),
        ([{"handle": "Bad Handle", "text": CANARIES["rubric_text"]}], "rubrics.jsonl:1:handle"),
        ([{"handle": "a", "text": "t", CANARIES["rubric_text"]: 1}], "rubrics.jsonl:1:(fields)"),
        ([{"handle": "a", "text": "t"}, {"handle": "a", "text": "u"}], "rubrics.jsonl:2:handle"),
    ],
)
def test_invalid_rubrics_are_named_by_file_line_field(
    tmp_path: Path, rubrics: list[dict[str, Any]], field: str
) -> None:
    directory = write_pack_dir(tmp_path / "bad", rubrics=rubrics)
    with pytest.raises(InvalidInput) as caught:
        pack.read_directory(directory)
    fields = [problem.field for problem in caught.value.problems]
    assert field in fields, fields
    assert_no_canary(str(caught.value))


def test_a_sealed_body_whose_handle_names_no_rubric_is_refused(pack_dir: Path, key: DataKey) -> None:
    source = pack.read_directory(pack_dir)
    orphaned = PackSource(manifest=source.manifest, items=source.items, rubrics=source.rubrics[1:])
    blob = pack.seal(orphaned, key)
    with pytest.raises(InvalidInput) as caught:
        pack.open_pack(blob, key)
    assert "items[" in str(caught.value.problems) and "names no rubric" in str(caught.value.problems)
    assert_no_canary(str(caught.value), repr(caught.value.problems))
