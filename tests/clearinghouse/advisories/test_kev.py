"""CISA KEV catalogue: reading it, refusing a bad one by path, and flagging advisories by CVE alias."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from forewarn.clearinghouse.advisories import kev
from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def catalogue() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / "kev-snippet.json").read_text())
    return doc


def test_the_catalogue_is_read_by_cve() -> None:
    cat = kev.loads_kev((FIXTURES / "kev-snippet.json").read_bytes())
    assert len(cat) == 3 and cat.catalog_version == "2024.06.03"
    log4shell = cat.get("CVE-2021-44228")
    assert log4shell is not None
    assert (log4shell.vendor_project, log4shell.date_added, log4shell.due_date) == (
        "Apache",
        date(2021, 12, 10),
        date(2021, 12, 24),
    )
    assert log4shell.known_ransomware_campaign_use is kev.RansomwareUse.KNOWN
    assert log4shell.cwes == ("CWE-20", "CWE-400", "CWE-502")
    assert "CVE-2019-10746" in cat and "CVE-2000-0001" not in cat


def test_advisories_are_flagged_by_their_id_or_a_cve_alias() -> None:
    cat = kev.from_kev(catalogue())
    by_alias = s.Advisory(id="GHSA-fhjf-83wg-r2j9", aliases=("CVE-2019-10746",), modified=NOW)
    by_id = s.Advisory(id="CVE-2021-44228", modified=NOW)
    upstream_only = s.Advisory(id="DSA-5022-1", upstream=("CVE-2021-44228",), modified=NOW)
    unrelated = s.Advisory(id="GHSA-aaaa-bbbb-cccc", aliases=("CVE-2020-0001",), modified=NOW)
    flagged = kev.known_exploited([by_alias, by_id, upstream_only, unrelated], cat)
    assert {k: [e.cve_id for e in v] for k, v in flagged.items()} == {
        "GHSA-fhjf-83wg-r2j9": ["CVE-2019-10746"],
        "CVE-2021-44228": ["CVE-2021-44228"],
    }
    with_upstream = kev.known_exploited([upstream_only], cat, include_upstream=True)
    assert [e.cve_id for e in with_upstream["DSA-5022-1"]] == ["CVE-2021-44228"]


def test_an_advisory_with_two_exploited_aliases_lists_both() -> None:
    cat = kev.from_kev(catalogue())
    merged = s.merge_aliases(
        s.Advisory(id="OSV-2024-1", aliases=("CVE-2021-44228",), modified=NOW),
        s.Advisory(id="GHSA-x", aliases=("CVE-2019-10746",), modified=NOW),
    )
    assert [e.cve_id for e in kev.kev_entries_for(merged, cat)] == ["CVE-2021-44228", "CVE-2019-10746"]


def edited(index: int, key: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(catalogue())
    doc["vulnerabilities"][index][key] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "path", "needle"),
    [
        (edited(1, "cveID", "CVE-2021-44228"), "/vulnerabilities/1/cveID", "listed twice"),
        (edited(0, "cveID", "cve-2021-44228"), "/vulnerabilities/0/cveID", "should match pattern"),
        (edited(2, "dateAdded", "15/01/2024"), "/vulnerabilities/2/dateAdded", "valid date"),
        (
            edited(0, "knownRansomwareCampaignUse", "Maybe"),
            "/vulnerabilities/0/knownRansomwareCampaignUse",
            "'Known' or 'Unknown'",
        ),
        ({"vulnerabilities": {"cveID": "CVE-2021-44228"}}, "/vulnerabilities", "expected an array"),
        ({"title": "no entries"}, "/vulnerabilities", "expected an array"),
    ],
)
def test_a_bad_catalogue_is_refused_whole_naming_the_path(
    doc: dict[str, Any], path: str, needle: str
) -> None:
    with pytest.raises(InvalidAdvisory) as info:
        kev.from_kev(doc)
    problems = [(p.field, p.message) for p in info.value.problems]
    assert any(p == path and needle in m for p, m in problems), problems


def test_the_catalogue_size_is_limited() -> None:
    doc: dict[str, Any] = {"vulnerabilities": [{}] * (kev.MAX_KEV_ENTRIES + 1)}
    with pytest.raises(InvalidAdvisory, match="exceeds a limit"):
        kev.from_kev(doc)
