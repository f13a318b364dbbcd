"""An operator's remediation state as VEX: CycloneDX VEX (1.5, 1.6 JSON) and OpenVEX 0.2.0 (JSON-LD).

Pure functions over :class:`~.records.MatchOut`; the service reads the matches, these write the
documents, and :func:`status_of` reads a statement back into a match status (the import direction).

Invariants:

- one statement per match the operator has decided something about; ``open`` matches (found by the
  clearinghouse, nothing said by the operator yet) carry no operator statement and are left out;
- every statement names its product by a reference scoped to the asset
  (:func:`component_ref`: ``urn:forewarn:asset:<asset id>:<ecosystem>:<package>:<version>``,
  percent-encoded), so two assets running the same package with different statuses never
  contradict each other; the component's purl is given beside it for other tools;
- the mapping is reversible (export, then import, gives every match the status it had):

  ==================  ==========================================  ========================================
  forewarn            CycloneDX ``analysis``                      OpenVEX statement
  ==================  ==========================================  ========================================
  acknowledged        ``in_triage``                               ``under_investigation``
  in_progress         ``exploitable``, response ``update``        ``affected``, action "Update to …"
  risk_accepted       ``exploitable``, response ``will_not_fix``  ``affected``, action "Risk accepted: …"
  fixed               ``resolved``                                ``fixed``
  not_affected        ``not_affected`` + justification (below)    ``not_affected`` + justification
  ==================  ==========================================  ========================================

- CycloneDX has its own nine justifications, OpenVEX and forewarn the five of CISA's "Minimum
  Requirements for VEX"; the nearest CycloneDX one is written, and the exact CISA one in the
  vulnerability's property ``forewarn:vex:justification`` (read back by :mod:`.vex`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from forewarn.clearinghouse.matching.records import Justification, MatchOut, MatchStatus
from forewarn.clearinghouse.matching.vex import VexStatement, VexStatus

__all__ = [
    "CYCLONEDX_JUSTIFICATION",
    "JUSTIFICATION_PROPERTY",
    "OPENVEX_CONTEXT",
    "component_ref",
    "cyclonedx_vex",
    "justification_of",
    "openvex",
    "status_of",
]

OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"
#: The CycloneDX vulnerability property carrying the exact CISA justification.
JUSTIFICATION_PROPERTY = "forewarn:vex:justification"
RISK_ACCEPTED = "Risk accepted"

#: CISA justification -> the nearest CycloneDX 1.5/1.6 ``impactAnalysisJustification``.
CYCLONEDX_JUSTIFICATION: dict[Justification, str] = {
    Justification.COMPONENT_NOT_PRESENT: "code_not_present",
    Justification.VULNERABLE_CODE_NOT_PRESENT: "code_not_present",
    Justification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH: "code_not_reachable",
    Justification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY: "requires_environment",
    Justification.INLINE_MITIGATIONS_ALREADY_EXIST: "protected_by_mitigating_control",
}
#: CycloneDX justification (or state ``false_positive``) -> the CISA one forewarn records.
_FROM_CYCLONEDX: dict[str, Justification] = {
    "code_not_present": Justification.VULNERABLE_CODE_NOT_PRESENT,
    "code_not_reachable": Justification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH,
    "requires_configuration": Justification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY,
    "requires_dependency": Justification.COMPONENT_NOT_PRESENT,
    "requires_environment": Justification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY,
    "protected_by_compiler": Justification.INLINE_MITIGATIONS_ALREADY_EXIST,
    "protected_at_runtime": Justification.INLINE_MITIGATIONS_ALREADY_EXIST,
    "protected_at_perimeter": Justification.INLINE_MITIGATIONS_ALREADY_EXIST,
    "protected_by_mitigating_control": Justification.INLINE_MITIGATIONS_ALREADY_EXIST,
    "false_positive": Justification.VULNERABLE_CODE_NOT_PRESENT,
}


def component_ref(asset_id: uuid.UUID, ecosystem: str, package: str, version: str) -> str:
    """The asset-scoped reference of one component identity (a URN, also a CycloneDX bom-ref)."""
    parts = (quote(p, safe="") for p in (ecosystem, package, version))
    return f"urn:forewarn:asset:{asset_id}:" + ":".join(parts)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stated(matches: Sequence[MatchOut]) -> list[MatchOut]:
    return sorted(
        (m for m in matches if m.status is not MatchStatus.OPEN),
        key=lambda m: (m.asset_name, m.advisory_id, m.ecosystem, m.package, m.version),
    )


def _name(m: MatchOut) -> str:
    return m.component.rsplit("@", 1)[0] or m.package


def _update_to(m: MatchOut) -> str:
    return f"Update to {m.fixed[0]}." if m.fixed else "Follow the advisory's mitigations."


def _risk_text(m: MatchOut) -> str:
    return f"{RISK_ACCEPTED}: will not fix." + (f" {m.note}" if m.note else "")


def cyclonedx_vex(
    matches: Sequence[MatchOut],
    *,
    spec_version: str,
    organisation: str,
    base_url: str,
    now: datetime,
) -> dict[str, Any]:
    """A CycloneDX VEX BOM (``spec_version`` 1.5 or 1.6) of the operator's decided matches: the
    components (asset-scoped ``bom-ref``, purl) and one vulnerability per match with its analysis."""
    if spec_version not in ("1.5", "1.6"):
        raise ValueError("spec_version: 1.5 or 1.6")
    stated = _stated(matches)
    components: dict[str, dict[str, Any]] = {}
    vulnerabilities: list[dict[str, Any]] = []
    for m in stated:
        ref = component_ref(m.asset_id, m.ecosystem, m.package, m.version)
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": ref,
            "name": _name(m),
            "version": m.version,
        }
        if m.purl:
            component["purl"] = m.purl
        component["properties"] = [
            {"name": "forewarn:asset", "value": m.asset_name},
            {"name": "forewarn:ecosystem", "value": m.ecosystem},
        ]
        components.setdefault(ref, component)
        analysis: dict[str, Any] = {}
        properties: list[dict[str, str]] = []
        if m.status is MatchStatus.ACKNOWLEDGED:
            analysis["state"] = "in_triage"
        elif m.status is MatchStatus.IN_PROGRESS:
            analysis |= {"state": "exploitable", "response": ["update"]}
        elif m.status is MatchStatus.RISK_ACCEPTED:
            analysis |= {"state": "exploitable", "response": ["will_not_fix"]}
        elif m.status is MatchStatus.FIXED:
            analysis["state"] = "resolved"
        else:  # not_affected: always justified (the database's check constraint)
            justification = m.justification or Justification.VULNERABLE_CODE_NOT_PRESENT
            analysis |= {"state": "not_affected", "justification": CYCLONEDX_JUSTIFICATION[justification]}
            properties.append({"name": JUSTIFICATION_PROPERTY, "value": justification.value})
        detail = m.note or (m.what_to_do if m.status is MatchStatus.IN_PROGRESS else None)
        if detail:
            analysis["detail"] = detail
        analysis |= {"firstIssued": _iso(m.alerted_at), "lastUpdated": _iso(m.status_changed_at)}
        vulnerability: dict[str, Any] = {
            "id": m.advisory_id,
            "source": {
                "name": "forewarn clearinghouse",
                "url": f"{base_url.rstrip('/')}/advisories/{m.advisory_id}",
            },
            "analysis": analysis,
            "affects": [{"ref": ref}],
        }
        if m.summary:
            vulnerability["description"] = m.summary
        if properties:
            vulnerability["properties"] = properties
        vulnerabilities.append(vulnerability)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": spec_version,
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": _iso(now),
            "tools": {"components": [{"type": "application", "name": "forewarn"}]},
            "component": {"type": "application", "bom-ref": "operator", "name": organisation},
        },
        "components": list(components.values()),
        "vulnerabilities": vulnerabilities,
    }


def openvex(matches: Sequence[MatchOut], *, organisation: str, now: datetime) -> dict[str, Any]:
    """An OpenVEX 0.2.0 document of the operator's decided matches, one statement per match: the
    product is the asset (``urn:forewarn:asset:<id>``), the subcomponent the component."""
    statements: list[dict[str, Any]] = []
    for m in _stated(matches):
        sub: dict[str, Any] = {"@id": component_ref(m.asset_id, m.ecosystem, m.package, m.version)}
        if m.purl:
            sub["identifiers"] = {"purl": m.purl}
        statement: dict[str, Any] = {
            "vulnerability": {"name": m.advisory_id},
            "timestamp": _iso(m.status_changed_at),
            "products": [{"@id": f"urn:forewarn:asset:{m.asset_id}", "subcomponents": [sub]}],
        }
        if m.status is MatchStatus.ACKNOWLEDGED:
            statement["status"] = VexStatus.UNDER_INVESTIGATION.value
        elif m.status is MatchStatus.IN_PROGRESS:
            statement |= {"status": VexStatus.AFFECTED.value, "action_statement": _update_to(m)}
        elif m.status is MatchStatus.RISK_ACCEPTED:
            statement |= {"status": VexStatus.AFFECTED.value, "action_statement": _risk_text(m)}
        elif m.status is MatchStatus.FIXED:
            statement["status"] = VexStatus.FIXED.value
        else:
            justification = m.justification or Justification.VULNERABLE_CODE_NOT_PRESENT
            statement |= {"status": VexStatus.NOT_AFFECTED.value, "justification": justification.value}
            if m.note:
                statement["impact_statement"] = m.note
        if m.note and m.status is not MatchStatus.NOT_AFFECTED and m.status is not MatchStatus.RISK_ACCEPTED:
            statement["status_notes"] = m.note
        statements.append(statement)
    return {
        "@context": OPENVEX_CONTEXT,
        "@id": f"urn:uuid:{uuid.uuid4()}",
        "author": organisation,
        "role": "operator",
        "timestamp": _iso(now),
        "version": 1,
        "tooling": "forewarn",
        "statements": statements,
    }


def justification_of(statement: VexStatement) -> Justification | None:
    """The CISA justification a statement gives (CycloneDX ones mapped to the nearest)."""
    value = statement.justification
    if value is None:
        return None
    try:
        return Justification(value)
    except ValueError:
        return _FROM_CYCLONEDX.get(value)


def status_of(statement: VexStatement) -> tuple[MatchStatus, Justification | None] | None:
    """The match status a statement asks for, or None when forewarn cannot record it (a
    ``not_affected`` without a justification forewarn knows)."""
    if statement.status is VexStatus.FIXED:
        return MatchStatus.FIXED, None
    if statement.status is VexStatus.UNDER_INVESTIGATION:
        return MatchStatus.ACKNOWLEDGED, None
    if statement.status is VexStatus.AFFECTED:
        action = statement.action or ""
        refused = "will_not_fix" in action or "can_not_fix" in action or action.startswith(RISK_ACCEPTED)
        return (MatchStatus.RISK_ACCEPTED if refused else MatchStatus.IN_PROGRESS), None
    justification = justification_of(statement)
    return (MatchStatus.NOT_AFFECTED, justification) if justification is not None else None
