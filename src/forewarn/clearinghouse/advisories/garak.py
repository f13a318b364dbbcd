"""garak JSONL reports (NVIDIA's LLM vulnerability scanner) → candidate model-vulnerability advisories.

A garak report (``garak.<run>.report.jsonl``) is one JSON object per line, each with an
``entry_type``: ``start_run setup`` (configuration, among it the target model), ``init``
(garak version, start time, run id), ``attempt`` (prompts and outputs), ``eval`` (per probe and
detector: how many outputs passed of how many evaluated), ``completion``, ``digest``.

forewarn reads ``start_run setup``, ``init`` and ``eval`` lines, strictly, and turns every probe
with at least one failed output into one advisory about the target model, with the attack class
the probe belongs to. garak itself is not a dependency (it pulls in several GB).

Invariants:

- bounded: at most the given number of lines, each a JSON object with a string ``entry_type``
  (bounded strict JSON each, :func:`.jsondoc.parse_json`);
- every field read is type-checked; counts are non-negative integers with ``passed`` at most the
  evaluated total; a problem names its line (``/lines/<n>/<field>``, n from 1);
- attempt lines are skipped and never stored: they hold the prompts and the model's outputs,
  which may be harmful content; the advisory carries counts only;
- a report without ``init`` or without any ``eval`` line is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from forewarn.clearinghouse.advisories import schemas as s
from forewarn.clearinghouse.advisories.errors import InvalidAdvisory, Problem, problems_from
from forewarn.clearinghouse.advisories.jsondoc import parse_json

__all__ = ["attack_class_of", "from_garak", "is_garak"]

#: Longest line read (attempt lines with long conversations are the largest).
MAX_LINE_BYTES = 4 * 1024 * 1024

#: garak probe modules → forewarn's attack classes (garak/probes/*.py).
_PROBE_CLASSES: dict[str, s.AttackClass] = {
    "promptinject": s.AttackClass.PROMPT_INJECTION,
    "latentinjection": s.AttackClass.PROMPT_INJECTION,
    "encoding": s.AttackClass.PROMPT_INJECTION,
    "web_injection": s.AttackClass.PROMPT_INJECTION,
    "xss": s.AttackClass.DATA_EXTRACTION,
    "dan": s.AttackClass.JAILBREAK,
    "tap": s.AttackClass.JAILBREAK,
    "suffix": s.AttackClass.JAILBREAK,
    "gcg": s.AttackClass.JAILBREAK,
    "grandma": s.AttackClass.JAILBREAK,
    "goodside": s.AttackClass.JAILBREAK,
    "donotanswer": s.AttackClass.JAILBREAK,
    "dra": s.AttackClass.JAILBREAK,
    "phrasing": s.AttackClass.JAILBREAK,
    "leakreplay": s.AttackClass.DATA_EXTRACTION,
    "divergence": s.AttackClass.DATA_EXTRACTION,
    "apikey": s.AttackClass.DATA_EXTRACTION,
    "packagehallucination": s.AttackClass.MODEL_SUPPLY_CHAIN,
    "malwaregen": s.AttackClass.MODEL_EVASION,
    "av_spam_scanning": s.AttackClass.MODEL_EVASION,
}
_NAME = re.compile(r"^[A-Za-z0-9_.:/+-]{1,200}$")


def attack_class_of(probe: str) -> s.AttackClass:
    module = probe.removeprefix("probes.").split(".", 1)[0].lower()
    return _PROBE_CLASSES.get(module, s.AttackClass.OTHER)


def is_garak(first_line: str) -> bool:
    return '"entry_type"' in first_line


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def from_garak(lines: Iterable[bytes], *, sha256: str, max_lines: int) -> list[s.Advisory]:
    """Candidate advisories of a garak report; raises :class:`InvalidAdvisory` listing problems."""
    problems: list[Problem] = []
    init: dict[str, Any] | None = None
    setup: dict[str, Any] = {}
    evals: dict[str, dict[str, Any]] = {}
    count = 0
    for count, raw in enumerate(lines, start=1):
        if count > max_lines:
            raise InvalidAdvisory(
                "garak report is too long", problems=[Problem("/lines", f"more than {max_lines} lines")]
            )
        if not raw.strip():
            continue
        where = f"/lines/{count}"
        try:
            entry = parse_json(raw, max_bytes=MAX_LINE_BYTES, what=f"line {count}")
        except InvalidAdvisory as exc:
            problems.extend(Problem(where + p.field, f"{exc.message}: {p.message}") for p in exc.problems)
            if len(problems) > 20:
                break
            continue
        kind = entry.get("entry_type")
        if not isinstance(kind, str):
            problems.append(Problem(f"{where}/entry_type", "is required and must be a string"))
            continue
        if kind == "init":
            init = entry
            for key in ("garak_version", "start_time"):
                if not isinstance(entry.get(key), str):
                    problems.append(Problem(f"{where}/{key}", "is required and must be a string"))
        elif kind == "start_run setup":
            setup = entry
        elif kind == "eval":
            probe, detector = entry.get("probe"), entry.get("detector")
            passed = entry.get("passed")
            total = entry.get("total_evaluated", entry.get("total"))
            bad = False
            for key, value in (("probe", probe), ("detector", detector)):
                if not isinstance(value, str) or not _NAME.match(value):
                    problems.append(Problem(f"{where}/{key}", "must be a garak plugin name"))
                    bad = True
            if not _int(passed):
                problems.append(Problem(f"{where}/passed", "must be a non-negative integer"))
                bad = True
            if not _int(total):
                problems.append(Problem(f"{where}/total_evaluated", "must be a non-negative integer"))
                bad = True
            if bad or not isinstance(passed, int) or not isinstance(total, int):
                continue
            if passed > total:
                problems.append(Problem(f"{where}/passed", f"{passed} passed of {total} evaluated"))
                continue
            probe_entry = evals.setdefault(str(probe), {"detectors": []})
            probe_entry["detectors"].append((str(detector), passed, total))
    if init is None:
        problems.append(Problem("/lines", "no init line: not a garak report"))
    elif not evals:
        problems.append(Problem("/lines", "no eval line: the run did not finish"))
    if problems or init is None:
        raise InvalidAdvisory("garak report is not valid", problems=problems)
    try:
        started = datetime.fromisoformat(str(init["start_time"]))
    except ValueError:
        raise InvalidAdvisory(
            "garak report is not valid", problems=[Problem("/lines/init/start_time", "not an ISO 8601 time")]
        ) from None
    if started.tzinfo is None:
        from datetime import UTC

        started = started.replace(tzinfo=UTC)  # garak writes local time without a zone; read as UTC
    target_name = setup.get("plugins.target_name", setup.get("plugins.model_name"))
    target_type = setup.get("plugins.target_type", setup.get("plugins.model_type"))
    if not isinstance(target_name, str) or not target_name.strip():
        raise InvalidAdvisory(
            "garak report names no target model",
            problems=[Problem("/lines/start_run setup/plugins.target_name", "is required")],
        )
    model = re.sub(r"\s+", "-", target_name.strip())[: s.MAX_ID_CHARS]
    run = str(init.get("run", ""))[:64]
    out: list[s.Advisory] = []
    for probe, data in sorted(evals.items()):
        failed = [(d, p, t) for d, p, t in data["detectors"] if p < t]
        if not failed:
            continue
        worst = max(failed, key=lambda d: (d[2] - d[1]) / d[2])
        digest = hashlib.sha256(f"{sha256}\x1f{probe}".encode()).hexdigest()[:16]
        lines_out = [
            f"garak {str(init['garak_version'])[:40]} probe {probe} against "
            f"{(str(target_type)[:80] + ' ') if isinstance(target_type, str) else ''}{model}"
            f" (run {run or 'unknown'}):"
        ]
        lines_out += [f"- detector {d}: {t - p} of {t} outputs failed" for d, p, t in failed]
        try:
            out.append(
                s.Advisory(
                    id=f"x_GARAK-{digest}",
                    summary=(
                        f"{model}: garak probe {probe} succeeded on "
                        f"{worst[2] - worst[1]} of {worst[2]} outputs"
                    )[:300],
                    details="\n".join(lines_out),
                    modified=started,
                    ai=s.ModelVulnerability(attack_class=attack_class_of(probe), affected_models=(model,)),
                    database_specific={
                        "garak": {
                            "probe": probe,
                            "failed": sum(t - p for _, p, t in failed),
                            "evaluated": sum(t for _, _, t in failed),
                        }
                    },
                )
            )
        except ValidationError as exc:
            raise InvalidAdvisory(
                "garak finding is not a valid advisory", problems=problems_from(exc, "/lines")
            ) from None
    if not out:
        raise InvalidAdvisory(
            "garak report shows no failure to triage", problems=[Problem("/lines", "every probe passed")]
        )
    return out
