"""CSAF 2.0 validation: the JSON Schema and the mandatory tests (CSAF 2.0 §6.1), through ``csaf``.

The ``csaf`` package (the OASIS TC's Python reference implementation, a dependency of forewarn)
ships the CSAF 2.0 JSON Schema with the FIRST CVSS schemas it references, a CWE catalogue, and an
implementation of every mandatory test §6.1.1-§6.1.33 (missing, multiple and circular product id
definitions, contradicting product status, invalid CVSS and CVSS computation, invalid CWE and PURL,
revision history rules, profile rules for ``csaf_security_advisory`` and ``csaf_vex``, ...), tested
by its authors on the OASIS test-case corpus. forewarn uses it rather than a second implementation.

Invariants:

- a document passes only when the schema and every mandatory test pass; the recommended (§6.2) and
  informative (§6.3) tests never run here: some informative tests resolve URLs, and validation must
  not reach the network;
- if the validator itself fails on a document, the document is refused (fail closed);
- every problem names the JSON Pointer the test reported and the test's section number.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from forewarn.clearinghouse.advisories.errors import InvalidAdvisory, Problem
from forewarn.clearinghouse.advisories.jsondoc import MAX_MESSAGE_CHARS, schema_problems

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["check_csaf", "cwe_name", "validate_csaf"]


def check_csaf(doc: Mapping[str, Any]) -> list[Problem]:
    """Every schema and mandatory-test problem of a CSAF 2.0 document; empty when it is valid."""
    from csaf.csaf.v20 import validate  # ~0.3 s to import; only when CSAF is handled

    try:
        report = validate(dict(doc), preset="basic")
    except Exception as exc:  # a validator crash must refuse the document, not pass it
        return [Problem("", f"CSAF validator failed on this document: {type(exc).__name__}")]
    problems: list[Problem] = []
    for result in report.results:
        if result.passed or result.skipped or result.group not in ("schema", "mandatory"):
            continue
        label = "CSAF 2.0 JSON Schema" if result.id == "schema" else f"CSAF §{result.id} {result.title}"
        if result.id == "schema":
            # The package reports a failed oneOf (e.g. a CVSS object) as the whole object; say which
            # member failed and why, from the same schema files.
            detailed = _schema_details(doc)
            if detailed:
                problems.extend(Problem(p.field, f"{label}: {p.message}") for p in detailed)
                continue
        if not result.errors:
            problems.append(Problem("", f"{label}: failed"))
        for error in result.errors:
            path = "" if error.instance_path == "/" else error.instance_path
            problems.append(Problem(path, f"{label}: {error.message}"[:MAX_MESSAGE_CHARS]))
    if not problems and not report.overall_valid:
        problems.append(Problem("", "CSAF validation failed"))
    return problems


@lru_cache(maxsize=1)
def _detail_validator() -> Validator:
    import json

    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    base = resources.files("csaf.csaf.v20").joinpath("schema")
    registry: Registry[Any] = Registry()
    for name in ("cvss-v2.0.json", "cvss-v3.0.json", "cvss-v3.1.json"):
        contents = json.loads(base.joinpath("referenced", name).read_text(encoding="utf-8"))
        registry = registry.with_resource(
            f"https://www.first.org/cvss/{name}", Resource.from_contents(contents)
        )
    main = json.loads(base.joinpath("csaf.json").read_text(encoding="utf-8"))
    return Draft202012Validator(main, registry=registry)


def _schema_details(doc: Mapping[str, Any]) -> list[Problem]:
    try:
        return schema_problems(_detail_validator(), dict(doc))
    except Exception:  # only a better message is at stake; the package's verdict stands
        return []


def validate_csaf(doc: Mapping[str, Any], *, what: str = "CSAF document") -> None:
    """Raise :class:`InvalidAdvisory` unless *doc* passes the CSAF 2.0 schema and mandatory tests."""
    problems = check_csaf(doc)
    if problems:
        raise InvalidAdvisory(f"{what} does not pass CSAF 2.0 validation", problems=problems)


@lru_cache(maxsize=1)
def _cwe_catalogue() -> dict[str, Any]:
    import json

    try:
        text = resources.files("csaf.csaf.v21").joinpath("cwe/catalog.json").read_text(encoding="utf-8")
        catalogue: dict[str, Any] = json.loads(text)["weaknesses"]
    except (OSError, KeyError, ValueError, ModuleNotFoundError):
        return {}
    return catalogue


def cwe_name(cwe_id: str) -> str | None:
    """The current name of a CWE (``CWE-79`` → "Improper Neutralization of ..."), from the catalogue the
    ``csaf`` package's §6.1.11 test checks names against; ``None`` for an unknown weakness."""
    number = cwe_id.removeprefix("CWE-")
    entry = _cwe_catalogue().get(number)
    if not isinstance(entry, dict):
        return None
    names = [name for _, name in entry.get("history", []) if isinstance(name, str)]
    return names[-1] if names else None
