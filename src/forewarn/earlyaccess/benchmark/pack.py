"""Sealed benchmark packs: the authoring directory, the sealed file, and the pack's identity.

A custodian writes a plain directory (``pack.toml`` + ``items.jsonl``, and ``rubrics.jsonl`` when
items are model-graded; see ``docs/benchmark.md``);
:func:`build` validates it and seals it into one file::

    MAGIC  ||  uint32-be header length  ||  header (RFC 8785 JSON)  ||  DataKey.seal(plaintext, aad=prefix)

where ``prefix`` is everything before the sealed part, and the plaintext is a uint64-be length, the
canonical body (RFC 8785 JSON of the manifest, a random 256-bit salt, the items sorted by id and,
if any, the rubrics sorted by handle) and zero padding to a multiple of ``PAD_BLOCK``.

Invariants:

- **Public header, sealed body.** The header holds only the format, the pack's name, version and
  classification marking, the id of the key it is sealed under and the pack hash. Item text,
  choices, answers, rubric handles and rubric texts, domains, difficulties, the description and the
  number of items are in the sealed body only; padding hides the body's exact size.
- **Rubrics are sealed content.** A ``model_graded`` item names a rubric by handle; the rubric's text
  is sealed in the same pack (every handle must resolve, at build and at open), and is given only to
  the policy's grader model, never to the model under test.
- **Bound header.** The header is AES-GCM associated data: changing a byte of it (or of the
  ciphertext), or moving the ciphertext under another header, fails authentication.
- **Identity.** ``pack_hash`` is the SHA-256 of the canonical body: it survives re-sealing under a
  new key, and a later disclosure of the body is checked with ``sha256sum`` (:func:`check_disclosure`).
  The salt inside the body keeps the hash from confirming a guessed pack. Opening a pack checks the
  body against the header's hash, and that the body is in canonical form (one body, one hash).
- **Strict input.** Every field is validated, in the directory and again when a sealed body is
  opened; unknown fields, duplicate keys or ids, NaN, bad Unicode, oversize files, lines, strings and
  counts are refused. Errors name the file, line and field, never a value.
- **No sealed text escapes.** ``repr`` of an item, a pack or a source shows no item text, answer or
  description; exceptions raised while decoding a sealed body are raised outside the handler, so no
  decoder error (whose ``.doc`` holds the plaintext) hangs on them as context. Decrypted content
  lives only in the memory of the process that opened it (Python cannot wipe it).
- **Draws.** :meth:`Pack.draw` is sampling without replacement driven by HMAC-SHA256 keyed with a
  sealed seed: the same seed and pack give the same sequence (a retried job resumes it), and the
  sequence reveals nothing about the seed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import rfc8785

from forewarn.core.errors import InvalidInput, Problem, TooLarge
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.benchmark.scoring import (
    LETTERS,
    MAX_CHOICES,
    ScorerKind,
    check_pattern,
    normalize,
    render_prompt,
    score,
)

__all__ = [
    "FORMAT",
    "ITEMS_FILE",
    "MAGIC",
    "MANIFEST_FILE",
    "MAX_ANSWERS",
    "MAX_ANSWER_CHARS",
    "MAX_CHOICE_CHARS",
    "MAX_DESCRIPTION_CHARS",
    "MAX_HEADER_BYTES",
    "MAX_INPUT_CHARS",
    "MAX_ITEMS",
    "MAX_ITEMS_FILE_BYTES",
    "MAX_LINE_BYTES",
    "MAX_MANIFEST_BYTES",
    "MAX_RUBRICS",
    "MAX_RUBRICS_FILE_BYTES",
    "MAX_RUBRIC_CHARS",
    "MAX_SEALED_BYTES",
    "PAD_BLOCK",
    "RUBRICS_FILE",
    "Item",
    "Manifest",
    "Pack",
    "PackHeader",
    "PackSource",
    "Rubric",
    "build",
    "check_disclosure",
    "disclosure",
    "new_seed",
    "open_pack",
    "read_directory",
    "read_header",
    "reseal",
    "seal",
    "write_directory",
]

FORMAT = 1
MAGIC = b"forewarn-pack\n"
MANIFEST_FILE = "pack.toml"
ITEMS_FILE = "items.jsonl"
RUBRICS_FILE = "rubrics.jsonl"
KIND = "forewarn-pack"

MAX_MANIFEST_BYTES = 64 * 1024
MAX_ITEMS_FILE_BYTES = 64 * 1024 * 1024
MAX_LINE_BYTES = 256 * 1024
MAX_ITEMS = 100_000
MAX_INPUT_CHARS = 32_000
MAX_CHOICE_CHARS = 2_000
MAX_ANSWERS = 32
MAX_ANSWER_CHARS = 2_000
MAX_DESCRIPTION_CHARS = 4_000
MAX_RUBRICS = 1_000
MAX_RUBRIC_CHARS = 16_000
MAX_RUBRICS_FILE_BYTES = 16 * 1024 * 1024
MAX_HEADER_BYTES = 4_096
PAD_BLOCK = 64 * 1024
MAX_SEALED_BYTES = 4 * MAX_ITEMS_FILE_BYTES
_MAX_PROBLEMS = 50
_SALT_BYTES = 32
_MIN_SEED_BYTES = 16

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}")
_MARKING = re.compile(r"[A-Z0-9][A-Z0-9 /,()+._-]{0,127}")
_ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_DOMAIN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_RUBRIC = re.compile(r"[a-z0-9][a-z0-9._/-]{0,127}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")

#: What one line of a JSON Lines file, or one element of a list in a pack body, parses to.
_Record = TypeVar("_Record")

_ITEM_FIELDS = {"id", "input", "choices", "answer", "scorer", "rubric", "domain", "difficulty"}
_MANIFEST_FIELDS = {"format", "name", "version", "description", "classification"}
_RUBRIC_FIELDS = {"handle", "text"}
_HEADER_FIELDS = {"format", "name", "version", "classification", "key_id", "pack_hash"}


# --- the objects -------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Item:
    """One sealed item. Its repr shows nothing of it."""

    id: str
    input: str
    answers: tuple[str, ...]
    scorer: ScorerKind
    domain: str
    difficulty: int
    choices: tuple[str, ...] = ()
    rubric: str | None = None

    def __repr__(self) -> str:
        return "Item(<sealed>)"

    def prompt(self) -> str:
        """The prompt under the answer-first convention (:func:`scoring.render_prompt`)."""
        return render_prompt(self.input, self.choices)

    def score(self, output: str) -> bool:
        """Did ``output`` pass? Model-graded items raise ``scoring.NeedsGrader``."""
        return score(self.scorer, self.answers, output, choices=self.choices)

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON object of the item (also a valid ``items.jsonl`` line)."""
        data: dict[str, Any] = {
            "id": self.id,
            "input": self.input,
            "scorer": self.scorer.value,
            "domain": self.domain,
            "difficulty": self.difficulty,
        }
        if self.answers:  # only a model-graded item may have none (its rubric holds the key)
            data["answer"] = list(self.answers)
        if self.choices:
            data["choices"] = list(self.choices)
        if self.rubric is not None:
            data["rubric"] = self.rubric
        return data


@dataclass(frozen=True, repr=False)
class Manifest:
    name: str
    version: str
    classification: str
    description: str = ""

    def __repr__(self) -> str:
        return (
            f"Manifest(name={self.name!r}, version={self.version!r}, classification={self.classification!r})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "classification": self.classification,
            "description": self.description,
        }


@dataclass(frozen=True, repr=False)
class Rubric:
    """A grading rubric for ``model_graded`` items, named by its handle. Sealed: its repr shows nothing."""

    handle: str
    text: str

    def __repr__(self) -> str:
        return "Rubric(<sealed>)"

    def to_json(self) -> dict[str, Any]:
        return {"handle": self.handle, "text": self.text}


@dataclass(frozen=True, repr=False)
class PackSource:
    """A validated, unsealed pack as authored (items sorted by id, rubrics by handle)."""

    manifest: Manifest
    items: tuple[Item, ...]
    rubrics: tuple[Rubric, ...] = ()

    def __repr__(self) -> str:
        return f"PackSource(name={self.manifest.name!r}, version={self.manifest.version!r}, items=<sealed>)"


@dataclass(frozen=True)
class PackHeader:
    """The public header of a sealed pack: readable by anyone who holds the file."""

    format: int
    name: str
    version: str
    classification: str
    key_id: str
    pack_hash: str


@dataclass(frozen=True, repr=False)
class Pack:
    """An opened pack, in memory. Its repr shows the public header fields only."""

    header: PackHeader
    manifest: Manifest
    salt: bytes
    items: tuple[Item, ...]
    rubrics: tuple[Rubric, ...] = ()
    _by_id: dict[str, Item] = field(default_factory=dict, init=False, compare=False)
    _rubrics: dict[str, str] = field(default_factory=dict, init=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update((item.id, item) for item in self.items)
        self._rubrics.update((rubric.handle, rubric.text) for rubric in self.rubrics)

    def __repr__(self) -> str:
        return f"Pack(name={self.name!r}, version={self.version!r}, pack_hash={self.pack_hash[:16]}…)"

    def __len__(self) -> int:
        return len(self.items)

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def version(self) -> str:
        return self.header.version

    @property
    def pack_hash(self) -> str:
        return self.header.pack_hash

    def item(self, item_id: str) -> Item:
        found = self._by_id.get(item_id)
        if found is None:
            raise InvalidInput("no such item in this pack")
        return found

    def rubric(self, handle: str) -> str:
        """The sealed text of the rubric named ``handle`` (for the grader only)."""
        found = self._rubrics.get(handle)
        if found is None:
            raise InvalidInput("no such rubric in this pack")
        return found

    @property
    def model_graded(self) -> int:
        """How many items need a grader model."""
        return sum(1 for item in self.items if item.scorer is ScorerKind.MODEL_GRADED)

    def draw(self, n: int, *, seed: bytes | None = None) -> tuple[Item, ...]:
        """``n`` distinct items in a random order (sampling without replacement).

        With ``seed`` (at least 16 bytes, kept sealed with the run) the order is reproducible, so a
        retried job walks the same sequence; without, a fresh seed from ``secrets`` is used.
        """
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= len(self.items):
            raise InvalidInput("cannot draw that many items from this pack")
        if seed is None:
            seed = new_seed()
        if not isinstance(seed, bytes) or len(seed) < _MIN_SEED_BYTES:
            raise InvalidInput(f"a draw seed must be at least {_MIN_SEED_BYTES} bytes")
        stream = _Stream(seed, bytes.fromhex(self.pack_hash))
        order = list(range(len(self.items)))
        for i in range(n):  # Fisher-Yates, stopped after n places
            j = i + stream.below(len(order) - i)
            order[i], order[j] = order[j], order[i]
        return tuple(self.items[k] for k in order[:n])


def new_seed() -> bytes:
    """A fresh 256-bit draw seed (store it sealed with the run to be able to resume)."""
    return secrets.token_bytes(32)


class _Stream:
    """Deterministic uniform integers from HMAC-SHA256(seed, domain || pack hash || counter)."""

    def __init__(self, seed: bytes, pack_hash: bytes) -> None:
        self._seed = seed
        self._prefix = b"forewarn pack draw v1\n" + pack_hash
        self._counter = 0
        self._buffer = b""

    def _u64(self) -> int:
        if len(self._buffer) < 8:
            block = hmac.new(self._seed, self._prefix + self._counter.to_bytes(8, "big"), hashlib.sha256)
            self._buffer += block.digest()
            self._counter += 1
        value, self._buffer = int.from_bytes(self._buffer[:8], "big"), self._buffer[8:]
        return value

    def below(self, bound: int) -> int:
        limit = (1 << 64) - (1 << 64) % bound  # rejection keeps the choice exactly uniform
        while True:
            value = self._u64()
            if value < limit:
                return value % bound


# --- validation --------------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        if len(self.items) < _MAX_PROBLEMS:
            self.items.append(Problem(where, message))
        elif len(self.items) == _MAX_PROBLEMS:
            self.items.append(Problem("", "further problems not shown"))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, message: str) -> None:
        if self.items:
            raise InvalidInput(message, problems=self.items)


def _short_text(value: object, limit: int) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= limit and _text_ok(value)


def _text_ok(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON \ud800 escape
        return False
    return "\x00" not in value


def _string(
    data: Mapping[str, Any],
    key: str,
    where: str,
    problems: _Problems,
    *,
    limit: int,
    pattern: re.Pattern[str] | None = None,
    required: bool = True,
) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            problems.add(f"{where}{key}", "is required")
        return None
    if not isinstance(value, str):
        problems.add(f"{where}{key}", "must be a string")
        return None
    if not _text_ok(value):
        problems.add(f"{where}{key}", "contains invalid characters (NUL or a lone surrogate)")
        return None
    if len(value) > limit:
        problems.add(f"{where}{key}", f"is longer than {limit} characters")
        return None
    if pattern is not None and not pattern.fullmatch(value):
        problems.add(f"{where}{key}", f"must match {pattern.pattern}")
        return None
    if required and not value.strip():
        problems.add(f"{where}{key}", "must not be empty")
        return None
    return value


def _parse_item(data: object, where: str, problems: _Problems) -> Item | None:
    """``where`` prefixes each problem's field (``items.jsonl:12:`` or ``items[11].``)."""
    if not isinstance(data, dict):
        problems.add(where.rstrip(":."), "must be a JSON object")
        return None
    before = len(problems.items)
    unknown = len(set(data) - _ITEM_FIELDS)
    if unknown:
        # Keys are custodian-written text and may be sealed content put in the wrong place: count them,
        # never echo them.
        problems.add(
            f"{where}(fields)", f"{unknown} unknown field(s); allowed: {', '.join(sorted(_ITEM_FIELDS))}"
        )
    item_id = _string(data, "id", where, problems, limit=128, pattern=_ITEM_ID)
    text = _string(data, "input", where, problems, limit=MAX_INPUT_CHARS)
    domain = _string(data, "domain", where, problems, limit=64, pattern=_DOMAIN)

    raw_scorer = data.get("scorer")
    scorer: ScorerKind | None = None
    if raw_scorer is None:
        problems.add(f"{where}scorer", "is required")
    elif raw_scorer not in {kind.value for kind in ScorerKind}:
        problems.add(f"{where}scorer", "must be one of " + ", ".join(kind.value for kind in ScorerKind))
    else:
        scorer = ScorerKind(raw_scorer)

    difficulty = data.get("difficulty")
    if difficulty is None:
        problems.add(f"{where}difficulty", "is required")
    elif not isinstance(difficulty, int) or isinstance(difficulty, bool) or not 1 <= difficulty <= 5:
        problems.add(f"{where}difficulty", "must be an integer from 1 to 5")

    choices: tuple[str, ...] = ()
    raw_choices = data.get("choices")
    if raw_choices is not None:
        if not isinstance(raw_choices, list) or not 2 <= len(raw_choices) <= MAX_CHOICES:
            problems.add(f"{where}choices", f"must be a list of 2 to {MAX_CHOICES} strings")
        elif not all(_short_text(c, MAX_CHOICE_CHARS) for c in raw_choices):
            problems.add(f"{where}choices", f"each must be 1 to {MAX_CHOICE_CHARS} characters")
        elif len({normalize(c) for c in raw_choices}) != len(raw_choices):
            problems.add(f"{where}choices", "choices must differ from each other")
        else:
            choices = tuple(raw_choices)

    raw_answer = data.get("answer")
    answers: tuple[str, ...] = ()
    if raw_answer is not None:
        listed = [raw_answer] if isinstance(raw_answer, str) else raw_answer
        if not isinstance(listed, list) or not 1 <= len(listed) <= MAX_ANSWERS:
            problems.add(f"{where}answer", f"must be a string or a list of 1 to {MAX_ANSWERS} strings")
        elif not all(_short_text(a, MAX_ANSWER_CHARS) for a in listed):
            problems.add(f"{where}answer", f"each must be 1 to {MAX_ANSWER_CHARS} characters")
        else:
            answers = tuple(listed)

    rubric = _string(data, "rubric", where, problems, limit=128, pattern=_RUBRIC, required=False)

    if scorer is ScorerKind.CHOICE:
        if raw_choices is None:
            problems.add(f"{where}choices", "are required by the choice scorer")
        if raw_answer is None:
            problems.add(f"{where}answer", "is required")
        elif answers and choices:
            valid = LETTERS[: len(choices)]
            if not all(len(a) == 1 and a in valid for a in answers):
                problems.add(f"{where}answer", "must be the upper-case letter(s) of a choice")
    elif scorer is not None and raw_choices is not None:
        problems.add(f"{where}choices", "are only allowed with the choice scorer")
    if scorer in {ScorerKind.EXACT, ScorerKind.INCLUDES}:
        if raw_answer is None:
            problems.add(f"{where}answer", "is required")
        elif answers and not all(normalize(a) for a in answers):
            problems.add(f"{where}answer", "an answer is empty after normalisation")
    if scorer is ScorerKind.PATTERN:
        if raw_answer is None:
            problems.add(f"{where}answer", "is required (the accepted patterns)")
        for index, pattern in enumerate(answers):
            reason = check_pattern(pattern)
            if reason is not None:
                problems.add(f"{where}answer[{index}]", f"pattern {reason}")
    if scorer is ScorerKind.MODEL_GRADED:
        if rubric is None and "rubric" not in data:
            problems.add(f"{where}rubric", "is required by the model_graded scorer (a rubric handle)")
    elif rubric is not None:
        problems.add(f"{where}rubric", "is only allowed with the model_graded scorer")

    if len(problems.items) != before or item_id is None or text is None or domain is None:
        return None
    if scorer is None or not isinstance(difficulty, int):  # pragma: no cover - reported above
        return None
    return Item(
        id=item_id,
        input=text,
        answers=answers,
        scorer=scorer,
        domain=domain,
        difficulty=difficulty,
        choices=choices,
        rubric=rubric,
    )


def _parse_rubric(data: object, where: str, problems: _Problems) -> Rubric | None:
    """One rubric (``{"handle": …, "text": …}``); ``where`` prefixes each problem's field."""
    if not isinstance(data, dict):
        problems.add(where.rstrip(":."), "must be a JSON object")
        return None
    before = len(problems.items)
    unknown = len(set(data) - _RUBRIC_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(_RUBRIC_FIELDS))
        problems.add(f"{where}(fields)", f"{unknown} unknown field(s); allowed: {allowed}")
    handle = _string(data, "handle", where, problems, limit=128, pattern=_RUBRIC)
    text = _string(data, "text", where, problems, limit=MAX_RUBRIC_CHARS)
    if len(problems.items) != before or handle is None or text is None:
        return None
    return Rubric(handle=handle, text=text)


def _check_handles(
    items: Iterable[tuple[str, Item]], rubrics: Iterable[Rubric], rubrics_label: str, problems: _Problems
) -> None:
    """Every ``model_graded`` item's handle names a rubric of the pack (``items``: (where, item))."""
    handles = {rubric.handle for rubric in rubrics}
    for where, item in items:
        if item.scorer is ScorerKind.MODEL_GRADED and item.rubric not in handles:
            problems.add(f"{where}rubric", f"names no rubric in {rubrics_label}")


def _parse_manifest(data: object, where: str, problems: _Problems) -> Manifest | None:
    if not isinstance(data, dict):
        problems.add(where.rstrip(":."), "must be a table / object")
        return None
    before = len(problems.items)
    unknown = len(set(data) - _MANIFEST_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(_MANIFEST_FIELDS))
        problems.add(f"{where}(fields)", f"{unknown} unknown field(s); allowed: {allowed}")
    fmt = data.get("format")
    if fmt is None:
        problems.add(f"{where}format", "is required")
    elif fmt != FORMAT or isinstance(fmt, bool):
        problems.add(f"{where}format", f"must be {FORMAT}")
    name = _string(data, "name", where, problems, limit=64, pattern=_NAME)
    version = _string(data, "version", where, problems, limit=32, pattern=_VERSION)
    marking = _string(data, "classification", where, problems, limit=128, pattern=_MARKING)
    description = _string(data, "description", where, problems, limit=MAX_DESCRIPTION_CHARS, required=False)
    if len(problems.items) != before or name is None or version is None or marking is None:
        return None
    return Manifest(name=name, version=version, classification=marking, description=description or "")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError("duplicate key")
        result[key] = value
    return result


def _no_constants(_: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


_INVALID = object()


def _load_json(text: str | bytes) -> object:
    """Strict JSON (no duplicate keys, no NaN); ``_INVALID`` on any error, with nothing attached."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return _INVALID


def _read_limited(path: Path, limit: int, label: str) -> bytes:
    if not path.is_file():
        raise InvalidInput("pack directory is incomplete", problems=[Problem(label, "is missing")])
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLarge("pack file is too large", problems=[Problem(label, f"is larger than {limit} bytes")])
    return data


def _line_problem_free(problems: _Problems) -> bool:
    return len(problems.items) < _MAX_PROBLEMS


def read_directory(directory: Path) -> PackSource:
    """Read and validate a pack directory; raises ``InvalidInput`` naming file, line and field."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InvalidInput("not a pack directory", problems=[Problem(str(directory), "is not a directory")])
    problems = _Problems()

    manifest_bytes = _read_limited(directory / MANIFEST_FILE, MAX_MANIFEST_BYTES, MANIFEST_FILE)
    manifest: Manifest | None = None
    manifest_text = _decode_utf8(manifest_bytes, MANIFEST_FILE, problems)
    if manifest_text is not None:
        loaded, error = _load_toml(manifest_text)
        if error is not None:
            problems.add(MANIFEST_FILE, error)
        else:
            manifest = _parse_manifest(loaded, f"{MANIFEST_FILE}:", problems)

    items_bytes = _read_limited(directory / ITEMS_FILE, MAX_ITEMS_FILE_BYTES, ITEMS_FILE)
    items: list[Item] = []
    seen: dict[str, int] = {}
    items_text = _decode_utf8(items_bytes, ITEMS_FILE, problems)
    if items_text is not None:
        items, seen = _parse_lines(
            items_text,
            ITEMS_FILE,
            problems,
            parse=_parse_item,
            key=lambda item: item.id,
            key_field="id",
            most=MAX_ITEMS,
            noun="items",
        )
        if not items and not problems:
            problems.add(ITEMS_FILE, "holds no items")
    rubrics = _read_rubrics(directory, problems)
    _check_handles(
        ((f"{ITEMS_FILE}:{seen[item.id]}:", item) for item in items), rubrics, RUBRICS_FILE, problems
    )
    problems.raise_if_any("pack directory is invalid")
    if manifest is None:  # pragma: no cover - every path to None records a problem
        raise InvalidInput("pack directory is invalid")
    return PackSource(
        manifest=manifest,
        items=tuple(sorted(items, key=lambda item: item.id)),
        rubrics=tuple(sorted(rubrics, key=lambda rubric: rubric.handle)),
    )


def _read_rubrics(directory: Path, problems: _Problems) -> list[Rubric]:
    """The optional ``rubrics.jsonl``: one ``{"handle", "text"}`` object per line."""
    if not (directory / RUBRICS_FILE).exists():
        return []
    data = _read_limited(directory / RUBRICS_FILE, MAX_RUBRICS_FILE_BYTES, RUBRICS_FILE)
    text = _decode_utf8(data, RUBRICS_FILE, problems)
    if text is None:
        return []
    rubrics, _ = _parse_lines(
        text,
        RUBRICS_FILE,
        problems,
        parse=_parse_rubric,
        key=lambda rubric: rubric.handle,
        key_field="handle",
        most=MAX_RUBRICS,
        noun="rubrics",
    )
    return rubrics


def _parse_lines(
    text: str,
    file: str,
    problems: _Problems,
    *,
    parse: Callable[[object, str, _Problems], _Record | None],
    key: Callable[[_Record], str],
    key_field: str,
    most: int,
    noun: str,
) -> tuple[list[_Record], dict[str, int]]:
    """A JSON Lines file: one object a line (blank lines skipped), each ``key_field`` once, at most
    ``most`` records. Returns the records and the line number of each key; problems name file and line."""
    records: list[_Record] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not _line_problem_free(problems):
            break
        if not line.strip():
            continue
        where = f"{file}:{number}"
        if len(line.encode("utf-8")) > MAX_LINE_BYTES:
            problems.add(where, f"line is longer than {MAX_LINE_BYTES} bytes")
            continue
        loaded = _load_json(line)
        if loaded is _INVALID:
            problems.add(where, "is not valid JSON (or repeats a key, or uses NaN/Infinity)")
            continue
        record = parse(loaded, f"{where}:", problems)
        if record is None:
            continue
        if (name := key(record)) in seen:
            problems.add(f"{where}:{key_field}", f"repeats the {key_field} of line {seen[name]}")
            continue
        seen[name] = number
        records.append(record)
        if len(records) > most:
            problems.add(file, f"holds more than {most} {noun}")
            break
    return records, seen


def _parse_each(
    raw: list[object],
    name: str,
    parse: Callable[[object, str, _Problems], _Record | None],
    problems: _Problems,
) -> list[_Record]:
    """The records of a list in a pack body; problems name ``name[index].field``."""
    records: list[_Record] = []
    for index, value in enumerate(raw):
        if not _line_problem_free(problems):
            break
        record = parse(value, f"{name}[{index}].", problems)
        if record is not None:
            records.append(record)
    return records


def _decode_utf8(data: bytes, label: str, problems: _Problems) -> str | None:
    position = -1
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        position = error.start
    if position >= 0:
        problems.add(label, f"is not UTF-8 (byte {position})")
        return None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def _load_toml(text: str) -> tuple[object, str | None]:
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as error:
        where = re.search(r"\(at line \d+, column \d+\)", str(error))
        message = "is not valid TOML" + (f" {where.group(0)}" if where else "")
    return None, message


# --- sealing -----------------------------------------------------------------------------------


def _canonical(source: PackSource, salt: bytes) -> bytes:
    body: dict[str, Any] = {
        "kind": KIND,
        "format": FORMAT,
        "salt": salt.hex(),
        "manifest": source.manifest.to_json(),
        "items": [item.to_json() for item in source.items],
    }
    if source.rubrics:  # absent when there are none: packs without rubrics keep their format and hash
        body["rubrics"] = [rubric.to_json() for rubric in source.rubrics]
    return bytes(rfc8785.dumps(body))


def _prefix(header: PackHeader) -> bytes:
    encoded = bytes(
        rfc8785.dumps(
            {
                "format": header.format,
                "name": header.name,
                "version": header.version,
                "classification": header.classification,
                "key_id": header.key_id,
                "pack_hash": header.pack_hash,
            }
        )
    )
    return MAGIC + len(encoded).to_bytes(4, "big") + encoded


def _pad(body: bytes) -> bytes:
    framed = len(body).to_bytes(8, "big") + body
    return framed + b"\x00" * (-len(framed) % PAD_BLOCK)


def seal(source: PackSource, key: DataKey, *, salt: bytes | None = None) -> bytes:
    """The sealed file for ``source`` under ``key``. ``salt`` (32 bytes) is fresh unless given."""
    if salt is None:
        salt = secrets.token_bytes(_SALT_BYTES)
    if not isinstance(salt, bytes) or len(salt) != _SALT_BYTES:
        raise InvalidInput(f"a pack salt must be {_SALT_BYTES} bytes")
    body = _canonical(source, salt)
    header = PackHeader(
        format=FORMAT,
        name=source.manifest.name,
        version=source.manifest.version,
        classification=source.manifest.classification,
        key_id=key.key_id,
        pack_hash=hashlib.sha256(body).hexdigest(),
    )
    prefix = _prefix(header)
    sealed = prefix + key.seal(_pad(body), aad=prefix)
    if len(sealed) > MAX_SEALED_BYTES:  # pragma: no cover - the directory limits keep it smaller
        raise TooLarge("the sealed pack would be too large")
    return sealed


def build(directory: Path, key: DataKey, *, salt: bytes | None = None) -> bytes:
    """Validate a pack directory and seal it under ``key`` (see :func:`read_directory`, :func:`seal`)."""
    return seal(read_directory(directory), key, salt=salt)


def _split(blob: bytes) -> tuple[PackHeader, bytes, bytes]:
    if not isinstance(blob, bytes):
        raise InvalidInput("a sealed pack is bytes")
    if len(blob) > MAX_SEALED_BYTES:
        raise TooLarge("sealed pack is too large")
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 4:
        raise InvalidInput("not a forewarn sealed pack")
    size = int.from_bytes(blob[len(MAGIC) : len(MAGIC) + 4], "big")
    start = len(MAGIC) + 4
    if size > MAX_HEADER_BYTES or len(blob) < start + size:
        raise InvalidInput("sealed pack header is malformed")
    encoded = blob[start : start + size]
    data = _load_json(encoded)
    problems = _Problems()
    header: PackHeader | None = None
    if not isinstance(data, dict) or set(data) != _HEADER_FIELDS:
        problems.add("header", "has missing or unknown fields")
    elif data["format"] != FORMAT or isinstance(data["format"], bool):
        problems.add("header.format", f"must be {FORMAT} (this forewarn reads pack format {FORMAT})")
    else:
        name = _string(data, "name", "header.", problems, limit=64, pattern=_NAME)
        version = _string(data, "version", "header.", problems, limit=32, pattern=_VERSION)
        marking = _string(data, "classification", "header.", problems, limit=128, pattern=_MARKING)
        key_id = _string(data, "key_id", "header.", problems, limit=16, pattern=_KEY_ID)
        pack_hash = _string(data, "pack_hash", "header.", problems, limit=64, pattern=_HEX64)
        if name and version and marking and key_id and pack_hash:
            header = PackHeader(FORMAT, name, version, marking, key_id, pack_hash)
    problems.raise_if_any("sealed pack header is invalid")
    if header is None:  # pragma: no cover - every path to None records a problem
        raise InvalidInput("sealed pack header is invalid")
    if _prefix(header)[len(MAGIC) + 4 :] != encoded:
        raise InvalidInput("sealed pack header is not in canonical form")
    return header, blob[: start + size], blob[start + size :]


def read_header(blob: bytes) -> PackHeader:
    """The public header of a sealed pack, without a key (not authenticated until opened)."""
    return _split(blob)[0]


def _source_from_body(body: bytes) -> tuple[PackSource, bytes]:
    data = _load_json(body)
    if not isinstance(data, dict):
        raise InvalidInput("pack body is not a JSON object")
    if set(data) - {"rubrics"} != {"kind", "format", "salt", "manifest", "items"} or data["kind"] != KIND:
        raise InvalidInput("pack body has missing or unknown fields")
    if data["format"] != FORMAT or isinstance(data["format"], bool):
        raise InvalidInput("pack body has an unknown format")
    salt_hex = data["salt"]
    if not isinstance(salt_hex, str) or not _HEX64.fullmatch(salt_hex):
        raise InvalidInput("pack body has a malformed salt")
    problems = _Problems()
    manifest = _parse_manifest(data["manifest"], "manifest.", problems)
    raw_items = data["items"]
    if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= MAX_ITEMS:
        problems.add("items", f"must be a list of 1 to {MAX_ITEMS} items")
        raw_items = []
    items = _parse_each(raw_items, "items", _parse_item, problems)
    ids = [item.id for item in items]
    if not problems and ids != sorted(set(ids)):
        problems.add("items", "must be sorted by id, without repeats")
    raw_rubrics = data.get("rubrics", [])
    if not isinstance(raw_rubrics, list) or len(raw_rubrics) > MAX_RUBRICS:
        problems.add("rubrics", f"must be a list of at most {MAX_RUBRICS} rubrics")
        raw_rubrics = []
    rubrics = _parse_each(raw_rubrics, "rubrics", _parse_rubric, problems)
    handles = [rubric.handle for rubric in rubrics]
    if not problems and handles != sorted(set(handles)):
        problems.add("rubrics", "must be sorted by handle, without repeats")
    _check_handles(((f"items[{i}].", item) for i, item in enumerate(items)), rubrics, "the pack", problems)
    problems.raise_if_any("pack body is invalid")
    if manifest is None:  # pragma: no cover - every path to None records a problem
        raise InvalidInput("pack body is invalid")
    source = PackSource(manifest=manifest, items=tuple(items), rubrics=tuple(rubrics))
    return source, bytes.fromhex(salt_hex)


def _checked_body(body: bytes, pack_hash: str) -> tuple[PackSource, bytes]:
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), pack_hash):
        raise InvalidInput("pack body does not match its hash")
    source, salt = _source_from_body(body)
    if _canonical(source, salt) != body:
        raise InvalidInput("pack body is not in canonical form")
    return source, salt


def open_pack(blob: bytes, key: DataKey) -> Pack:
    """Authenticate, decrypt and validate a sealed pack, in memory."""
    header, prefix, sealed = _split(blob)
    if not hmac.compare_digest(header.key_id, key.key_id):
        raise InvalidInput(
            "the pack is sealed under another key",
            problems=[Problem("key_id", f"this pack needs the data key {header.key_id}")],
        )
    plaintext = key.open(sealed, aad=prefix)
    if len(plaintext) < 8 or len(plaintext) % PAD_BLOCK:
        raise InvalidInput("pack plaintext is malformed")
    size = int.from_bytes(plaintext[:8], "big")
    if size > len(plaintext) - 8 or any(plaintext[8 + size :]):
        raise InvalidInput("pack plaintext is malformed")
    source, salt = _checked_body(plaintext[8 : 8 + size], header.pack_hash)
    manifest = source.manifest
    if (manifest.name, manifest.version, manifest.classification) != (
        header.name,
        header.version,
        header.classification,
    ):
        raise InvalidInput("pack header does not match its sealed manifest")
    return Pack(header=header, manifest=manifest, salt=salt, items=source.items, rubrics=source.rubrics)


def reseal(blob: bytes, old_key: DataKey, new_key: DataKey) -> bytes:
    """The same pack (same body, salt and hash) sealed under ``new_key`` (key rotation)."""
    pack = open_pack(blob, old_key)
    return seal(
        PackSource(manifest=pack.manifest, items=pack.items, rubrics=pack.rubrics), new_key, salt=pack.salt
    )


def disclosure(pack: Pack) -> bytes:
    """The canonical body of ``pack``: what a custodian publishes to disclose it.

    Its SHA-256 is ``pack.pack_hash``, which the ledger and attestations carry.
    """
    return _canonical(PackSource(manifest=pack.manifest, items=pack.items, rubrics=pack.rubrics), pack.salt)


def check_disclosure(data: bytes, pack_hash: str) -> PackSource:
    """Check that disclosed bytes are the canonical body of the pack with ``pack_hash``."""
    if not isinstance(pack_hash, str) or not _HEX64.fullmatch(pack_hash):
        raise InvalidInput("a pack hash is 64 lower-case hex digits")
    return _checked_body(data, pack_hash)[0]


def write_directory(
    source: PackSource | Iterable[Item], directory: Path, *, manifest: Manifest | None = None
) -> Path:
    """Write a pack as an authoring directory (``pack.toml`` + ``items.jsonl``); returns the directory."""
    rubrics: list[Rubric] = []
    if isinstance(source, PackSource):
        manifest, items, rubrics = source.manifest, list(source.items), list(source.rubrics)
    else:
        items = list(source)
    if manifest is None:
        raise InvalidInput("a manifest is required")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        f"format = {FORMAT}",
        f"name = {_toml_string(manifest.name)}",
        f"version = {_toml_string(manifest.version)}",
        f"classification = {_toml_string(manifest.classification)}",
        f"description = {_toml_string(manifest.description)}",
    ]
    (directory / MANIFEST_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (directory / ITEMS_FILE).open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
    if rubrics:
        with (directory / RUBRICS_FILE).open("w", encoding="utf-8") as fh:
            for rubric in rubrics:
                fh.write(json.dumps(rubric.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
    return directory


def _toml_string(value: str) -> str:
    # JSON string escapes are valid TOML basic-string escapes for everything json.dumps emits.
    return json.dumps(value, ensure_ascii=True)
