"""The scan report: one shape for ``forewarn scan --json`` offline and the server's stateless scan.

``report_json`` is exactly the document the issue specifies (``{"results": [{"package": {...},
"advisories": [...]}], "unscannable": [...]}``); ``scan_out`` adds what the human-readable table
shows (counts, the nearest fixed versions, VEX-suppressed matches), so a remote scan prints the same
table as an offline one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forewarn.clearinghouse.matching.records import ScanOut

if TYPE_CHECKING:
    from forewarn.clearinghouse.inventory.schemas import Component, Inventory
    from forewarn.clearinghouse.matching.engine import MatchReport

__all__ = ["report_json", "scan_out"]


def _package(component: Component) -> dict[str, str | None]:
    return {
        "ecosystem": component.ecosystem,
        "name": component.package or component.name,
        "version": component.version,
        "purl": component.purl,
    }


def _key(component: Component) -> tuple[str | None, ...]:
    p = _package(component)
    return (p["ecosystem"], p["name"], p["version"], p["purl"])


def report_json(inventory: Inventory, report: MatchReport[Component]) -> dict[str, Any]:
    """The ``--json`` document: ``{"results": [...], "unscannable": [...]}``."""
    grouped: dict[tuple[str | None, ...], set[str]] = {}
    for found in report.matches:
        grouped.setdefault(_key(found.component), set()).add(found.advisory.id)
    results = [
        {
            "package": dict(zip(("ecosystem", "name", "version", "purl"), key, strict=True)),
            "advisories": sorted(ids),
        }
        for key, ids in sorted(grouped.items(), key=lambda kv: tuple(str(k) for k in kv[0]))
    ]
    unscannable: list[dict[str, Any]] = [
        {"package": _package(u.component), "location": u.component.location, "reason": u.reason}
        for u in inventory.unscannable
    ]
    unscannable.extend(
        {
            "package": _package(u.component),
            "location": u.component.location,
            "reason": f"{u.advisory_id} could not be evaluated: {u.reason}",
        }
        for u in report.undetermined
    )
    return {"results": results, "unscannable": unscannable}


def scan_out(inventory: Inventory, report: MatchReport[Component], *, advisories: int) -> ScanOut:
    """:func:`report_json` with the table's extras: each result's nearest fixed versions, counts and
    the VEX-suppressed matches."""
    doc = report_json(inventory, report)
    fixed: dict[tuple[str | None, ...], list[str]] = {}
    for found in report.matches:
        fixes = fixed.setdefault(_key(found.component), [])
        fixes.extend(f for f in found.fixed[:1] if f not in fixes)
    for result in doc["results"]:
        p = result["package"]
        result["fixed"] = fixed.get((p["ecosystem"], p["name"], p["version"], p["purl"]), [])
    suppressed = []
    for found in report.suppressed:
        statement = found.vex
        why = (statement.justification or statement.impact or statement.status.value) if statement else ""
        suppressed.append(
            {
                "package": _package(found.component),
                "advisory": found.advisory.id,
                "status": statement.status.value if statement else "",
                "reason": why[:500],
            }
        )
    return ScanOut.model_validate(
        doc
        | {
            "format": inventory.format.value,
            "spec_version": inventory.spec_version,
            "components": len(inventory.components),
            "advisories": advisories,
            "suppressed": suppressed,
        }
    )
