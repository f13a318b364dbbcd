"""Covered-model determinations: what they cost in model calls, and in wall time against bare Inspect.

Section 1 — calls. The truncated SPRT of ``forewarn.earlyaccess.benchmark.stats`` against the
fixed-n exact binomial test at the same p0, delta, alpha and beta, over simulated models whose true
pass rates are spread over [0, 1] (101 values, 0.00 … 1.00). Every figure is exact (dynamic
programming over binomial paths), not simulated: the mean number of calls to a verdict, the
achieved error rates at p0 - delta and p0 + delta, and the same for the curtailed fixed test. The
budget (max calls) is a policy choice; the sequential test needs some head-room above the fixed n,
so the table also sweeps it.

Section 2 — harness overhead: a determination's wall time (``runner.run``: a subprocess that
opens the sealed pack, checks the design, draws from the sealed seed, runs Inspect with the sequential
test, journals each outcome sealed and finally seals the Inspect log) against a bare Inspect ``eval``
of the same samples on ``mockllm`` with the same outputs, also in a fresh subprocess (both pay
Python's and Inspect's start-up: a determination always runs in a process of its own, so a bare
eval in the bench's own, already warm, process would not be the same work). Remote mode, so both
send every sample. Runs alternate in ABBA order (determination, bare, bare, determination, …) so a
drift in machine load hits both alike; the medians of wall time and of the children's CPU time
(user + system, less sensitive to other processes on a shared machine) are compared.

The ratio printed last is the mean, over the configuration grid, of (mean sequential calls / fixed-n
calls); the goal in issue 5 is at most 1/3, with the error rates held.

Run: ``uv run python bench/determination.py``
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from forewarn.earlyaccess.benchmark import stats
from forewarn.earlyaccess.benchmark.stats import ThresholdSpec

GRID = [i / 100 for i in range(101)]
BUDGET_FACTOR = 1.5  # budget = ceil(1.5 x fixed n) in the configuration grid
CONFIGS = [
    (p0, delta, alpha, beta)
    for p0 in (0.2, 0.5, 0.8)
    for delta in (0.03, 0.05, 0.1)
    for alpha, beta in ((0.05, 0.05), (0.01, 0.1))
]
HEADLINE = (0.5, 0.05, 0.05, 0.05)
SWEEP = (1.0, 1.1, 1.25, 1.5, 2.0, 3.0)


@dataclass
class Row:
    label: str
    fixed_n: int
    fixed_alpha: float
    fixed_beta: float
    budget: int
    horizon: int
    alpha: float
    beta: float
    mean_calls: float
    worst_calls: float
    curtailed_mean: float
    seconds: float

    @property
    def ratio(self) -> float:
        return self.mean_calls / self.fixed_n


def measure(p0: float, delta: float, alpha: float, beta: float, factor: float) -> Row:
    started = time.perf_counter()
    fixed = stats.fixed_sample_size(p0, delta, alpha, beta)
    spec = ThresholdSpec(p0=p0, delta=delta, alpha=alpha, beta=beta, max_calls=math.ceil(fixed.n * factor))
    design = stats.design(spec)
    points = [stats.operating_characteristic(design, p) for p in GRID]
    # The exact fixed-n test at its own n, curtailed (stops once its verdict is certain).
    curtailed = stats.fixed_design(
        ThresholdSpec(p0=p0, delta=delta, alpha=alpha, beta=beta, max_calls=fixed.n)
    )
    curtailed_points = [stats.operating_characteristic(curtailed, p) for p in GRID]
    low = stats.operating_characteristic(design, spec.p_low)
    high = stats.operating_characteristic(design, spec.p_high)
    return Row(
        label=f"p0={p0:.2f} d={delta:.2f} a={alpha:.2f} b={beta:.2f} x{factor:g}",
        fixed_n=fixed.n,
        fixed_alpha=fixed.alpha_achieved,
        fixed_beta=fixed.beta_achieved,
        budget=spec.max_calls,
        horizon=design.horizon,
        alpha=low.covered,
        beta=high.not_covered,
        mean_calls=sum(point.expected_calls for point in points) / len(points),
        worst_calls=max(point.expected_calls for point in points),
        curtailed_mean=sum(point.expected_calls for point in curtailed_points) / len(curtailed_points),
        seconds=time.perf_counter() - started,
    )


HEADER = (
    f"{'configuration':<40} {'fixed n':>7} {'a fix':>6} {'b fix':>6} {'budget':>6} {'a seq':>6} {'b seq':>6} "
    f"{'E[calls]':>8} {'max E':>7} {'curt.':>7} {'ratio':>6} {'s':>5}"
)


def show(row: Row) -> None:
    print(
        f"{row.label:<40} {row.fixed_n:>7} {row.fixed_alpha:>6.4f} {row.fixed_beta:>6.4f} {row.budget:>6} "
        f"{row.alpha:>6.4f} {row.beta:>6.4f} {row.mean_calls:>8.1f} {row.worst_calls:>7.1f} "
        f"{row.curtailed_mean:>7.1f} {row.ratio:>6.3f} {row.seconds:>5.2f}"
    )


def without_replacement(p0: float, delta: float, alpha: float, beta: float, factor: float, packs: int) -> str:
    fixed = stats.fixed_sample_size(p0, delta, alpha, beta)
    spec = ThresholdSpec(p0=p0, delta=delta, alpha=alpha, beta=beta, max_calls=math.ceil(fixed.n * factor))
    design = stats.design(spec)
    size = packs * spec.max_calls
    low = stats.operating_characteristic_finite(
        design, population=size, passing=math.floor(spec.p_low * size)
    )
    high = stats.operating_characteristic_finite(
        design, population=size, passing=math.ceil(spec.p_high * size)
    )
    return (
        f"  pack of {size} items (= {packs} x budget), deterministic model: "
        f"a = {low.covered:.4f} (<= {alpha}), b = {high.not_covered:.4f} (<= {beta})"
    )


def remote_mode(p0: float, delta: float, alpha: float, beta: float, factor: float) -> str:
    fixed = stats.fixed_sample_size(p0, delta, alpha, beta)
    spec = ThresholdSpec(p0=p0, delta=delta, alpha=alpha, beta=beta, max_calls=math.ceil(fixed.n * factor))
    sequential = stats.design(spec)
    at_budget = stats.fixed_design(spec)
    seq_a, seq_b = sequential.alpha_achieved, sequential.beta_achieved
    fix_a, fix_b = at_budget.alpha_achieved, at_budget.beta_achieved
    return (
        f"remote mode spends the whole budget: {spec.max_calls} calls"
        f" = {spec.max_calls / fixed.n:.2f} x fixed n;\n"
        f"  verdict by the sequential test: a = {seq_a:.4f}, b = {seq_b:.4f};"
        f" by the fixed test at the budget: a = {fix_a:.4f}, b = {fix_b:.4f}"
    )


_BARE_EVAL = """
import json, os, sys
from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig, ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import match
from inspect_ai.solver import generate

rows = json.loads(open(sys.argv[1]).read())

def outputs():
    for row in rows:
        out = ModelOutput.from_content("mockllm/model", row["output"])
        out.usage = ModelUsage(input_tokens=16, output_tokens=4, total_tokens=20)
        yield out

config = GenerateConfig(max_tokens=48, temperature=0.0)
model = get_model("mockllm/model", custom_outputs=outputs(), config=config)
task = Task(
    dataset=MemoryDataset([Sample(id=i, input=r["input"], target=r["target"]) for i, r in enumerate(rows)]),
    solver=generate(),
    scorer=match(),
)
eval(task, model=model, log_dir=os.environ["INSPECT_LOG_DIR"], log_samples=True, max_samples=1,
     max_connections=1, display="none", log_level="warning", score_display=False)
"""


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def harness_overhead(calls: int = 300, repeats: int = 6) -> tuple[float, float]:
    """Median wall (and CPU) time of a remote-mode determination of ``calls`` samples over a bare eval's."""
    import asyncio
    import json
    import os
    import shutil
    import statistics
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from forewarn.core.keys import DataKey
    from forewarn.earlyaccess.benchmark import pack, runner
    from forewarn.earlyaccess.benchmark.example import write_example_pack

    root = Path(tempfile.mkdtemp(prefix="fw-bench-"))
    try:
        key = DataKey(os.urandom(32))
        blob = pack.build(write_example_pack(root / "example"), key)
        opened = pack.open_pack(blob, key)
        spec = ThresholdSpec(p0=0.5, delta=0.1, alpha=0.05, beta=0.05, max_calls=calls)
        design = stats.design(spec)
        seed = pack.new_seed()
        rate = 0.5
        url = f"mockllm:oracle?pass_rate={rate}"
        import random

        rows = []
        for item in opened.draw(calls, seed=seed):
            passes = random.Random(item.id).random() < rate  # the runner's mock oracle, same outputs
            output = runner._oracle_text(item, passes)
            rows.append(
                {"input": item.prompt(), "target": item.answers[0] if item.answers else "", "output": output}
            )
        data_file = root / "samples.json"
        data_file.write_text(json.dumps(rows))
        script = root / "bare_eval.py"
        script.write_text(_BARE_EVAL)

        def determination(i: int) -> tuple[float, float]:
            work = root / f"det-{i}"
            run_spec = runner.RunSpec(
                determination_id=f"bench-{i}", data_key=key.raw, pack_blob=blob, design=design.to_dict(),
                seed=seed, mode="remote", base_url=url, model="m", credential=None, work_dir=work,
                allow_mock=True,
            )  # fmt: skip
            cpu, start = _children_cpu(), time.perf_counter()
            result = asyncio.run(runner.run(run_spec))
            elapsed = time.perf_counter() - start
            if result.outcomes != calls:
                raise RuntimeError("the determination did not send the whole budget")
            return elapsed, _children_cpu() - cpu

        def bare(i: int) -> tuple[float, float]:
            scratch = root / f"bare-{i}"
            env = runner._child_env(scratch)
            cpu, start = _children_cpu(), time.perf_counter()
            subprocess.run([sys.executable, str(script), str(data_file)], env=env, check=True, cwd=scratch)
            return time.perf_counter() - start, _children_cpu() - cpu

        bare(-1)  # warm the file cache for both
        determination(-1)
        det_runs, bare_runs = [], []
        for i in range(repeats):  # ABBA: D B B D D B B D …
            pair = (determination, bare) if i % 2 == 0 else (bare, determination)
            for run in pair:
                (det_runs if run is determination else bare_runs).append(run(i))
        det, base = statistics.median(t for t, _ in det_runs), statistics.median(t for t, _ in bare_runs)
        det_cpu, base_cpu = (
            statistics.median(c for _, c in det_runs),
            statistics.median(c for _, c in bare_runs),
        )
        print(
            f"  {calls} samples, remote mode (every sample sent), median of {repeats} runs each, ABBA order:"
        )
        print(f"  determination (runner subprocess): wall {det:6.2f} s, CPU {det_cpu:6.2f} s")
        print("    runs (wall/CPU): " + ", ".join(f"{t:.2f}/{c:.2f}" for t, c in det_runs))
        print(f"  bare Inspect eval (subprocess):    wall {base:6.2f} s, CPU {base_cpu:6.2f} s")
        print("    runs (wall/CPU): " + ", ".join(f"{t:.2f}/{c:.2f}" for t, c in bare_runs))
        print(f"  per sample (wall): {1000 * det / calls:.1f} ms vs {1000 * base / calls:.1f} ms")
        print(f"  CPU-time ratio (determination / bare): {det_cpu / base_cpu:.3f}")
        return det / base, det_cpu / base_cpu
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    print("Section 1: model calls to a verdict — truncated SPRT vs fixed-n exact binomial test")
    print("(exact dynamic programming; mean over 101 true pass rates 0.00 … 1.00)")
    print(
        "columns: a/b fix = achieved error rates of the fixed-n test; a/b seq = of the sequential test at"
        " p0-d / p0+d;\n         E[calls] = mean expected calls over the rates; max E = worst expected calls;"
        " curt. = curtailed fixed-n mean;\n         ratio = E[calls] / fixed n"
    )
    print()
    print(
        f"Budget sweep, headline policy p0={HEADLINE[0]}, d={HEADLINE[1]}, a={HEADLINE[2]}, b={HEADLINE[3]}:"
    )
    print(HEADER)
    for factor in SWEEP:
        try:
            show(measure(*HEADLINE, factor))
        except stats.InvalidInput:
            print(f"{'x' + format(factor, 'g'):<40} infeasible budget")
    print()
    print(f"Configuration grid, budget = ceil({BUDGET_FACTOR} x fixed n):")
    print(HEADER)
    rows = []
    for config in CONFIGS:
        row = measure(*config, BUDGET_FACTOR)
        rows.append(row)
        show(row)
    held = all(
        row.alpha <= config[2] and row.beta <= config[3] for row, config in zip(rows, CONFIGS, strict=True)
    )
    print()
    pairs = list(zip(rows, CONFIGS, strict=True))
    print(f"error rates held in every configuration: {'yes' if held else 'NO'}")
    print(f"worst achieved alpha / policy alpha: {max(r.alpha / c[2] for r, c in pairs):.3f}")
    print(f"worst achieved beta / policy beta:   {max(r.beta / c[3] for r, c in pairs):.3f}")
    print("sampling without replacement (the pack is finite; the design assumes independent draws):")
    print(without_replacement(*HEADLINE, BUDGET_FACTOR, packs=2))
    print(without_replacement(*HEADLINE, BUDGET_FACTOR, packs=5))
    print(remote_mode(*HEADLINE, BUDGET_FACTOR))
    print()
    print("Section 2: harness overhead — determination wall time vs bare Inspect eval on mockllm")
    overhead, _ = harness_overhead()
    print()
    headline = next(row for row, config in zip(rows, CONFIGS, strict=True) if config == HEADLINE)
    print(f"headline policy ratio ({headline.label}): {headline.ratio:.3f}")
    mean_ratio = sum(row.ratio for row in rows) / len(rows)
    print(f"harness overhead ratio (determination / bare Inspect eval, goal <= 1.1): {overhead:.3f}")
    print(f"ratio (mean sequential calls / fixed-n calls, mean over {len(rows)} configs): {mean_ratio:.3f}")


if __name__ == "__main__":
    main()
