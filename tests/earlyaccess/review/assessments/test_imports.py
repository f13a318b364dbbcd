"""garak reports and Inspect eval logs → findings, read without garak or Inspect (pure: no database)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests import conftest
from tests.earlyaccess.review.assessments import world

from forewarn.core.errors import InvalidInput, TooLarge
from forewarn.earlyaccess.review.assessments import imports
from forewarn.earlyaccess.review.assessments.schemas import Area, Severity


def test_garak_report_becomes_one_finding_per_failed_probe() -> None:
    result = imports.read_garak(world.garak_report())
    by_title = {f.title.split(":")[0]: f for f in result.findings}
    assert set(by_title) == {"garak dan.Dan_11_0", "garak malwaregen.Evasion"}
    assert result.passed_probes == ["encoding.InjectBase64"]
    dan = by_title["garak dan.Dan_11_0"]
    # The worst detector decides: 4 of 10 failed → 40% → medium; both detectors' pass rates listed.
    assert dan.severity is Severity.MEDIUM and dan.area is Area.MODEL_SECURITY
    assert "dan.DAN: 6 of 10 outputs passed (60.0% pass rate)" in dan.description
    assert "mitigation.MitigationBypass: 9 of 10 outputs passed (90.0% pass rate)" in dan.description
    malware = by_title["garak malwaregen.Evasion"]
    assert malware.severity is Severity.HIGH and malware.area is Area.CYBER_OFFENCE
    # The failing attempts (and only those) are the evidence.
    (evidence,) = dan.evidence
    doc = json.loads(evidence.data)
    assert evidence.content_type == "application/json" and doc["probe"] == "dan.Dan_11_0"
    assert [a["seq"] for a in doc["failing_attempts"]] == [0]
    assert len(result.sha256) == 64


_INIT = b'{"entry_type": "init", "garak_version": "0.13"}\n'


def _eval(probe: str = "dan.X", passed: int = 1) -> bytes:
    line = {"entry_type": "eval", "probe": probe, "detector": "d.Y", "passed": passed, "total_evaluated": 2}
    return json.dumps(line).encode() + b"\n"


@pytest.mark.parametrize(
    ("blob", "where"),
    [
        (b"", "file"),
        (_eval(), "/lines"),
        (b'{"entry_type": "init", "garak_version": "0.13"}\n', "/lines"),
        (b'{"entry_type": "init", "garak_version": "0.13"}\nnot json\n', "/lines/2"),
        (_INIT + _eval(passed=5), "/lines/2/passed"),
        (_INIT + _eval(probe="dan X"), "/lines/2/probe"),
        (b'{"entry_type": 3}\n', "/lines/1/entry_type"),
        (b'{"a": 1, "a": 2}\n', "/lines/1"),
    ],
)
def test_bad_garak_reports_are_refused_naming_the_place(blob: bytes, where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        imports.read_garak(blob)
    assert any(p.field == where for p in caught.value.problems), caught.value.problems


def test_oversized_garak_reports_are_refused() -> None:
    with pytest.raises(TooLarge):
        imports.read_garak(world.garak_report(), limits=imports.Limits(max_bytes=100))
    with pytest.raises(TooLarge):
        imports.read_garak(world.garak_report(), limits=imports.Limits(max_lines=3))


def test_inspect_eval_archive_becomes_a_summary_finding() -> None:
    blob = world.inspect_eval_zip()
    result = imports.read_inspect(blob, filename="run.eval", severity=Severity.LOW, area=Area.CBRN)
    (finding,) = result.findings
    assert finding.title == "Inspect cyber_uplift on openai-api/gateway/wren: match accuracy 0.667"
    assert finding.severity is Severity.LOW and finding.area is Area.CBRN
    assert "match: accuracy 0.6667, stderr 0.3333" in finding.description
    assert "match: C: 2, I: 1" in finding.description
    assert "Tokens used by openai-api/gateway/wren: 12." in finding.description
    (evidence,) = finding.evidence
    assert evidence.data == blob and evidence.content_type == "application/zip"


def test_inspect_json_log_becomes_a_summary_finding() -> None:
    result = imports.read_inspect(world.inspect_json(status="error"), filename="run.json")
    (finding,) = result.findings
    assert "status error" in finding.description and finding.severity is Severity.INFORMATIONAL
    assert finding.evidence[0].content_type == "application/json"


def test_a_real_inspect_log_is_read(tmp_path: Path) -> None:
    """An .eval log written by Inspect itself (mockllm, offline): its members are zstd-compressed
    (method 93), which Python 3.11's zipfile cannot read; forewarn reads them without Inspect."""
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput, ModelUsage, get_model
    from inspect_ai.scorer import match
    from inspect_ai.solver import generate

    outputs = []
    for text in ("4", "9"):
        out = ModelOutput.from_content(model="model", content=text)
        out.usage = ModelUsage(input_tokens=3, output_tokens=1, total_tokens=4)
        outputs.append(out)
    task = Task(
        name="sums",
        dataset=[Sample(input="2+2?", target="4"), Sample(input="3+3?", target="6")],
        solver=generate(),
        scorer=match(),
    )
    (log,) = inspect_eval(
        task, model=get_model("mockllm/model", custom_outputs=outputs), log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success"
    (path,) = tmp_path.glob("*.eval")
    assert {i.compress_type for i in zipfile.ZipFile(path).infolist()} == {93}
    result = imports.read_inspect(path.read_bytes(), filename=path.name)
    (finding,) = result.findings
    assert finding.title.startswith("Inspect sums on mockllm/model: match accuracy 0.5")
    assert "match: C: 1, I: 1" in finding.description


@pytest.mark.parametrize(
    ("blob", "where"),
    [
        (b"hello", "file"),
        (b"PK\x03\x04broken", "file"),
        (b'{"status": "success"}', "file/eval"),
        (b'{"status": "success", "eval": {"task": "t"}}', "file/eval/model"),
        (b'{"eval": {"task": "t", "model": "m"}}', "file/status"),
    ],
)
def test_bad_inspect_logs_are_refused_naming_the_place(blob: bytes, where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        imports.read_inspect(blob, filename="x.json")
    assert any(p.field == where for p in caught.value.problems), caught.value.problems


def test_an_eval_archive_without_header_or_with_a_bomb_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("summaries.json", "[]")
    with pytest.raises(InvalidInput) as caught:
        imports.read_inspect(buffer.getvalue(), filename="x.eval")
    assert caught.value.problems[0].field == "header.json"

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("header.json", b" " * 5_000_000)
    assert len(bomb.getvalue()) < 50_000
    with pytest.raises(TooLarge):
        imports.read_inspect(bomb.getvalue(), filename="x.eval", limits=imports.Limits(max_bytes=1_000_000))


def test_public_samples_when_present() -> None:
    """Samples in the shared test data (garak/, inspect/), when someone has put them there."""
    folder = conftest.testdata()
    found = 0
    for path in sorted(folder.glob("garak/*.jsonl")):
        assert imports.read_garak(path.read_bytes()).sha256
        found += 1
    for path in sorted([*folder.glob("inspect/*.eval"), *folder.glob("inspect/*.json")]):
        assert imports.read_inspect(path.read_bytes(), filename=path.name).findings
        found += 1
    if not found:
        pytest.skip("no garak or Inspect sample in the shared test data")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 50) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
_ENTRY = st.fixed_dictionaries(
    {"entry_type": st.sampled_from(["init", "eval", "attempt", "start_run setup", "digest", 3])},
    optional={
        "garak_version": _JSON,
        "probe": st.sampled_from(["dan.X", "x y", 4]),
        "detector": _JSON,
        "passed": _JSON,
        "total_evaluated": _JSON,
        "status": _JSON,
        "probe_classname": _JSON,
        "detector_results": _JSON,
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ENTRY, max_size=8), st.binary(max_size=20))
def test_garak_reader_refuses_or_reads_never_crashes(entries: list[dict[str, object]], junk: bytes) -> None:
    blob = b"\n".join(json.dumps(e).encode() for e in entries) + b"\n" + junk
    error: InvalidInput | None = None
    try:
        result = imports.read_garak(blob)
    except InvalidInput as exc:
        error = exc
    if error is not None:
        assert error.problems, error.message  # a refusal names its place
    else:
        assert all(f.title and f.evidence for f in result.findings)


@settings(max_examples=100, deadline=None)
@given(_JSON, st.sampled_from(["x.json", "x.eval"]))
def test_inspect_reader_refuses_or_reads_never_crashes(doc: object, name: str) -> None:
    error: InvalidInput | None = None
    try:
        result = imports.read_inspect(json.dumps(doc).encode(), filename=name)
    except InvalidInput as exc:
        error = exc
    if error is not None:
        assert error.problems, error.message
    else:
        assert len(result.findings) == 1
