"""The compiled CycloneDX schema check answers exactly what the jsonschema validator answers: on the
public SBOMs and forewarn's fixtures (as 1.4, 1.5 and 1.6), on many mutations of each, and on
generated documents; it refuses what it does not implement; and problems are still named."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.validators import Draft7Validator
from tests.conftest import TESTDATA

from forewarn.clearinghouse.inventory import sbom
from forewarn.clearinghouse.inventory._cdxschema import UnsupportedSchema, compile_cyclonedx

FIXTURES = Path(__file__).parent / "fixtures"
VERSIONS = ("1.4", "1.5", "1.6")


def fast(spec: str) -> Any:
    check = sbom._cyclonedx_check(spec)
    assert check is not None, f"the CycloneDX {spec} schema no longer compiles"
    return check


def same(doc: Any, spec: str) -> bool:
    reference = sbom._cyclonedx_validator(spec).is_valid(doc)
    assert fast(spec)(doc) == reference, (spec, json.dumps(doc)[:600])
    return bool(reference)


def documents() -> list[dict[str, Any]]:
    paths = [
        *sorted((TESTDATA / "cyclonedx").glob("valid-*.json")),
        FIXTURES / "debian-1.6.json",
        FIXTURES / "nested-1.5.json",
    ]
    docs = [json.loads(p.read_text()) for p in paths if p.exists()]
    if len(docs) < 3:
        pytest.skip("public CycloneDX test data not present")
    return docs


_ODD: list[Any] = [None, True, 0, 1.0, -1, 2.5, "", "x", "2026-13-45", "not an email", [], [1], {}, {"a": 1}]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


def _mutations(doc: dict[str, Any], rng: random.Random) -> Iterator[Any]:
    """Every place replaced by odd values (a sample), deleted, extended and duplicated."""
    for path in list(_paths(doc)):
        if not path:
            continue
        *parent_path, last = path
        for choice in rng.sample(_ODD, 3):
            mutated = copy.deepcopy(doc)
            parent: Any = mutated
            for part in parent_path:
                parent = parent[part]
            parent[last] = copy.deepcopy(choice)
            yield mutated
        mutated = copy.deepcopy(doc)
        parent = mutated
        for part in parent_path:
            parent = parent[part]
        if isinstance(parent, dict):
            del parent[last]
            yield mutated
            extended = copy.deepcopy(doc)
            target: Any = extended
            for part in parent_path:
                target = target[part]
            target["x-unknown"] = 1
            yield extended
        else:
            parent.append(copy.deepcopy(parent[last]))  # uniqueItems
            yield mutated


def test_public_sboms_and_fixtures_in_every_version() -> None:
    for doc in documents():
        for spec in VERSIONS:
            as_spec = dict(doc, specVersion=spec)
            same(as_spec, spec)
        assert same(doc, doc["specVersion"]), "a public valid SBOM is valid"


def test_mutations_agree() -> None:
    rng = random.Random(6)
    verdicts = {True: 0, False: 0}
    for doc in documents():
        for mutated in _mutations(doc, rng):
            verdicts[same(mutated, doc["specVersion"])] += 1
    # The corpus exercises both answers, many times.
    assert verdicts[True] > 50
    assert verdicts[False] > 50


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["library", "application", "MIT", "sha-256", "SHA-256", "required", "pkg:pypi/x@1"]),
    st.text(max_size=4),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(
        st.sampled_from(["type", "name", "version", "purl", "licenses", "license", "id", "hashes", "alg",
                         "content", "scope", "components", "bom-ref", "expression", "signature"]),
        inner,
        max_size=4,
    ),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(components=st.lists(_JSON, max_size=3), spec=st.sampled_from(VERSIONS))
def test_generated_documents_agree(components: list[Any], spec: str) -> None:
    same({"bomFormat": "CycloneDX", "specVersion": spec, "version": 1, "components": components}, spec)


def test_unknown_keywords_and_references_are_refused() -> None:
    base = {"$schema": "http://json-schema.org/draft-07/schema#"}
    for schema in (
        {**base, "properties": {"a": {"multipleOf": 2}}},
        {**base, "patternProperties": {"^x": {}}},
        {**base, "additionalProperties": False, "patternProperties": {"^x": {}}},
        {**base, "$ref": "other.schema.json#/definitions/a"},
        {**base, "items": {"contains": {}}},
    ):
        with pytest.raises(UnsupportedSchema):
            compile_cyclonedx("root", {"root": schema}, conforms=Draft7Validator.FORMAT_CHECKER.conforms)
    with pytest.raises(UnsupportedSchema):
        compile_cyclonedx(
            "root",
            {"root": {"$schema": "https://json-schema.org/draft/2020-12/schema"}},
            conforms=lambda v, f: True,
        )


def test_ref_hides_its_siblings_as_draft_7_says() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"s": {"type": "string"}},
        "properties": {"a": {"$ref": "#/definitions/s", "minLength": 5}},
    }
    check = compile_cyclonedx("root", {"root": schema}, conforms=Draft7Validator.FORMAT_CHECKER.conforms)
    reference = Draft7Validator(schema)
    for doc in ({"a": "ab"}, {"a": 1}, {"a": "abcdef"}):
        assert check(doc) == reference.is_valid(doc)
    assert check({"a": "ab"})


def test_problems_are_still_named() -> None:
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "components": [{"type": "library", "name": "a", "hashes": [{"alg": "SHA-256", "content": "zz"}]}],
    }
    problems = sbom.cyclonedx_schema_problems(json.dumps(doc), "1.6", doc=doc)
    assert problems
    assert problems[0].field.startswith("/components/0/hashes/0")


def test_unique_items_compare_canonical_texts() -> None:
    base = {"type": "library", "name": "a", "version": "1"}
    reordered = {"version": "1", "name": "a", "type": "library"}
    for components, unique in (
        ([base, reordered], False),  # the same object, its keys in another order
        ([base, dict(base, name="b")], True),
        ([base, dict(base, version="1.0")], True),
    ):
        doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": components}
        assert same(doc, "1.6") is unique
    for dependencies, unique in (
        ([{"ref": "a"}, {"ref": "a", "dependsOn": []}], True),
        ([{"ref": "a"}] * 2, False),
    ):
        doc = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "dependencies": dependencies}
        assert same(doc, "1.6") is unique
