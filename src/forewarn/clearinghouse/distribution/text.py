"""The plain-language text of notices, from ``templates/*.txt`` (``string.Template``: no logic in
templates, nothing evaluated from data)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from string import Template

_RATINGS = {"CRITICAL": "critical", "HIGH": "high", "MEDIUM": "medium", "LOW": "low"}


@dataclass(frozen=True)
class Affected:
    """One component an organisation runs that an advisory affects."""

    asset: str
    component: str
    version: str
    fixed: tuple[str, ...]


@functools.cache
def _template(name: str) -> Template:
    return Template(resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8"))


def what_to_do(item: Affected) -> str:
    runs = f"You run {item.component} {item.version} on asset {item.asset}."
    if item.fixed:
        return f"{runs} Update to {item.fixed[0]}."
    return f"{runs} No fixed version is known yet: follow the advisory's mitigations."


def subject(*, advisory_id: str, summary: str | None, known_exploited: bool, rating: str | None) -> str:
    tag = (
        "Known exploited"
        if known_exploited
        else (_RATINGS.get((rating or "").upper(), "").capitalize() or "Notice")
    )
    return f"[{tag}] {advisory_id}: {summary or 'a vulnerability affects software you run'}"[:300]


def notice_body(
    *,
    advisory_id: str,
    summary: str | None,
    details: str | None,
    known_exploited: bool,
    rating: str | None,
    affected: list[Affected],
    advisory_url: str,
) -> str:
    severity = _RATINGS.get((rating or "").upper())
    if known_exploited:
        urgency = "Attackers are exploiting this now: act today."
    elif severity in ("critical", "high"):
        urgency = f"Severity: {severity}. Act this week."
    elif severity:
        urgency = f"Severity: {severity}."
    else:
        urgency = "Severity: not rated yet."
    return _template("notice.txt").substitute(
        headline=f"{advisory_id}: {summary or 'a vulnerability affects software you run'}",
        lines="\n".join(what_to_do(a) for a in affected),
        why=details or summary or "an attacker may be able to use this flaw against the affected system.",
        urgency=urgency,
        advisory_url=advisory_url,
    )


def digest_body(sections: list[tuple[str, str]]) -> str:
    """*sections*: (subject, body) of each notice, most urgent first."""
    text = "".join(f"== {title}\n\n{body}\n" for title, body in sections)
    return _template("digest.txt").substitute(count=len(sections), sections=text)
