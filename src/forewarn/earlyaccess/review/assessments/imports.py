"""Reviewers' tool output → findings: garak JSONL reports and Inspect eval logs, read without either tool.

garak (NVIDIA's LLM vulnerability scanner) writes ``garak.<run>.report.jsonl``: one JSON object per
line with an ``entry_type``: ``start_run setup`` (configuration, among it the target), ``init``
(garak version, start time, run id), ``attempt`` (prompts, outputs, detector scores; status 2 when
evaluated), ``eval`` (per probe and detector: ``passed`` of ``total_evaluated`` outputs),
``probe_summary``, ``completion`` and ``digest``. Every probe with a failed output becomes one
finding, with each detector's pass rate, and its failing attempts as sealed evidence.

Inspect (UK AISI) writes eval logs as ``.eval`` (a zip: ``header.json``, ``samples/*.json``,
``summaries.json``, ``reductions.json``; members usually zstd-compressed) or as one ``.json``
``EvalLog``. One log becomes one finding summarising task, model, status, scores and token use; the
log itself is attached as sealed evidence.

Invariants:

- bounded: the file size, the line count, each member's uncompressed size and the member count
  are limited before anything is decompressed or parsed (a zip bomb is refused, not expanded);
- every field read is type-checked and a refusal names its place (``/lines/<n>/<field>``,
  ``header.json/eval/task``); parsing happens completely before the caller stores anything;
- neither ``garak`` nor ``inspect_ai`` is imported (DESIGN §3).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from forewarn.core.errors import InvalidInput, Problem, TooLarge
from forewarn.core.strictjson import StrictJsonError, loads_object
from forewarn.earlyaccess.review.assessments.schemas import Area, Severity

__all__ = ["Attachment", "Imported", "Limits", "read_garak", "read_inspect"]

_MAX_DEPTH = 64
_ZSTD = 93
_NAME = re.compile(r"^[A-Za-z0-9_.:/+-]{1,200}$")
#: Failing attempts kept as evidence per probe (their prompts and outputs), and the longest text kept.
MAX_ATTEMPTS_PER_PROBE = 25
MAX_TEXT_CHARS = 20_000

#: garak probe modules → assessment areas (garak/probes/*.py); the rest are "other".
_PROBE_AREAS: dict[str, Area] = {
    "malwaregen": Area.CYBER_OFFENCE,
    "exploitation": Area.CYBER_OFFENCE,
    "av_spam_scanning": Area.CYBER_OFFENCE,
    "packagehallucination": Area.CYBER_OFFENCE,
    "promptinject": Area.MODEL_SECURITY,
    "latentinjection": Area.MODEL_SECURITY,
    "encoding": Area.MODEL_SECURITY,
    "web_injection": Area.MODEL_SECURITY,
    "xss": Area.MODEL_SECURITY,
    "dan": Area.MODEL_SECURITY,
    "tap": Area.MODEL_SECURITY,
    "suffix": Area.MODEL_SECURITY,
    "gcg": Area.MODEL_SECURITY,
    "grandma": Area.MODEL_SECURITY,
    "goodside": Area.MODEL_SECURITY,
    "dra": Area.MODEL_SECURITY,
    "phrasing": Area.MODEL_SECURITY,
    "leakreplay": Area.MODEL_SECURITY,
    "divergence": Area.MODEL_SECURITY,
    "apikey": Area.MODEL_SECURITY,
    "misleading": Area.PERSUASION,
    "snowball": Area.PERSUASION,
    "donotanswer": Area.OTHER,
}


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 26_214_400
    max_lines: int = 200_000
    max_members: int = 10_000


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Imported:
    """One finding an import makes (the caller adds window, workstream, TLP and filer)."""

    title: str
    severity: Severity
    area: Area
    description: str
    reproduction: str
    evidence: list[Attachment] = field(default_factory=list)


@dataclass
class ImportResult:
    findings: list[Imported]
    sha256: str
    passed_probes: list[str] = field(default_factory=list)


def _refuse(what: str, problems: list[Problem]) -> InvalidInput:
    return InvalidInput(what, problems=problems[:20])


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- garak ---------------------------------------------------------------------------------------------


def probe_area(probe: str) -> Area:
    module = probe.removeprefix("probes.").split(".", 1)[0].lower()
    return _PROBE_AREAS.get(module, Area.OTHER)


def _severity_for(fail_rate: float) -> Severity:
    if fail_rate >= 0.5:
        return Severity.HIGH
    if fail_rate >= 0.2:
        return Severity.MEDIUM
    return Severity.LOW


def _failing(attempt: dict[str, Any]) -> bool:
    """garak's threshold evaluator passes a score below 0.5; one score at or above it is a hit."""
    results = attempt.get("detector_results")
    if not isinstance(results, dict):
        return False
    for scores in results.values():
        if isinstance(scores, list) and any(
            isinstance(s, int | float) and not isinstance(s, bool) and s >= 0.5 for s in scores
        ):
            return True
    return False


def read_garak(blob: bytes, *, limits: Limits = Limits()) -> ImportResult:
    """Findings of a garak report; raises :class:`InvalidInput` (or :class:`TooLarge`) naming the place."""
    if len(blob) > limits.max_bytes:
        raise TooLarge(
            "the garak report is too large", problems=[Problem("file", f"more than {limits.max_bytes} bytes")]
        )
    if not blob.strip():
        raise _refuse("the garak report is empty", [Problem("file", "no lines")])
    sha = hashlib.sha256(blob).hexdigest()
    problems: list[Problem] = []
    init: dict[str, Any] | None = None
    setup: dict[str, Any] = {}
    evals: dict[str, list[dict[str, Any]]] = {}
    attempts: dict[str, list[dict[str, Any]]] = {}
    lines = blob.split(b"\n")
    if len(lines) > limits.max_lines + 1:
        raise TooLarge(
            "the garak report is too long", problems=[Problem("file", f"more than {limits.max_lines} lines")]
        )
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"/lines/{number}"
        try:
            entry = loads_object(raw.decode("utf-8"), max_depth=_MAX_DEPTH)
        except UnicodeDecodeError:
            problems.append(Problem(where, "is not UTF-8"))
        except StrictJsonError as exc:
            problems.append(Problem(where, f"is not a JSON object ({exc.summary})"))
        else:
            kind = entry.get("entry_type")
            if not isinstance(kind, str):
                problems.append(Problem(f"{where}/entry_type", "is required and must be a string"))
            elif kind == "init":
                init = entry
                if not isinstance(entry.get("garak_version"), str):
                    problems.append(Problem(f"{where}/garak_version", "is required and must be a string"))
            elif kind == "start_run setup":
                setup = entry
            elif kind == "attempt":
                probe = entry.get("probe_classname")
                if entry.get("status") == 2 and isinstance(probe, str) and _failing(entry):
                    kept = attempts.setdefault(probe.removeprefix("probes."), [])
                    if len(kept) < MAX_ATTEMPTS_PER_PROBE:
                        kept.append(
                            {
                                "seq": entry.get("seq"),
                                "uuid": entry.get("uuid"),
                                "goal": entry.get("goal"),
                                "prompt": entry.get("prompt"),
                                "outputs": entry.get("outputs"),
                                "detector_results": entry.get("detector_results"),
                            }
                        )
            elif kind == "eval":
                probe, detector = entry.get("probe"), entry.get("detector")
                passed = entry.get("passed")
                total = entry.get("total_evaluated", entry.get("total"))
                bad = False
                for key, value in (("probe", probe), ("detector", detector)):
                    if not isinstance(value, str) or not _NAME.match(value):
                        problems.append(Problem(f"{where}/{key}", "must be a garak plugin name"))
                        bad = True
                if not _count(passed):
                    problems.append(Problem(f"{where}/passed", "must be a non-negative integer"))
                    bad = True
                if not _count(total):
                    problems.append(Problem(f"{where}/total_evaluated", "must be a non-negative integer"))
                    bad = True
                if not bad and isinstance(passed, int) and isinstance(total, int):
                    if passed > total:
                        problems.append(Problem(f"{where}/passed", f"{passed} passed of {total} evaluated"))
                    else:
                        evals.setdefault(str(probe).removeprefix("probes."), []).append(
                            {
                                "detector": str(detector).removeprefix("detectors."),
                                "passed": passed,
                                "total": total,
                            }
                        )
        if len(problems) > 20:
            break
    if init is None:
        problems.append(Problem("/lines", "no init line: this is not a garak report"))
    elif not evals and not problems:
        problems.append(Problem("/lines", "no eval line: the garak run did not finish"))
    if problems or init is None:
        raise _refuse("the garak report is not valid", problems)

    target = setup.get("plugins.target_name", setup.get("plugins.model_name"))
    target_type = setup.get("plugins.target_type", setup.get("plugins.model_type"))
    target_text = " ".join(str(t)[:120] for t in (target_type, target) if isinstance(t, str) and t.strip())
    version = str(init.get("garak_version"))[:40]
    run = str(init.get("run", ""))[:64] or "unknown"
    findings: list[Imported] = []
    passed_probes: list[str] = []
    for probe, detectors in sorted(evals.items()):
        failed = [d for d in detectors if d["passed"] < d["total"]]
        if not failed:
            passed_probes.append(probe)
            continue
        worst = max(failed, key=lambda d: (d["total"] - d["passed"]) / d["total"])
        fail_rate = (worst["total"] - worst["passed"]) / worst["total"]
        rates = [
            f"- detector {d['detector']}: {d['passed']} of {d['total']} outputs passed "
            f"({100 * d['passed'] / d['total']:.1f}% pass rate)"
            if d["total"]
            else f"- detector {d['detector']}: nothing evaluated"
            for d in detectors
        ]
        description = "\n".join(
            [
                f"garak {version} run {run}: probe {probe}"
                + (f" against {target_text}" if target_text else "")
                + f" failed on {worst['total'] - worst['passed']} of {worst['total']} outputs.",
                "",
                "Pass rates:",
                *rates,
            ]
        )
        evidence_doc = {
            "source": "garak",
            "garak_version": version,
            "run": run,
            "target": target_text or None,
            "probe": probe,
            "evals": detectors,
            "failing_attempts": attempts.get(probe, []),
        }
        data = json.dumps(evidence_doc, ensure_ascii=False, indent=1, default=str).encode()
        findings.append(
            Imported(
                title=_short(
                    f"garak {probe}: {100 * fail_rate:.0f}% of outputs failed ({worst['detector']})"
                ),
                severity=_severity_for(fail_rate),
                area=probe_area(probe),
                description=description,
                reproduction=f"Run garak {version} with --probes {probe}"
                + (f" against {target_text}" if target_text else "")
                + "; the failing attempts are in the attached evidence.",
                evidence=[Attachment(f"garak-{probe}.json"[:200], "application/json", data)],
            )
        )
    return ImportResult(findings=findings, sha256=sha, passed_probes=passed_probes)


# --- Inspect ---------------------------------------------------------------------------------------------


class _Zip:
    """A bounded reader of an Inspect ``.eval`` zip (stored, deflated or zstd members)."""

    def __init__(self, blob: bytes, limits: Limits) -> None:
        self.blob = blob
        self.limits = limits
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(blob))
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, ValueError, OSError):
            raise _refuse(
                "the Inspect log is not a readable .eval archive", [Problem("file", "bad zip")]
            ) from None
        if len(infos) > limits.max_members:
            raise TooLarge(
                "the Inspect log has too many members", problems=[Problem("file", f"{len(infos)} members")]
            )
        declared = sum(i.file_size for i in infos)
        if declared > 4 * limits.max_bytes:
            raise TooLarge(
                "the Inspect log expands too much",
                problems=[Problem("file", f"{declared} bytes uncompressed")],
            )
        self.infos = {i.filename: i for i in infos}

    def names(self) -> list[str]:
        return list(self.infos)

    def read(self, name: str) -> bytes:
        info = self.infos[name]
        limit = self.limits.max_bytes
        if info.file_size > limit:
            raise TooLarge(
                "an Inspect log member is too large", problems=[Problem(name, f"{info.file_size} bytes")]
            )
        try:
            if info.compress_type == _ZSTD:
                data = self._zstd(info, limit)
            else:
                with self.zf.open(info) as fh:
                    data = fh.read(limit + 1)
        except (zipfile.BadZipFile, NotImplementedError, OSError, zlib.error, RuntimeError):
            raise _refuse(
                "the Inspect log cannot be read", [Problem(name, "member cannot be decompressed")]
            ) from None
        if len(data) > limit or len(data) != info.file_size:
            raise _refuse(
                "the Inspect log is corrupt", [Problem(name, "size differs from the archive's index")]
            )
        if zlib.crc32(data) != info.CRC:
            raise _refuse("the Inspect log is corrupt", [Problem(name, "checksum mismatch")])
        return data

    def _zstd(self, info: zipfile.ZipInfo, limit: int) -> bytes:
        import zstandard

        offset = info.header_offset
        header = self.blob[offset : offset + 30]
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise OSError("bad local header")
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        start = offset + 30 + name_len + extra_len
        raw = self.blob[start : start + info.compress_size]
        if len(raw) != info.compress_size:
            raise OSError("truncated member")
        try:
            chunks: list[bytes] = []
            size = 0
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)) as reader:
                while size <= limit:
                    chunk = reader.read(min(1 << 20, limit + 1 - size))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
            data = b"".join(chunks)
        except zstandard.ZstdError:
            raise OSError("bad zstd data") from None
        return data


def _json_object(data: bytes, where: str) -> dict[str, Any]:
    try:
        return loads_object(data.decode("utf-8"), max_depth=_MAX_DEPTH)
    except UnicodeDecodeError:
        raise _refuse("the Inspect log is not valid", [Problem(where, "is not UTF-8")]) from None
    except StrictJsonError as exc:
        raise _refuse(
            "the Inspect log is not valid", [Problem(where, f"is not a JSON object ({exc.summary})")]
        ) from None


def _json_any(data: bytes, where: str) -> Any:
    wrapped = _json_object(b'{"v":' + data + b"}", where)
    return wrapped["v"]


def _scores(results: Any, where: str) -> list[tuple[str, dict[str, float]]]:
    out: list[tuple[str, dict[str, float]]] = []
    if results is None:
        return out
    if not isinstance(results, dict):
        raise _refuse("the Inspect log is not valid", [Problem(f"{where}/results", "must be an object")])
    scores = results.get("scores", [])
    if not isinstance(scores, list):
        raise _refuse("the Inspect log is not valid", [Problem(f"{where}/results/scores", "must be a list")])
    for i, score in enumerate(scores[:50]):
        if not isinstance(score, dict) or not isinstance(score.get("name"), str):
            raise _refuse(
                "the Inspect log is not valid", [Problem(f"{where}/results/scores/{i}/name", "is required")]
            )
        metrics: dict[str, float] = {}
        raw_metrics = score.get("metrics", {})
        if isinstance(raw_metrics, dict):
            for name, metric in list(raw_metrics.items())[:50]:
                value = metric.get("value") if isinstance(metric, dict) else None
                if isinstance(value, int | float) and not isinstance(value, bool):
                    metrics[str(name)[:80]] = float(value)
        out.append((str(score["name"])[:80], metrics))
    return out


def _value_counts(summaries: Any) -> dict[str, Counter[str]]:
    """Per scorer, how many samples got each score value (e.g. C / I for correct / incorrect)."""
    counts: dict[str, Counter[str]] = {}
    if not isinstance(summaries, list):
        return counts
    for sample in summaries:
        scores = sample.get("scores") if isinstance(sample, dict) else None
        if not isinstance(scores, dict):
            continue
        for scorer, score in scores.items():
            value = score.get("value") if isinstance(score, dict) else None
            if isinstance(value, str | int | float | bool):
                counts.setdefault(str(scorer)[:80], Counter())[_short(value, 40)] += 1
    return counts


def read_inspect(
    blob: bytes,
    *,
    filename: str,
    severity: Severity = Severity.INFORMATIONAL,
    area: Area = Area.OTHER,
    limits: Limits = Limits(),
) -> ImportResult:
    """One finding summarising an Inspect eval log (``.eval`` zip or ``.json``); the log is its evidence."""
    if len(blob) > limits.max_bytes:
        raise TooLarge(
            "the Inspect log is too large", problems=[Problem("file", f"more than {limits.max_bytes} bytes")]
        )
    sha = hashlib.sha256(blob).hexdigest()
    summaries: Any = None
    if blob[:4] == b"PK\x03\x04":
        archive = _Zip(blob, limits)
        if "header.json" not in archive.names():
            raise _refuse(
                "the Inspect log is not valid", [Problem("header.json", "is missing from the archive")]
            )
        log = _json_object(archive.read("header.json"), "header.json")
        where = "header.json"
        if "summaries.json" in archive.names():
            summaries = _json_any(archive.read("summaries.json"), "summaries.json")
        content_type = "application/zip"
    elif blob.lstrip()[:1] == b"{":
        log = _json_object(blob, "file")
        where = "file"
        summaries = log.get("samples")
        content_type = "application/json"
    else:
        raise _refuse(
            "the file is not an Inspect eval log", [Problem("file", "neither an .eval archive nor JSON")]
        )

    spec = log.get("eval")
    if not isinstance(spec, dict):
        raise _refuse(
            "the Inspect log is not valid", [Problem(f"{where}/eval", "is required and must be an object")]
        )
    problems = [
        Problem(f"{where}/eval/{key}", "is required and must be a string")
        for key in ("task", "model")
        if not isinstance(spec.get(key), str) or not spec.get(key)
    ]
    status = log.get("status")
    if not isinstance(status, str):
        problems.append(Problem(f"{where}/status", "is required and must be a string"))
    if problems:
        raise _refuse("the Inspect log is not valid", problems)
    task, model = _short(spec["task"], 120), _short(spec["model"], 120)
    scores = _scores(log.get("results"), where)
    raw_results, raw_dataset = log.get("results"), spec.get("dataset")
    results: dict[str, Any] = raw_results if isinstance(raw_results, dict) else {}
    dataset: dict[str, Any] = raw_dataset if isinstance(raw_dataset, dict) else {}
    samples = results.get("total_samples", dataset.get("samples"))
    completed = results.get("completed_samples")
    lines = [
        f"Inspect eval log: task {task} on model {model}, status {_short(status, 40)}"
        + (f", created {_short(spec['created'], 40)}" if isinstance(spec.get("created"), str) else "")
        + ".",
    ]
    if _count(samples):
        lines.append(f"Samples: {samples}" + (f", completed {completed}" if _count(completed) else "") + ".")
    if scores:
        lines += ["", "Scores:"]
        for name, metrics in scores:
            shown = ", ".join(f"{m} {v:.4g}" for m, v in metrics.items()) or "no metric"
            lines.append(f"- {name}: {shown}")
    counts = _value_counts(summaries)
    if counts:
        lines += ["", "Sample score values:"]
        for scorer, counter in sorted(counts.items()):
            lines.append(f"- {scorer}: " + ", ".join(f"{v}: {n}" for v, n in counter.most_common(10)))
    error = log.get("error")
    if status == "error" and isinstance(error, dict) and isinstance(error.get("message"), str):
        lines += ["", f"The run ended in an error: {_short(error['message'], 300)}"]
    stats = log.get("stats")
    usage = stats.get("model_usage") if isinstance(stats, dict) else None
    if isinstance(usage, dict):
        for name, used in list(usage.items())[:10]:
            if isinstance(used, dict) and _count(used.get("total_tokens")):
                lines.append(f"Tokens used by {_short(name, 80)}: {used['total_tokens']}.")
    headline = ""
    if scores and scores[0][1]:
        metric, value = next(iter(scores[0][1].items()))
        headline = f": {scores[0][0]} {metric} {value:.3g}"
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", base)[-120:].lstrip("._") or "inspect-log"
    finding = Imported(
        title=_short(f"Inspect {task} on {model}{headline}"),
        severity=severity,
        area=area,
        description="\n".join(lines),
        reproduction=f"Run the Inspect task {task} against {model}; the eval log is attached.",
        evidence=[Attachment(safe_name, content_type, blob)],
    )
    return ImportResult(findings=[finding], sha256=sha)
