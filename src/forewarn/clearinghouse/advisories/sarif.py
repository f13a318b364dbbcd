"""SARIF 2.1.0 (OASIS, code scanners' output) → candidate advisories, one per rule that failed.

SARIF reports findings of static analysers (CodeQL, Semgrep, Bandit, ...): ``runs[]`` of a
``tool.driver`` with ``rules[]`` and ``results[]``. forewarn reads the part it uses, strictly, and
turns each rule with at least one failing result (``kind`` "fail", ``level`` "error" or "warning",
not suppressed, not ``baselineState`` "absent") into one advisory for an analyst to triage.

Invariants:

- the document is bounded, strict JSON (:func:`.jsondoc.parse_json`); ``version`` is ``2.1.0``;
- every field read is type-checked and a wrong one is reported at its JSON Pointer;
- results are grouped by ``(run, ruleId)``; each advisory lists at most
  :data:`MAX_LOCATIONS` locations in its details and counts the rest;
- the advisory id is derived from the document's hash and the rule, so a re-sent scan maps to
  the same ids; code snippets (``region.snippet``) are never copied (they may hold secrets).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory, Problem, problems_from

__all__ = ["MAX_LOCATIONS", "from_sarif", "is_sarif"]

MAX_LOCATIONS = 50
MAX_RESULTS = 100_000
_CWE_TAG = re.compile(r"^external/cwe/cwe-0*([1-9][0-9]{0,5})$", re.IGNORECASE)
_LEVELS = ("error", "warning", "note", "none")
_KINDS = ("pass", "open", "informational", "notApplicable", "review", "fail")


def is_sarif(doc: Mapping[str, Any]) -> bool:
    return "runs" in doc and ("version" in doc or "$schema" in doc)


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def get(
        self,
        obj: Mapping[str, Any],
        key: str,
        kind: type | tuple[type, ...],
        path: str,
        *,
        required: bool = False,
    ) -> Any:
        if key not in obj:
            if required:
                self.problems.append(Problem(f"{path}/{key}", "is required"))
            return None
        value = obj[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.problems.append(Problem(f"{path}/{key}", f"expected {_json_kind(names)}"))
            return None
        return value

    def text(self, obj: Mapping[str, Any], key: str, path: str) -> str | None:
        """A SARIF message-like object's ``text`` (``{"text": ...}``)."""
        message = self.get(obj, key, dict, path)
        if message is None:
            return None
        text = self.get(message, "text", str, f"{path}/{key}")
        return text.strip() if text and text.strip() else None


def _json_kind(names: str) -> str:
    return (
        names.replace("dict", "an object")
        .replace("list", "an array")
        .replace("str", "a string")
        .replace("int", "an integer")
    )


def _location(r: _Reader, loc: Any, path: str) -> str | None:
    if not isinstance(loc, dict):
        r.problems.append(Problem(path, "expected an object"))
        return None
    physical = r.get(loc, "physicalLocation", dict, path)
    if physical is None:
        return None
    artifact = r.get(physical, "artifactLocation", dict, f"{path}/physicalLocation") or {}
    uri = r.get(artifact, "uri", str, f"{path}/physicalLocation/artifactLocation")
    region = r.get(physical, "region", dict, f"{path}/physicalLocation") or {}
    line = r.get(region, "startLine", int, f"{path}/physicalLocation/region")
    if uri is None:
        return None
    uri = uri[:500]
    return f"{uri}:{line}" if line is not None else uri


def from_sarif(doc: Mapping[str, Any], *, sha256: str, received: datetime) -> list[s.Advisory]:
    """Candidate advisories of a SARIF 2.1.0 log; raises :class:`InvalidAdvisory` listing problems."""
    r = _Reader()
    version = r.get(doc, "version", str, "", required=True)
    if version is not None and version != "2.1.0":
        r.problems.append(Problem("/version", "only SARIF 2.1.0 is read"))
    runs = r.get(doc, "runs", list, "", required=True) or []
    if r.problems:
        raise InvalidAdvisory("not a SARIF 2.1.0 log", problems=r.problems)
    groups: dict[tuple[int, str], dict[str, Any]] = {}
    seen = 0
    for i, run in enumerate(runs):
        path = f"/runs/{i}"
        if not isinstance(run, dict):
            r.problems.append(Problem(path, "expected an object"))
            continue
        tool = r.get(run, "tool", dict, path, required=True) or {}
        driver = r.get(tool, "driver", dict, f"{path}/tool", required=True) or {}
        tool_name = r.get(driver, "name", str, f"{path}/tool/driver", required=True) or "scanner"
        tool_version = r.get(driver, "semanticVersion", str, f"{path}/tool/driver") or r.get(
            driver, "version", str, f"{path}/tool/driver"
        )
        rules: dict[str, dict[str, Any]] = {}
        rule_list = r.get(driver, "rules", list, f"{path}/tool/driver") or []
        for j, rule in enumerate(rule_list):
            rpath = f"{path}/tool/driver/rules/{j}"
            if not isinstance(rule, dict):
                r.problems.append(Problem(rpath, "expected an object"))
                continue
            rule_id = r.get(rule, "id", str, rpath, required=True)
            if rule_id is not None:
                rules[rule_id] = {"index": j, "rule": rule, "path": rpath}
        repo, revision = None, None
        for k, prov in enumerate(r.get(run, "versionControlProvenance", list, path) or []):
            if isinstance(prov, dict):
                repo = repo or r.get(prov, "repositoryUri", str, f"{path}/versionControlProvenance/{k}")
                revision = revision or r.get(prov, "revisionId", str, f"{path}/versionControlProvenance/{k}")
        results = r.get(run, "results", list, path)
        if results is None and "results" not in run:
            r.problems.append(Problem(f"{path}/results", "is required (use [] for a clean scan)"))
        for j, result in enumerate(results or []):
            seen += 1
            if seen > MAX_RESULTS:
                r.problems.append(Problem(f"{path}/results", f"more than {MAX_RESULTS} results"))
                break
            rpath = f"{path}/results/{j}"
            if not isinstance(result, dict):
                r.problems.append(Problem(rpath, "expected an object"))
                continue
            message = r.get(result, "message", dict, rpath, required=True)
            if (
                message is not None
                and not isinstance(message.get("text"), str)
                and not isinstance(message.get("id"), str)
            ):
                r.problems.append(Problem(f"{rpath}/message", "needs a text or an id"))
            rule_id = r.get(result, "ruleId", str, rpath)
            rule_index = r.get(result, "ruleIndex", int, rpath)
            if rule_id is None and rule_index is not None:
                if 0 <= rule_index < len(rule_list) and isinstance(rule_list[rule_index], dict):
                    rule_id = (
                        rule_list[rule_index].get("id")
                        if isinstance(rule_list[rule_index].get("id"), str)
                        else None
                    )
                else:
                    r.problems.append(Problem(f"{rpath}/ruleIndex", "points at no rule"))
            kind = r.get(result, "kind", str, rpath) or "fail"
            if kind not in _KINDS:
                r.problems.append(Problem(f"{rpath}/kind", f"must be one of {', '.join(_KINDS)}"))
            level = r.get(result, "level", str, rpath)
            rule_entry = rules.get(rule_id or "")
            if level is None and rule_entry is not None:
                default = rule_entry["rule"].get("defaultConfiguration")
                level = default.get("level") if isinstance(default, dict) else None
            level = level or "warning"  # SARIF §3.27.10: the default level is "warning"
            if level not in _LEVELS:
                r.problems.append(Problem(f"{rpath}/level", f"must be one of {', '.join(_LEVELS)}"))
                continue
            suppressions = r.get(result, "suppressions", list, rpath) or []
            baseline = r.get(result, "baselineState", str, rpath)
            if kind != "fail" or level not in ("error", "warning") or suppressions or baseline == "absent":
                continue
            locations = [
                loc
                for k, item in enumerate(r.get(result, "locations", list, rpath) or [])
                if (loc := _location(r, item, f"{rpath}/locations/{k}")) is not None
            ]
            key = (i, rule_id or "(no rule)")
            group = groups.setdefault(
                key,
                {
                    "tool": tool_name,
                    "tool_version": tool_version,
                    "rule": rule_entry,
                    "rule_id": rule_id,
                    "levels": set(),
                    "locations": [],
                    "count": 0,
                    "message": r.text(result, "message", rpath),
                    "repo": repo,
                    "revision": revision,
                },
            )
            group["levels"].add(level)
            group["count"] += 1
            group["locations"].extend(locations)
    if r.problems:
        raise InvalidAdvisory("SARIF log is not valid", problems=r.problems)
    if not groups:
        raise InvalidAdvisory(
            "SARIF log reports nothing to triage",
            problems=[Problem("/runs", "no failing result at level error or warning")],
        )
    advisories = []
    for (run_index, rule_key), group in groups.items():
        advisories.append(_advisory(r, run_index, rule_key, group, sha256, received))
    if r.problems:
        raise InvalidAdvisory("SARIF log is not valid", problems=r.problems)
    return advisories


def _advisory(
    r: _Reader, run_index: int, rule_key: str, group: dict[str, Any], sha256: str, received: datetime
) -> s.Advisory:
    rule_entry = group["rule"]
    rule: dict[str, Any] = rule_entry["rule"] if rule_entry else {}
    rpath = rule_entry["path"] if rule_entry else f"/runs/{run_index}"
    short = r.text(rule, "shortDescription", rpath) if rule else None
    full = r.text(rule, "fullDescription", rpath) if rule else None
    name = rule.get("name") if isinstance(rule.get("name"), str) else None
    title = (short or name or group["message"] or rule_key)[:200]
    tool = group["tool"][:100]
    raw_props = rule.get("properties")
    props: dict[str, Any] = raw_props if isinstance(raw_props, dict) else {}
    tags = (
        [t for t in props.get("tags", []) if isinstance(t, str)]
        if isinstance(props.get("tags"), list)
        else []
    )
    cwes = []
    for tag in tags:
        m = _CWE_TAG.match(tag)
        if m is not None:
            cwes.append(f"CWE-{m.group(1)}")
    sev = props.get("security-severity")
    locations: list[str] = group["locations"]
    lines = [f"{tool} rule {rule_key} failed {group['count']} time(s)."]
    if full and full != short:
        lines.append(full)
    if group["message"]:
        lines.append(f"First result: {group['message'][:2000]}")
    if locations:
        lines.append("Locations:")
        lines += [f"- {loc}" for loc in locations[:MAX_LOCATIONS]]
        if len(locations) > MAX_LOCATIONS:
            lines.append(f"- … and {len(locations) - MAX_LOCATIONS} more")
    references = []
    help_uri = rule.get("helpUri")
    if isinstance(help_uri, str) and re.match(r"^https?://\S+$", help_uri) and len(help_uri) < 2000:
        references.append(s.Reference(url=help_uri, type=s.ReferenceType.REPORT))
    affected: tuple[s.Affected, ...] = ()
    if group["repo"]:
        versions = (group["revision"][:200],) if group["revision"] else ()
        affected = (s.Affected(product_name=group["repo"][:500], versions=versions),)
    digest = hashlib.sha256(f"{sha256}\x1f{run_index}\x1f{rule_key}".encode()).hexdigest()[:16]
    scanner: dict[str, Any] = {
        "tool": tool,
        "rule_id": rule_key[:255],
        "levels": sorted(group["levels"]),
        "results": group["count"],
    }
    if group["tool_version"]:
        scanner["tool_version"] = group["tool_version"][:100]
    if isinstance(sev, str | int | float) and not isinstance(sev, bool):
        scanner["security_severity"] = str(sev)[:20]
    try:
        return s.Advisory(
            id=f"x_SARIF-{digest}",
            summary=f"{title} ({tool})",
            details="\n".join(lines),
            modified=received,
            affected=affected,
            cwes=tuple(cwes),
            references=tuple(references),
            database_specific={"sarif": scanner},
        )
    except ValidationError as exc:
        raise InvalidAdvisory(
            "SARIF finding is not a valid advisory", problems=problems_from(exc, rpath)
        ) from None
