"""The compiled schema check answers exactly what jsonschema answers: on public records, on every
mutation of a rich record, on generated documents; and it refuses keywords it does not implement."""

from __future__ import annotations

import copy
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from forewarn.clearinghouse.advisories._fastschema import UnsupportedSchema, compile_schema
from forewarn.clearinghouse.advisories.osv import osv_schema

from .conftest import osv_doc

OSV_DIR = Path(__file__).resolve().parents[4] / "shared" / "testdata" / "osv"
FAST = compile_schema(osv_schema())
REFERENCE = Draft202012Validator(osv_schema())


def rich() -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    from advisories import record  # the benchmark's realistic generator

    doc = record(3, random.Random(3), "PyPI")
    doc["withdrawn"] = "2026-01-01T00:00:00Z"
    doc["related"] = ["CVE-2020-1"]
    doc["affected"].append(
        {
            "package": {"ecosystem": "GIT", "name": "x"},
            "ranges": [{"type": "GIT", "repo": "https://example.org/r", "events": [{"introduced": "0"}]}],
        }
    )
    return doc


def same(doc: Any) -> None:
    assert FAST(doc) == REFERENCE.is_valid(doc), json.dumps(doc)[:500]


def test_public_and_generated_records() -> None:
    docs = [json.loads(p.read_text()) for p in sorted(OSV_DIR.glob("*.json")) if p.name != "schema.json"]
    docs += [osv_doc(), rich()]
    for doc in docs:
        same(doc)
        assert FAST(doc)


_ODD = [
    None,
    True,
    0,
    1.5,
    -3,
    "",
    "x",
    "CVE-2020-1",
    "not a time",
    "2026-01-01T00:00:00Z",
    [],
    [{}],
    {},
    {"a": 1},
    "GHSA-aaaa-bbbb-cccc",
    "PyPI",
    "SEMVER",
    "introduced",
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += paths(v, (*prefix, i))
    return found


def test_every_single_mutation_of_a_rich_record() -> None:
    base = rich()
    for path in paths(base)[1:]:
        for replacement in [*_ODD, "__delete__"]:
            doc = copy.deepcopy(base)
            node = doc
            for part in path[:-1]:
                node = node[part]
            if replacement == "__delete__":
                del node[path[-1]]
            else:
                node[path[-1]] = replacement
            same(doc)
    for key in ["extra", "schema_version", "database_specific"]:
        doc = copy.deepcopy(base)
        doc["affected"][0][key] = {"z": 1}
        same(doc)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([*_ODD[5:9], "1.0.0", "0", "ECOSYSTEM", "GIT", "fixed", "CVSS_V3", "WEB"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "modified",
                    "type",
                    "events",
                    "introduced",
                    "fixed",
                    "ecosystem",
                    "name",
                    "ranges",
                    "package",
                    "score",
                    "url",
                    "repo",
                    "limit",
                    "last_affected",
                    "versions",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    extra=st.dictionaries(
        st.sampled_from(
            [
                "affected",
                "severity",
                "references",
                "credits",
                "aliases",
                "id",
                "modified",
                "published",
                "summary",
                "database_specific",
            ]
        ),
        json_values,
        max_size=3,
    )
)
def test_generated_documents(extra: dict[str, Any]) -> None:
    doc = osv_doc()
    doc.update(extra)
    same(doc)


def test_unknown_keywords_are_refused() -> None:
    with pytest.raises(UnsupportedSchema):
        compile_schema({"type": "object", "patternProperties": {"^x": {}}, "additionalProperties": False})
    with pytest.raises(UnsupportedSchema):
        compile_schema({"uniqueItems": True})
    with pytest.raises(UnsupportedSchema):
        compile_schema({"$schema": "http://json-schema.org/draft-07/schema#"})
    check = compile_schema({"enum": [1, "a"], "not": {"const": True}})
    assert check(1.0) and check("a") and not check(True) and not check(2)
