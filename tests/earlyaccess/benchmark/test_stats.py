"""The truncated sequential test: exact error rates, simulation, invariants, the fixed-n baseline."""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction
from statistics import NormalDist

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from forewarn.core.errors import InvalidInput
from forewarn.earlyaccess.benchmark import stats
from forewarn.earlyaccess.benchmark.stats import SequentialTest, ThresholdSpec, Verdict

# A spec fast enough to simulate many times: fixed-n 56, budget 84.
FAST = ThresholdSpec(p0=0.5, delta=0.1, alpha=0.05, beta=0.1, max_calls=84)
SKEWED = ThresholdSpec(p0=0.3, delta=0.08, alpha=0.02, beta=0.05, max_calls=300)


# --- specs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"p0": 0.0}, "p0"),
        ({"p0": 1.2}, "p0"),
        ({"p0": float("nan")}, "p0"),
        ({"delta": 0.0}, "delta"),
        ({"delta": 0.6}, "delta"),
        ({"p0": 0.05, "delta": 0.05}, "delta"),
        ({"alpha": 0.5}, "alpha"),
        ({"beta": 0.0}, "beta"),
        ({"max_calls": 0}, "max_calls"),
        ({"max_calls": stats.MAX_CALLS_LIMIT + 1}, "max_calls"),
        ({"max_calls": 10.0}, "max_calls"),
        ({"max_calls": True}, "max_calls"),
        ({"alpha": "0.05"}, "alpha"),
    ],
)
def test_spec_validation(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"p0": 0.4373, "delta": 0.0519, "alpha": 0.05, "beta": 0.1, "max_calls": 500}
    values.update(changes)
    with pytest.raises(InvalidInput) as caught:
        ThresholdSpec(**values)  # type: ignore[arg-type]
    assert field in [problem.field for problem in caught.value.problems]
    # The threshold is sealed: no message repeats a value.
    assert "0.4373" not in str(caught.value)
    assert "0.0519" not in str(caught.value)


def test_sealed_reprs() -> None:
    spec = ThresholdSpec(p0=0.4373, delta=0.05, alpha=0.05, beta=0.05, max_calls=400)
    built = stats.design(spec)
    test = SequentialTest(built)
    test.observe(True)
    for shown in (
        repr(spec),
        repr(built),
        repr(test),
        repr(stats.fixed_sample_size(0.4373, 0.05, 0.05, 0.05)),
    ):
        assert "0.4373" not in shown
        assert "0.43" not in shown
        assert "upper" not in shown


def test_budget_too_small_is_refused_without_numbers() -> None:
    spec = ThresholdSpec(p0=0.6173, delta=0.05, alpha=0.05, beta=0.05, max_calls=40)
    with pytest.raises(InvalidInput) as caught:
        stats.design(spec)
    assert "0.6173" not in str(caught.value)
    assert "269" not in str(caught.value)
    with pytest.raises(InvalidInput):
        stats.fixed_design(spec)


# --- exact error rates ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [FAST, SKEWED], ids=["fast", "skewed"])
def test_design_keeps_error_rates(spec: ThresholdSpec) -> None:
    built = stats.design(spec)
    low = stats.operating_characteristic(built, spec.p_low)
    high = stats.operating_characteristic(built, spec.p_high)
    assert low.covered <= spec.alpha
    assert high.not_covered <= spec.beta
    assert low.covered == pytest.approx(built.alpha_achieved)
    assert high.not_covered == pytest.approx(built.beta_achieved)
    # Monotone operating characteristic: the bounds hold over the whole hypotheses.
    grid = [i / 200 for i in range(201)]
    covered = [stats.operating_characteristic(built, p).covered for p in grid]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(covered))
    assert all(c <= spec.alpha for p, c in zip(grid, covered, strict=True) if p <= spec.p_low)
    assert all(1 - c <= spec.beta + 1e-12 for p, c in zip(grid, covered, strict=True) if p >= spec.p_high)
    for p in grid[::20]:
        point = stats.operating_characteristic(built, p)
        assert point.covered + point.not_covered == pytest.approx(1.0, abs=1e-12)
        assert 0 <= point.expected_calls <= spec.max_calls


def _enumerate(design: stats.Design, p: Fraction) -> tuple[Fraction, Fraction]:
    """P(covered) and E[calls] by walking every full outcome sequence (independent of the DP)."""
    covered = Fraction(0)
    calls = Fraction(0)
    for outcomes in itertools.product((False, True), repeat=design.max_calls):
        weight = Fraction(1)
        for outcome in outcomes:
            weight *= p if outcome else 1 - p
        test = SequentialTest.replay(design, outcomes)
        assert test.decided_at is not None
        covered += weight if test.verdict is Verdict.COVERED else 0
        calls += weight * test.decided_at
    return covered, calls


def test_dynamic_programme_matches_enumeration() -> None:
    spec = ThresholdSpec(p0=0.5, delta=0.3, alpha=0.1, beta=0.1, max_calls=12)
    built = stats.design(spec)
    for p in (Fraction(1, 5), Fraction(1, 2), Fraction(4, 5)):
        covered, calls = _enumerate(built, p)
        point = stats.operating_characteristic(built, float(p))
        assert point.covered == pytest.approx(float(covered), abs=1e-12)
        assert point.expected_calls == pytest.approx(float(calls), abs=1e-9)


# --- simulation --------------------------------------------------------------------------------


def _simulate(design: stats.Design, p: float, runs: int, rng: random.Random) -> tuple[float, float]:
    covered = 0
    calls = 0
    for _ in range(runs):
        test = SequentialTest(design)
        while test.observe(rng.random() < p) is Verdict.UNDECIDED:
            pass
        covered += test.verdict is Verdict.COVERED
        calls += test.calls
    return covered / runs, calls / runs


@pytest.mark.parametrize("spec", [FAST, SKEWED], ids=["fast", "skewed"])
def test_simulated_error_rates(spec: ThresholdSpec) -> None:
    built = stats.design(spec)
    rng = random.Random(20261128)
    runs = 12_000
    for p, bound, wrong in ((spec.p_low, spec.alpha, True), (spec.p_high, spec.beta, False)):
        covered, mean_calls = _simulate(built, p, runs, rng)
        measured = covered if wrong else 1 - covered
        exact = stats.operating_characteristic(built, p)
        exact_rate = exact.covered if wrong else exact.not_covered
        sd = math.sqrt(bound * (1 - bound) / runs)
        # Measured error within 4 sd above the bound (a false alarm once in ~30 000 seeds) ...
        assert measured <= bound + 4 * sd, (p, measured, bound)
        # ... and consistent with the exact value the design claims.
        assert abs(measured - exact_rate) <= 4.5 * math.sqrt(exact_rate * (1 - exact_rate) / runs) + 1e-3
        assert mean_calls == pytest.approx(exact.expected_calls, rel=0.05)


def test_sequential_saves_calls_against_fixed_n() -> None:
    fixed = stats.fixed_sample_size(FAST.p0, FAST.delta, FAST.alpha, FAST.beta)
    built = stats.design(FAST)
    mean = sum(stats.operating_characteristic(built, i / 100).expected_calls for i in range(101)) / 101
    assert mean < fixed.n / 2


# --- invariants ----------------------------------------------------------------------------------


outcome_lists = st.lists(st.booleans(), min_size=FAST.max_calls, max_size=FAST.max_calls)


@given(outcome_lists)
def test_verdict_never_flips(outcomes: list[bool]) -> None:
    test = SequentialTest(stats.design(FAST))
    seen = Verdict.UNDECIDED
    for outcome in outcomes:
        verdict = test.observe(outcome)
        if seen is not Verdict.UNDECIDED:
            assert verdict is seen
        seen = verdict
    assert seen is not Verdict.UNDECIDED  # the budget always decides
    assert test.calls == FAST.max_calls
    assert test.decided_at is not None
    assert test.decided_at <= FAST.max_calls


_RANK = {Verdict.NOT_COVERED: 0, Verdict.UNDECIDED: 1, Verdict.COVERED: 2}


@given(outcome_lists, st.integers(min_value=0, max_value=FAST.max_calls - 1))
def test_more_successes_never_push_toward_not_covered(outcomes: list[bool], flip: int) -> None:
    assume(not outcomes[flip])
    better = list(outcomes)
    better[flip] = True
    design = stats.design(FAST)
    worse_test, better_test = SequentialTest(design), SequentialTest(design)
    for a, b in zip(outcomes, better, strict=True):
        # At every step, the improved sequence is at least as far toward "covered".
        assert _RANK[better_test.observe(b)] >= _RANK[worse_test.observe(a)] or (
            worse_test.verdict is Verdict.COVERED
        )
    assert _RANK[better_test.verdict] >= _RANK[worse_test.verdict]


@st.composite
def specs(draw: st.DrawFn) -> ThresholdSpec:
    p0 = draw(st.floats(min_value=0.15, max_value=0.85))
    delta = draw(st.floats(min_value=0.06, max_value=0.14))
    alpha = draw(st.sampled_from([0.01, 0.05, 0.1]))
    beta = draw(st.sampled_from([0.01, 0.05, 0.1, 0.2]))
    assume(p0 - delta > 0 and p0 + delta < 1)
    fixed = stats.fixed_sample_size(p0, delta, alpha, beta)
    budget = math.ceil(fixed.n * draw(st.floats(min_value=1.1, max_value=2.0)))
    assume(budget <= 700)
    return ThresholdSpec(p0=p0, delta=delta, alpha=alpha, beta=beta, max_calls=budget)


@settings(max_examples=25, deadline=None)
@given(specs())
def test_designs_keep_their_invariants(spec: ThresholdSpec) -> None:
    built = stats.design(spec)
    upper, lower = built.upper, built.lower
    assert len(upper) == len(lower) == spec.max_calls + 1
    assert lower[-1] == upper[-1] - 1
    for n in range(spec.max_calls):
        assert lower[n] < upper[n]
        assert 0 <= upper[n + 1] - upper[n] <= 1
        assert 0 <= lower[n + 1] - lower[n] <= 1
    assert built.alpha_achieved <= spec.alpha
    assert built.beta_achieved <= spec.beta
    assert stats.operating_characteristic(built, spec.p_low).covered <= spec.alpha
    assert stats.operating_characteristic(built, spec.p_high).not_covered <= spec.beta
    assert stats.Design.from_dict(built.to_dict()) == built


def test_design_round_trip_and_tampering() -> None:
    built = stats.design(FAST)
    data = built.to_dict()
    assert stats.Design.from_dict(data) == built
    widened = {**data, "upper": [u + 5 if i > 3 else u for i, u in enumerate(data["upper"])]}
    with pytest.raises(InvalidInput):
        stats.Design.from_dict(widened)
    # Consistent-looking boundaries that decide too early break the error rates and are refused.
    hasty = {
        **data,
        "upper": [min(u, 3) for u in data["upper"]],
        "lower": [min(lo, 2) for lo in data["lower"]],
    }
    with pytest.raises(InvalidInput):
        stats.Design.from_dict(hasty)
    for broken in ({**data, "format": 2}, {**data, "kind": "magic"}, {**data, "upper": data["upper"][:-1]}):
        with pytest.raises(InvalidInput):
            stats.Design.from_dict(broken)


# --- the running test ----------------------------------------------------------------------------


def test_sequential_test_state() -> None:
    built = stats.design(FAST)
    test = SequentialTest(built)
    assert test.verdict is Verdict.UNDECIDED
    assert test.decided_at is None
    assert test.budget_left == FAST.max_calls
    while test.observe(True) is Verdict.UNDECIDED:
        pass
    assert test.verdict is Verdict.COVERED
    decided = test.decided_at
    # Remote mode keeps sending: later outcomes are counted and ignored.
    while test.budget_left:
        assert test.observe(False) is Verdict.COVERED
    assert test.decided_at == decided
    with pytest.raises(InvalidInput, match="budget is spent"):
        test.observe(True)
    with pytest.raises(TypeError):
        SequentialTest(built).observe(1)  # type: ignore[arg-type]
    replayed = SequentialTest.replay(built, [True] * (decided or 0))
    assert replayed.verdict is Verdict.COVERED
    assert replayed.decided_at == decided


def test_all_failures_stop_quickly() -> None:
    test = SequentialTest(stats.design(FAST))
    while test.observe(False) is Verdict.UNDECIDED:
        pass
    assert test.verdict is Verdict.NOT_COVERED
    assert test.decided_at is not None
    assert test.decided_at < 20


def test_decide_rejects_impossible_counts() -> None:
    built = stats.design(FAST)
    with pytest.raises(InvalidInput):
        built.decide(3, 4)
    with pytest.raises(InvalidInput):
        built.decide(FAST.max_calls + 1, 0)


# --- fixed-n baseline ----------------------------------------------------------------------------


def _exact_fixed_feasible(n: int, p_low: Fraction, p_high: Fraction, alpha: Fraction, beta: Fraction) -> bool:
    def upper_tail(k: int, p: Fraction) -> Fraction:
        return sum((math.comb(n, s) * p**s * (1 - p) ** (n - s) for s in range(k, n + 1)), Fraction(0))

    critical = next((k for k in range(1, n + 2) if upper_tail(k, p_low) <= alpha), n + 1)
    return 1 - upper_tail(critical, p_high) <= beta


def test_fixed_sample_size_is_the_smallest_exact_test() -> None:
    found = stats.fixed_sample_size(0.5, 0.1, 0.05, 0.1)
    assert found.n == 56
    p_low, p_high = Fraction(2, 5), Fraction(3, 5)
    alpha, beta = Fraction(1, 20), Fraction(1, 10)
    assert _exact_fixed_feasible(found.n, p_low, p_high, alpha, beta)
    assert not any(_exact_fixed_feasible(n, p_low, p_high, alpha, beta) for n in range(1, found.n))
    assert found.alpha_achieved <= 0.05
    assert found.beta_achieved <= 0.1


@pytest.mark.parametrize(("p0", "delta", "alpha", "beta"), [(0.5, 0.05, 0.05, 0.05), (0.2, 0.05, 0.01, 0.1)])
def test_fixed_sample_size_near_normal_approximation(
    p0: float, delta: float, alpha: float, beta: float
) -> None:
    found = stats.fixed_sample_size(p0, delta, alpha, beta)
    normal = NormalDist()
    p_low, p_high = p0 - delta, p0 + delta
    z = normal.inv_cdf(1 - alpha) * math.sqrt(p_low * (1 - p_low)) + normal.inv_cdf(1 - beta) * math.sqrt(
        p_high * (1 - p_high)
    )
    assert found.n == pytest.approx((z / (2 * delta)) ** 2, rel=0.1)


def test_fixed_design_spends_at_most_the_budget() -> None:
    built = stats.fixed_design(FAST)
    assert built.kind == "fixed"
    assert built.alpha_achieved <= FAST.alpha
    assert built.beta_achieved <= FAST.beta
    # At the same budget the fixed test has smaller error rates than the sequential one.
    sequential = stats.design(FAST)
    assert built.alpha_achieved + built.beta_achieved <= sequential.alpha_achieved + sequential.beta_achieved


# --- without replacement -------------------------------------------------------------------------


def test_finite_population_characteristic() -> None:
    built = stats.design(FAST)
    large = stats.operating_characteristic_finite(built, population=100_000, passing=40_000)
    binomial = stats.operating_characteristic(built, 0.4)
    assert large.covered == pytest.approx(binomial.covered, abs=2e-3)
    # A pack of 3x the budget: the error rates at the hypotheses' edges still hold.
    population = 3 * FAST.max_calls
    low = stats.operating_characteristic_finite(
        built, population=population, passing=math.floor(0.4 * population)
    )
    high = stats.operating_characteristic_finite(
        built, population=population, passing=math.ceil(0.6 * population)
    )
    assert low.covered <= FAST.alpha
    assert high.not_covered <= FAST.beta
    previous = -1.0
    for passing in range(0, population + 1, 25):
        point = stats.operating_characteristic_finite(built, population=population, passing=passing)
        assert point.covered + point.not_covered == pytest.approx(1.0)
        assert point.covered >= previous - 1e-12
        previous = point.covered
    with pytest.raises(InvalidInput):
        stats.operating_characteristic_finite(built, population=10, passing=5)
