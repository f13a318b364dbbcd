"""The remediation digest (CSAF §9.1.17: a revision that does not change what to do is not news) is
what it always was: SHA-256 of the JSON payload ``json.dumps`` writes with sorted keys, so digests
stored before stay comparable with digests computed now."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from forewarn.clearinghouse.advisories.osv import from_osv
from forewarn.clearinghouse.advisories.schemas import Advisory, Remediation, RemediationCategory
from forewarn.clearinghouse.matching import service


def reference(advisory: Advisory, fixed: tuple[str, ...]) -> str:
    payload = {
        "fixed": list(fixed),
        "remediations": [
            {"category": r.category.value, "details": r.details, "url": r.url} for r in advisory.remediations
        ],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def advisory(remediations: list[dict[str, Any]]) -> Advisory:
    base = from_osv(
        {
            "schema_version": "1.7.4",
            "id": "GHSA-digest",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [{"package": {"ecosystem": "PyPI", "name": "a"}, "versions": ["1.0"]}],
        }
    )
    return base.model_copy(update={"remediations": tuple(Remediation(**r) for r in remediations)})


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)


@settings(max_examples=200, deadline=None)
@given(
    fixed=st.lists(_TEXT.filter(bool), max_size=3).map(tuple),
    remediations=st.lists(
        st.fixed_dictionaries(
            {"category": st.sampled_from(list(RemediationCategory)), "details": _TEXT.filter(str.strip)},
            optional={"url": st.just("https://example.org/fix?a=1&b=\u00e9")},
        ),
        max_size=3,
    ),
)
def test_the_digest_is_unchanged(fixed: tuple[str, ...], remediations: list[dict[str, Any]]) -> None:
    service._REMEDIATIONS.clear()
    made = advisory(remediations)
    assert service._remediation(made, fixed) == reference(made, fixed)
    assert service._remediation(made, fixed) == reference(made, fixed)  # from the per-advisory cache
