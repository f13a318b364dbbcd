"""The determination runner: one Inspect evaluation per subprocess, driven by the sequential test.

The parent (a worker job or a custodian's CLI) calls :func:`run`; it starts
``python -m forewarn.earlyaccess.benchmark.runner`` and hands it a :class:`RunSpec` over a pipe. The
child opens the sealed pack in its memory, draws the whole budget from the sealed seed, and runs the
not-yet-answered prefix with Inspect (public API: ``Task``, ``Sample``, ``solver``, ``scorer``,
``EarlyStopping``) against the model: an OpenAI-compatible endpoint through the small
``forewarn-openai`` provider (:mod:`._provider`), or, where settings allow it, a ``mockllm:`` test
double.

Invariants:

- **One evaluation per process.** Inspect's ``eval`` is not re-entrant; each run has a process of its
  own, so a worker runs several determinations at once and a crash takes only its run with it.
- **Secrets travel by pipe only.** The data key, the sealed pack, the seed, the design and the model
  credential go to the child over stdin, never as arguments or environment. The child writes only
  protocol lines (progress counts and the final result) to its stdout; everything Inspect prints
  goes to stderr, which the parent seals into the run's storage and never logs.
- **No secret reaches Inspect's log header.** Solver and scorer take no arguments: the items, answer
  keys and the threshold are reached through closures, and samples carry no ``target``. Inspect's
  log, data and cache directories (``XDG_DATA_HOME``, ``XDG_CACHE_HOME``, ``TMPDIR``) point into
  the run's sealed storage; after the child exits the parent encrypts every log file there with the
  data key (AES-GCM, associated data = run id and file name) and deletes the plaintext and the
  scratch directories, whatever the exit status.
- **Scheduling order.** Outcomes are fed to :class:`stats.SequentialTest` in the order the samples
  were drawn (the order Inspect schedules them), buffering outcomes that complete early, so the
  verdict does not depend on which call returned first.
- **Early stop, twice.** In enclave mode, once the verdict is reached no further model call is made:
  the ``EarlyStopping`` manager skips samples not yet scheduled, and the solver itself refuses to call
  the model (Inspect skips ``EarlyStopping`` hooks when ``log_samples=False``; this runner logs
  samples to sealed storage, and the solver gate holds even if the hook is skipped).
- **Rubrics go to the grader only.** A ``model_graded`` item is scored by the policy's grader model
  (custodian-set, e.g. an enclave endpoint): the scorer sends it the item's question, its sealed
  rubric (looked up by handle in the opened pack), the reference answer if any and the output, and
  reads ``GRADE: C`` / ``GRADE: I``. The model under test never receives a rubric; a grade that
  cannot be read fails the run (no guessed outcome is fed to the test).
- **Remote mode spends the whole budget.** The lab sees every call, so the run sends all
  ``max_calls`` items at an unchanged pace; the verdict uses the sequential test's outcomes and
  ignores those after it.
- **Never a half verdict; resumable.** The child exits when its parent dies, so a killed worker
  leaves no run going on alone. Every outcome is appended to a sealed progress file as it is
  consumed. A run that ends without a verdict (endpoint errors, a killed worker) exits non-zero; the
  next attempt replays the stored outcomes (``SequentialTest.replay``) and continues the *same*
  sealed sequence. The verdict is written to the database only by the caller, with the attestation,
  in one transaction.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forewarn.core.errors import ForewarnError, InvalidInput
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.benchmark import stats
from forewarn.earlyaccess.benchmark.pack import Item, open_pack
from forewarn.earlyaccess.benchmark.scoring import ScorerKind, grader_prompt, normalize, parse_grade

__all__ = ["RunFailed", "RunIncomplete", "RunResult", "RunSpec", "run", "seal_leftovers"]

EXIT_INCOMPLETE = 3
_PROGRESS = "progress.sealed"
_MOCK_PREFIX = "mockllm:"


class RunFailed(ForewarnError):
    """The evaluation subprocess failed (its output is sealed in the run's storage)."""

    status_code = 502
    title = "Determination run failed"


class RunIncomplete(RunFailed):
    """The run ended without a verdict; a retry resumes the same sealed sequence."""


@dataclass(frozen=True, repr=False)
class RunSpec:
    """Everything a run needs. Sealed content: its repr shows the id only."""

    determination_id: str
    data_key: bytes
    pack_blob: bytes
    design: dict[str, Any]
    seed: bytes
    mode: str
    base_url: str
    model: str
    credential: str | None
    work_dir: Path
    max_samples: int = 1
    max_tokens: int = 48
    timeout_seconds: float = 3600.0
    allow_mock: bool = False
    grader: dict[str, Any] | None = None
    """The policy's grader (``base_url``, ``model``, ``credential``), for model-graded items."""

    def __repr__(self) -> str:
        return f"RunSpec(determination_id={self.determination_id}, <sealed>)"

    def to_wire(self) -> bytes:
        return json.dumps(
            {
                "determination_id": self.determination_id,
                "data_key": base64.b64encode(self.data_key).decode(),
                "pack_blob": base64.b64encode(self.pack_blob).decode(),
                "design": self.design,
                "seed": base64.b64encode(self.seed).decode(),
                "mode": self.mode,
                "base_url": self.base_url,
                "model": self.model,
                "credential": self.credential,
                "work_dir": str(self.work_dir),
                "max_samples": self.max_samples,
                "max_tokens": self.max_tokens,
                "timeout_seconds": self.timeout_seconds,
                "allow_mock": self.allow_mock,
                "grader": self.grader,
            }
        ).encode()

    @classmethod
    def from_wire(cls, data: bytes) -> RunSpec:
        raw = json.loads(data)
        return cls(
            determination_id=raw["determination_id"],
            data_key=base64.b64decode(raw["data_key"]),
            pack_blob=base64.b64decode(raw["pack_blob"]),
            design=raw["design"],
            seed=base64.b64decode(raw["seed"]),
            mode=raw["mode"],
            base_url=raw["base_url"],
            model=raw["model"],
            credential=raw["credential"],
            work_dir=Path(raw["work_dir"]),
            max_samples=int(raw["max_samples"]),
            max_tokens=int(raw["max_tokens"]),
            timeout_seconds=float(raw["timeout_seconds"]),
            allow_mock=bool(raw["allow_mock"]),
            grader=raw.get("grader"),
        )


@dataclass(frozen=True, repr=False)
class RunResult:
    """A finished run. Sealed apart from the verdict: store it sealed, show only the verdict."""

    verdict: stats.Verdict
    outcomes: int
    decided_at: int
    resumed_from: int
    model_calls: int
    early_stops: int

    def __repr__(self) -> str:
        return "RunResult(<sealed>)"

    def sealed_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "outcomes": self.outcomes,
            "decided_at": self.decided_at,
            "resumed_from": self.resumed_from,
            "model_calls": self.model_calls,
            "early_stops": self.early_stops,
        }


# --- the parent side -------------------------------------------------------------------------------


def _aad(kind: str, determination_id: str, name: str = "") -> bytes:
    return f"forewarn run {kind}\n{determination_id}\n{name}".encode()


def _scratch(work_dir: Path) -> Path:
    return work_dir / "scratch"


def seal_leftovers(work_dir: Path, key: DataKey, determination_id: str, *, attempt: str) -> None:
    """Encrypt every Inspect log file of the run and delete the plaintext and the scratch directories."""
    scratch = _scratch(work_dir)
    logs = scratch / "logs"
    sealed = work_dir / "sealed-logs"
    if logs.is_dir():
        sealed.mkdir(parents=True, exist_ok=True, mode=0o700)
        for path in sorted(p for p in logs.rglob("*") if p.is_file()):
            name = f"{attempt}-{path.name}"
            (sealed / f"{name}.sealed").write_bytes(
                key.seal(path.read_bytes(), aad=_aad("log", determination_id, name))
            )
    shutil.rmtree(scratch, ignore_errors=True)


def open_sealed_log(work_dir: Path, key: DataKey, determination_id: str, file_name: str) -> bytes:
    """The plaintext of one sealed Inspect log (custodians' audit; read it with Inspect's log API)."""
    name = file_name.removesuffix(".sealed")
    return key.open(
        (work_dir / "sealed-logs" / file_name).read_bytes(), aad=_aad("log", determination_id, name)
    )


def _child_env(work_dir: Path) -> dict[str, str]:
    scratch = _scratch(work_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOREWARN_", "INSPECT_", "OPENAI_"))}
    dirs = {
        "XDG_DATA_HOME": scratch / "data",
        "XDG_CACHE_HOME": scratch / "cache",
        "XDG_STATE_HOME": scratch / "state",
        "XDG_CONFIG_HOME": scratch / "config",
        "TMPDIR": scratch / "tmp",
        "INSPECT_LOG_DIR": scratch / "logs",
    }
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[name] = str(path)
    env["INSPECT_DISPLAY"] = "none"
    env["INSPECT_LOG_LEVEL"] = "warning"
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def run(
    spec: RunSpec,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    attempt: str = "1",
) -> RunResult:
    """Run one determination in a subprocess and return its (sealed) result.

    Raises :class:`RunIncomplete` when the run ended without a verdict (retry to resume), and
    :class:`RunFailed` when the subprocess failed; neither carries any of the child's output.
    """
    key = DataKey(spec.data_key)
    spec.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    seal_leftovers(spec.work_dir, key, spec.determination_id, attempt=f"{attempt}-stale")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "forewarn.earlyaccess.benchmark.runner",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_child_env(spec.work_dir),
        cwd=str(_scratch(spec.work_dir)),
    )
    if process.stdin is None or process.stdout is None or process.stderr is None:  # pragma: no cover
        raise RunFailed("the evaluation process has no pipes")
    stdout = process.stdout
    process.stdin.write(spec.to_wire())
    process.stdin.write_eof()
    result: dict[str, Any] | None = None
    stderr_task = asyncio.create_task(process.stderr.read())

    async def read_protocol() -> None:
        nonlocal result
        async for line in stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "progress" and on_progress is not None:
                on_progress(int(event["done"]), int(event["total"]))
            elif event.get("event") == "result":
                result = event

    try:
        await asyncio.wait_for(read_protocol(), timeout=spec.timeout_seconds)
        code = await process.wait()
    except BaseException:  # a timeout, a cancelled job, a dying caller: never leave the child running
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    finally:
        stderr = await stderr_task
        if stderr:
            (spec.work_dir / f"stderr-{attempt}.sealed").write_bytes(
                key.seal(stderr, aad=_aad("stderr", spec.determination_id, attempt))
            )
        seal_leftovers(spec.work_dir, key, spec.determination_id, attempt=attempt)
    if code == EXIT_INCOMPLETE:
        raise RunIncomplete("the run ended without a verdict; a retry resumes it")
    if code != 0 or result is None:
        raise RunFailed(f"the evaluation process failed (exit status {code}); its output is sealed")
    return RunResult(
        verdict=stats.Verdict(result["verdict"]),
        outcomes=int(result["outcomes"]),
        decided_at=int(result["decided_at"]),
        resumed_from=int(result["resumed_from"]),
        model_calls=int(result["model_calls"]),
        early_stops=int(result["early_stops"]),
    )


# --- the child side --------------------------------------------------------------------------------


class _Progress:
    """The consumed outcomes: an append-only journal of fixed-size sealed records, one per outcome.

    Record ``i`` is ``DataKey.seal(b"0" | b"1")`` with associated data naming the run and ``i``, so
    records cannot be moved, dropped from the middle or reordered without failing authentication.
    A record cut short by a crash (the file's length is not a multiple of the record size) is the
    one outcome not yet stored: it is dropped, and that sample is asked again on resume. Appending
    30 bytes per outcome replaced rewriting and renaming the whole sealed list after each one,
    which cost about 1.7 ms per outcome (bench/determination.py).
    """

    _RECORD = len(DataKey(b"\0" * 32).seal(b"0", aad=b""))

    def __init__(self, work_dir: Path, key: DataKey, determination_id: str) -> None:
        self.path = work_dir / _PROGRESS
        self.key = key
        self.aad = _aad("progress", determination_id)
        self._file: Any = None
        self._count = 0

    def _record_aad(self, index: int) -> bytes:
        return self.aad + b"\n" + str(index).encode()

    def load(self) -> list[bool]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        whole = len(data) - len(data) % self._RECORD
        if whole != len(data):  # a torn last record: never consumed; drop it
            with self.path.open("r+b") as fh:
                fh.truncate(whole)
        outcomes = []
        for index in range(whole // self._RECORD):
            record = data[index * self._RECORD : (index + 1) * self._RECORD]
            plain = self.key.open(record, aad=self._record_aad(index))
            if plain not in (b"0", b"1"):
                raise InvalidInput("the run's progress journal is malformed")
            outcomes.append(plain == b"1")
        self._count = len(outcomes)
        return outcomes

    def append(self, outcome: bool) -> None:
        if self._file is None:
            self._file = self.path.open("ab", buffering=0)
        self._file.write(self.key.seal(b"1" if outcome else b"0", aad=self._record_aad(self._count)))
        self._count += 1


@dataclass
class _Controller:
    """Feeds outcomes to the sequential test in scheduling (draw) order."""

    test: stats.SequentialTest
    outcomes: list[bool]
    mode: str
    total: int
    progress: _Progress
    emit: Callable[[dict[str, Any]], None]
    pending: dict[int, bool] = field(default_factory=dict)
    skipped: set[int] = field(default_factory=set)
    model_calls: int = 0

    @property
    def next_position(self) -> int:
        return len(self.outcomes)

    def stopped(self) -> bool:
        return self.mode == "enclave" and self.test.verdict is not stats.Verdict.UNDECIDED

    def record(self, position: int, passed: bool) -> None:
        self.pending[position] = passed
        while self.next_position in self.pending:
            outcome = self.pending.pop(self.next_position)
            self.test.observe(outcome)
            self.outcomes.append(outcome)
            self.progress.append(outcome)
        self.emit({"event": "progress", "done": len(self.outcomes), "total": self.total})


def _oracle_text(item: Item, passes: bool) -> str:
    """A mock model's answer: the key's first answer if it passes the item, else a refusal.

    A model-graded item's first reference answer is its right answer here (the mock grader below
    passes an answer that contains a reference answer).
    """
    if passes and item.answers and (item.scorer is ScorerKind.MODEL_GRADED or item.score(item.answers[0])):
        return item.answers[0]
    return "I do not know."


_FENCE = re.compile(r"<(\w+)-([0-9a-f]{32})>\n(.*?)\n</\1-\2>", re.DOTALL)


def _mock_grade(prompt: str) -> str:
    """The mock grader's reply: ``GRADE: C`` when the fenced answer contains a fenced reference answer.

    A test double for custodians' grader models (``mockllm:grader``): it reads the prompt of
    :func:`scoring.grader_prompt` and never sees anything the real grader would not.
    """
    sections = {name: text for name, _, text in _FENCE.findall(prompt)}
    answer = normalize(sections.get("answer", ""))
    references = [normalize(line) for line in sections.get("reference", "").splitlines() if line.strip()]
    passes = "rubric" in sections and any(ref and ref in answer for ref in references)
    return "The answer was compared with the rubric.\nGRADE: " + ("C" if passes else "I")


def _mock_rate(base_url: str) -> float:
    # mockllm:oracle?pass_rate=0.8 — a fake endpoint for tests and benchmarks (settings gate it).
    _, _, query = base_url.partition("?")
    params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
    try:
        rate = float(params.get("pass_rate", "0.5"))
    except ValueError:
        raise InvalidInput("a mock endpoint's pass_rate must be a number") from None
    if not 0.0 <= rate <= 1.0:
        raise InvalidInput("a mock endpoint's pass_rate must be within [0, 1]")
    return rate


def _grader(spec: RunSpec) -> Any:
    """The policy's grader model (``mockllm:grader`` where settings allow mock endpoints)."""
    from inspect_ai.model import GenerateConfig, ModelOutput, ModelUsage, get_model

    if spec.grader is None:
        raise InvalidInput("the pack has model-graded items but the policy names no grader")
    config = GenerateConfig(max_tokens=512, temperature=0.0, max_retries=2, timeout=120)
    base_url = str(spec.grader["base_url"])
    if base_url.startswith(_MOCK_PREFIX):
        if not spec.allow_mock:
            raise InvalidInput("mock endpoints are not allowed on this installation")

        def grade(messages: list[Any], tools: Any, tool_choice: Any, config: Any) -> Any:
            output = ModelOutput.from_content("mockllm/grader", _mock_grade(messages[-1].text))
            output.usage = ModelUsage(input_tokens=64, output_tokens=8, total_tokens=72)
            return output

        return get_model("mockllm/grader", custom_outputs=grade, config=config, memoize=False)
    from forewarn.earlyaccess.benchmark import _provider

    _provider.register()
    return get_model(
        f"{_provider.NAME}/{spec.grader['model']}",
        base_url=base_url,
        api_key=spec.grader.get("credential") or "no-key",
        config=config,
        memoize=False,
    )


def _model(spec: RunSpec, items: list[tuple[int, Item]]) -> Any:
    from inspect_ai.model import GenerateConfig, ModelOutput, ModelUsage, get_model

    config = GenerateConfig(max_tokens=spec.max_tokens, temperature=0.0, max_retries=2, timeout=120)
    if spec.base_url.startswith(_MOCK_PREFIX):
        if not spec.allow_mock:
            raise InvalidInput("mock endpoints are not allowed on this installation")
        rate = _mock_rate(spec.base_url)

        def outputs() -> Any:
            for _, item in items:
                passes = random.Random(item.id).random() < rate  # noqa: S311 -- a test double, not crypto
                output = ModelOutput.from_content("mockllm/model", _oracle_text(item, passes))
                # Offline, token counting would otherwise fetch a tokenizer (MACHINE-NOTES).
                output.usage = ModelUsage(input_tokens=16, output_tokens=4, total_tokens=20)
                yield output

        return get_model("mockllm/model", custom_outputs=outputs(), config=config)
    from forewarn.earlyaccess.benchmark import _provider

    _provider.register()
    return get_model(
        f"{_provider.NAME}/{spec.model}",
        base_url=spec.base_url,
        api_key=spec.credential or "no-key",
        config=config,
    )


def _evaluate(
    spec: RunSpec, controller: _Controller, items: list[tuple[int, Item]], rubrics: Callable[[str], str]
) -> int:
    """Run the Inspect evaluation of ``items`` (position, item); returns the early stops Inspect made.

    ``rubrics`` gives a rubric's sealed text by handle (the opened pack's :meth:`Pack.rubric`).
    """
    from inspect_ai import Task, eval
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.scorer import CORRECT, INCORRECT, NOANSWER, Score, Target, accuracy, scorer
    from inspect_ai.solver import Generate, TaskState, solver
    from inspect_ai.util import EarlyStop

    by_position = dict(items)
    graded = any(item.scorer is ScorerKind.MODEL_GRADED for _, item in items)
    grader = _grader(spec) if graded else None

    async def passes(item: Item, output: str) -> bool:
        if item.scorer is not ScorerKind.MODEL_GRADED:
            return item.score(output)
        if grader is None or item.rubric is None:  # pragma: no cover - checked when built and above
            raise InvalidInput("a model-graded item has no grader or no rubric")
        prompt = grader_prompt(
            question=item.input,
            rubric=rubrics(item.rubric),
            reference=item.answers,
            output=output,
            boundary=secrets.token_hex(16),
        )
        reply = await grader.generate(prompt)
        return parse_grade(reply.completion)

    class SealedStopping:
        """Inspect's early-stopping hook, driven by the sequential test."""

        async def start_task(self, task: Any, samples: list[Any], epochs: int) -> str:
            return "forewarn-sequential-test"

        async def schedule_sample(self, id: str | int, epoch: int) -> EarlyStop | None:
            if controller.stopped():
                return EarlyStop(id=id, epoch=epoch, reason="verdict reached")
            return None

        async def complete_sample(self, id: str | int, epoch: int, scores: dict[str, Any]) -> None:
            return None

        async def complete_task(self) -> dict[str, Any]:
            return {}  # nothing about the run goes into the log's results

    # Solver and scorer take no arguments: anything passed would be written to the log header.
    @solver(name="forewarn_sealed_generate")
    def sealed_generate() -> Any:
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            if controller.stopped():
                controller.skipped.add(int(state.sample_id))
                state.completed = True
                return state
            controller.model_calls += 1
            return await generate(state)

        return solve

    @scorer(metrics=[accuracy()], name="forewarn_sealed_score")
    def sealed_score() -> Any:
        async def score(state: TaskState, target: Target) -> Score:
            position = int(state.sample_id)
            if position in controller.skipped:
                return Score(value=NOANSWER)
            passed = await passes(by_position[position], state.output.completion if state.output else "")
            controller.record(position, passed)
            return Score(value=CORRECT if passed else INCORRECT)

        return score

    task = Task(
        name="forewarn_determination",
        dataset=MemoryDataset([Sample(id=position, input=item.prompt()) for position, item in items]),
        solver=sealed_generate(),
        scorer=sealed_score(),
        early_stopping=SealedStopping(),
    )
    logs = eval(
        task,
        model=_model(spec, items),
        log_dir=os.environ.get("INSPECT_LOG_DIR"),
        log_samples=True,
        max_samples=spec.max_samples,
        max_connections=spec.max_samples,
        display="none",
        log_level="warning",
        score_display=False,
        fail_on_error=True,
    )
    early = logs[0].results.early_stopping if logs and logs[0].results else None
    return len(early.early_stops) if early is not None else 0


def _child(spec: RunSpec, emit: Callable[[dict[str, Any]], None]) -> int:
    key = DataKey(spec.data_key)
    pack = open_pack(spec.pack_blob, key)
    design = stats.Design.from_dict(spec.design)
    if spec.mode not in ("enclave", "remote"):
        raise InvalidInput("unknown mode")
    sequence = pack.draw(design.max_calls, seed=spec.seed)
    progress = _Progress(spec.work_dir, key, spec.determination_id)
    outcomes = progress.load()
    resumed_from = len(outcomes)
    test = stats.SequentialTest.replay(design, outcomes)
    # Enclave: the test always decides by its horizon. Remote: the whole budget, always.
    stop = design.horizon if spec.mode == "enclave" else design.max_calls
    controller = _Controller(
        test=test, outcomes=outcomes, mode=spec.mode, total=stop, progress=progress, emit=emit
    )
    early_stops = 0
    if not controller.stopped() and len(outcomes) < stop:
        items = [(position, sequence[position]) for position in range(len(outcomes), stop)]
        early_stops = _evaluate(spec, controller, items, pack.rubric)
    finished = test.verdict is not stats.Verdict.UNDECIDED and (
        spec.mode == "enclave" or len(outcomes) == design.max_calls
    )
    if not finished:
        return EXIT_INCOMPLETE
    emit(
        {
            "event": "result",
            "verdict": test.verdict.value,
            "outcomes": len(outcomes),
            "decided_at": test.decided_at,
            "resumed_from": resumed_from,
            "model_calls": controller.model_calls,
            "early_stops": early_stops,
        }
    )
    return 0


def _die_with_parent() -> None:
    """Exit as soon as the parent is gone: a killed worker must not leave a run going on alone
    (its retry would run beside it, and the orphan would keep calling the model)."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(EXIT_INCOMPLETE)
            time.sleep(0.5)

    threading.Thread(target=watch, name="forewarn-parent-watch", daemon=True).start()


def main() -> int:
    """The child process: read a spec from stdin, run, write protocol lines to the real stdout."""
    _die_with_parent()
    spec = RunSpec.from_wire(sys.stdin.buffer.read())
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever else prints goes to stderr, which the parent seals
    sys.stdout = sys.stderr

    def emit(event: dict[str, Any]) -> None:
        protocol.write(json.dumps(event) + "\n")
        protocol.flush()

    return _child(spec, emit)


if __name__ == "__main__":
    sys.exit(main())
