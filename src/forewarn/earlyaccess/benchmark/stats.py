"""The sequential test behind a covered-model determination (pure: no I/O, no randomness, no numpy).

The question: is a model's pass rate ``p`` on the sealed pack at least the threshold ``p0``? With
an indifference margin ``delta`` the two hypotheses are

- H0, "not covered": ``p <= p0 - delta`` (written ``p_low``),
- H1, "covered":     ``p >= p0 + delta`` (written ``p_high``),

and for ``p`` strictly between them either verdict is acceptable. ``alpha`` bounds the probability
of a wrong "covered" for every ``p <= p_low``; ``beta`` bounds a wrong "not covered" for every
``p >= p_high``. At most ``max_calls`` outcomes are consumed.

The procedure is a truncated SPRT whose integer stopping boundaries are computed once, from the
spec, and whose *exact* error rates are then computed by dynamic programming over binomial paths:

1. Wald's boundaries on the log-likelihood ratio of ``p_high`` against ``p_low``, both scaled by a
   factor ``theta``; at ``max_calls`` an undecided run is decided by a cut-off ``k`` on successes;
   runs that can no longer change the truncation verdict stop at once (curtailment).
2. The smallest ``theta`` (bisection) for which some ``k`` keeps the exact error rates within
   ``alpha`` and ``beta`` is taken. The result is verified by a final exact computation; a design
   that is not within its spec is never returned.

Invariants:

- A design's boundaries satisfy ``lower[n] < upper[n]`` for ``n < max_calls``,
  ``lower[max_calls] == upper[max_calls] - 1`` (every run is decided by the budget), and both are
  non-decreasing in ``n`` by steps of at most one.
- The verdict is a monotone function of the outcome sequence (turning a failure into a success can
  never turn "covered" into "not covered"), so ``P(covered | p)`` is non-decreasing in ``p`` and the
  exact error rates at ``p_low`` and ``p_high`` bound them over the whole hypotheses.
- ``SequentialTest`` never changes a verdict once reached; outcomes after the verdict are counted
  (remote mode spends the whole budget) but ignored.
- The threshold, the boundaries, the number of successes and the number of calls to a verdict are
  sealed: no ``repr`` or error message here shows them.

Probabilities are IEEE doubles: the dynamic programme sums at most ``max_calls`` times a few hundred
non-negative terms, so its relative error is far below 1e-9; designs keep a margin of 1e-9 below
``alpha`` and ``beta`` for it. Boundaries depend on ``math.log`` to the last bit, so a design meant
to be resumed elsewhere is stored (:meth:`Design.to_dict`) rather than recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from statistics import NormalDist
from typing import Any

from forewarn.core.errors import InvalidInput, Problem

__all__ = [
    "DESIGN_FORMAT",
    "MAX_CALLS_LIMIT",
    "Design",
    "FixedSample",
    "OperatingPoint",
    "SequentialTest",
    "ThresholdSpec",
    "Verdict",
    "design",
    "fixed_design",
    "fixed_sample_size",
    "operating_characteristic",
    "operating_characteristic_finite",
]

MAX_CALLS_LIMIT = 20_000
"""Largest call budget a spec may ask for (the design's dynamic programme is pure Python)."""
DESIGN_FORMAT = 1
_SPEC_FIELDS = {"p0", "delta", "alpha", "beta", "max_calls"}
_MARGIN = 1e-9  # relative slack kept below alpha and beta for floating-point summation


class Verdict(StrEnum):
    UNDECIDED = "undecided"
    COVERED = "covered"
    NOT_COVERED = "not_covered"


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, repr=False)
class ThresholdSpec:
    """The statistical part of a threshold policy. Sealed: its repr shows nothing."""

    p0: float
    delta: float
    alpha: float
    beta: float
    max_calls: int

    def __post_init__(self) -> None:
        problems = _spec_problems(self)
        if problems:
            raise InvalidInput("the threshold specification is invalid", problems=problems)

    @property
    def p_low(self) -> float:
        return self.p0 - self.delta

    @property
    def p_high(self) -> float:
        return self.p0 + self.delta

    def __repr__(self) -> str:
        return "ThresholdSpec(<sealed>)"

    def to_dict(self) -> dict[str, float | int]:
        return {
            "p0": self.p0,
            "delta": self.delta,
            "alpha": self.alpha,
            "beta": self.beta,
            "max_calls": self.max_calls,
        }


def _spec_problems(spec: ThresholdSpec) -> list[Problem]:
    # Messages state the rule, never the value: the values are sealed.
    problems: list[Problem] = []
    for name in ("p0", "delta", "alpha", "beta"):
        if not _is_real(getattr(spec, name)):
            problems.append(Problem(name, "must be a finite number"))
    if problems:
        return problems
    if not 0 < spec.p0 < 1:
        problems.append(Problem("p0", "must be strictly between 0 and 1"))
    if not spec.delta > 0:
        problems.append(Problem("delta", "must be positive"))
    elif not (spec.p0 - spec.delta > 0 and spec.p0 + spec.delta < 1):
        problems.append(Problem("delta", "p0 - delta and p0 + delta must lie strictly between 0 and 1"))
    for name in ("alpha", "beta"):
        if not 0 < getattr(spec, name) < 0.5:
            problems.append(Problem(name, "must be strictly between 0 and 0.5"))
    calls = spec.max_calls
    if not isinstance(calls, int) or isinstance(calls, bool):
        problems.append(Problem("max_calls", "must be an integer"))
    elif not 1 <= calls <= MAX_CALLS_LIMIT:
        problems.append(Problem("max_calls", f"must be between 1 and {MAX_CALLS_LIMIT}"))
    return problems


@dataclass(frozen=True)
class OperatingPoint:
    """Exact behaviour of a design when the true pass rate is ``p``."""

    p: float
    covered: float
    not_covered: float
    expected_calls: float


@dataclass(frozen=True, repr=False)
class Design:
    """Integer stopping boundaries: after ``n`` outcomes with ``s`` passes, "covered" if
    ``s >= upper[n]``, "not covered" if ``s <= lower[n]``, else continue. Sealed (repr shows nothing).

    ``alpha_achieved`` / ``beta_achieved`` are the exact error rates at ``p_low`` / ``p_high``.
    """

    spec: ThresholdSpec
    kind: str
    upper: tuple[int, ...]
    lower: tuple[int, ...]
    alpha_achieved: float
    beta_achieved: float

    def __repr__(self) -> str:
        return f"Design(kind={self.kind}, <sealed>)"

    @property
    def max_calls(self) -> int:
        return len(self.upper) - 1

    @property
    def horizon(self) -> int:
        """The most outcomes a run can need before its verdict (at most ``max_calls``)."""
        return next(n for n, (u, lo) in enumerate(zip(self.upper, self.lower, strict=True)) if u - lo == 1)

    def decide(self, calls: int, successes: int) -> Verdict:
        if not 0 <= successes <= calls <= self.max_calls:
            raise InvalidInput("outcome counts are out of range for this design")
        if successes >= self.upper[calls]:
            return Verdict.COVERED
        if successes <= self.lower[calls]:
            return Verdict.NOT_COVERED
        return Verdict.UNDECIDED

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, to be sealed with the policy so a resumed run uses the same boundaries."""
        return {
            "format": DESIGN_FORMAT,
            "kind": self.kind,
            "spec": self.spec.to_dict(),
            "upper": list(self.upper),
            "lower": list(self.lower),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Design:
        """Rebuild a stored design; checks its shape and recomputes its exact error rates."""
        if not isinstance(data, Mapping) or data.get("format") != DESIGN_FORMAT:
            raise InvalidInput("stored design has an unknown format")
        raw_spec = data.get("spec")
        if not isinstance(raw_spec, Mapping) or set(raw_spec) != _SPEC_FIELDS:
            raise InvalidInput("stored design has a malformed spec")
        spec = ThresholdSpec(**{key: raw_spec[key] for key in raw_spec})
        upper, lower = data.get("upper"), data.get("lower")
        kind = data.get("kind")
        if kind not in {"sprt", "fixed"} or not isinstance(upper, list) or not isinstance(lower, list):
            raise InvalidInput("stored design is malformed")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in [*upper, *lower]):
            raise InvalidInput("stored design boundaries must be integers")
        if len(upper) != spec.max_calls + 1 or len(lower) != spec.max_calls + 1:
            raise InvalidInput("stored design does not match its call budget")
        if not _boundaries_ok(upper, lower):
            raise InvalidInput("stored design boundaries are inconsistent")
        built = _finish(spec, str(kind), upper, lower)
        if built is None:
            raise InvalidInput("stored design does not keep its error rates")
        return built


def _boundaries_ok(upper: list[int], lower: list[int]) -> bool:
    last = len(upper) - 1
    if last < 1 or lower[last] != upper[last] - 1 or not (lower[0] < 0 < upper[0]):
        return False
    for n in range(last):
        if not lower[n] < upper[n]:
            return False
        if not (0 <= upper[n + 1] - upper[n] <= 1 and 0 <= lower[n + 1] - lower[n] <= 1):
            return False
    return True


# --- exact operating characteristics -------------------------------------------------------------


def _propagate(
    upper: list[int] | tuple[int, ...], lower: list[int] | tuple[int, ...], p: float
) -> tuple[float, float, float, int, list[float]]:
    """Run the binomial path distribution through the boundaries for ``len(upper) - 1`` steps.

    Returns P(covered), P(not covered), expected calls, and the undecided mass left after the last
    step (as a base ``s`` and a list of probabilities for ``s = base, base + 1, …``).
    """
    q = 1.0 - p
    steps = len(upper) - 1
    covered = not_covered = expected = 0.0
    base = 0
    dist = [1.0]
    for n in range(steps):
        if not dist:
            break
        expected += math.fsum(dist)
        # s -> s (failure) or s + 1 (success); the new list covers s = base … base + len(dist).
        new = [a * q + b * p for a, b in zip([*dist, 0.0], [0.0, *dist], strict=True)]
        now_covered, now_not_covered, base = _decide(new, base, upper[n + 1], lower[n + 1])
        covered += now_covered
        not_covered += now_not_covered
        dist = new
    return covered, not_covered, expected, base, dist


def _decide(new: list[float], base: int, upper: int, lower: int) -> tuple[float, float, int]:
    """Take the mass the boundaries decide after one step out of ``new`` (probabilities for
    ``s = base, base + 1, …``), in place. Returns the mass decided "covered" (``s >= upper``), the
    mass decided "not covered" (``s <= lower``) and the new base."""
    covered = not_covered = 0.0
    top = upper - base  # first index decided "covered"
    if top < len(new):
        top = max(top, 0)
        covered = math.fsum(new[top:])
        del new[top:]
    cut = lower - base + 1  # indices below decided "not covered"
    if cut > 0:
        cut = min(cut, len(new))
        not_covered = math.fsum(new[:cut])
        del new[:cut]
        base += cut
    return covered, not_covered, base


def operating_characteristic(design: Design, p: float) -> OperatingPoint:
    """Exact P(covered), P(not covered) and expected number of calls when the pass rate is ``p``.

    Outcomes are independent with success probability ``p`` (items drawn with replacement, or a
    pack much larger than the budget; see :func:`operating_characteristic_finite` otherwise).
    Remote mode always spends ``max_calls`` whatever this says.
    """
    if not _is_real(p) or not 0 <= p <= 1:
        raise InvalidInput("p must be a number between 0 and 1")
    covered, not_covered, expected, _, rest = _propagate(design.upper, design.lower, float(p))
    if rest:  # pragma: no cover - boundaries are checked to decide every run
        raise AssertionError("a run was left undecided")
    return OperatingPoint(p=float(p), covered=covered, not_covered=not_covered, expected_calls=expected)


def operating_characteristic_finite(design: Design, *, population: int, passing: int) -> OperatingPoint:
    """Exact behaviour when items are drawn *without replacement* from a pack of ``population``
    items of which the model passes exactly ``passing`` (a deterministic model).
    """
    steps = design.max_calls
    if not 0 <= passing <= population or population < steps:
        raise InvalidInput("population must cover the call budget and passing must lie within it")
    covered = not_covered = expected = 0.0
    base = 0
    dist = [1.0]
    for n in range(steps):
        if not dist:
            break
        expected += math.fsum(dist)
        remaining = population - n
        new = [0.0] * (len(dist) + 1)
        for i, mass in enumerate(dist):
            s = base + i
            p = (passing - s) / remaining if remaining else 0.0
            p = min(max(p, 0.0), 1.0)
            new[i] += mass * (1.0 - p)
            new[i + 1] += mass * p
        now_covered, now_not_covered, base = _decide(new, base, design.upper[n + 1], design.lower[n + 1])
        covered += now_covered
        not_covered += now_not_covered
        dist = new
    return OperatingPoint(
        p=passing / population if population else 0.0,
        covered=covered,
        not_covered=not_covered,
        expected_calls=expected,
    )


# --- designs ---------------------------------------------------------------------------------------


def _within(value: float, bound: float) -> bool:
    return value <= bound * (1.0 - _MARGIN)


def _finish(spec: ThresholdSpec, kind: str, upper: list[int], lower: list[int]) -> Design | None:
    """The design with these boundaries if its exact error rates are within the spec, else None."""
    if not _boundaries_ok(upper, lower):
        return None
    cov_low, _, _, _, rest_low = _propagate(upper, lower, spec.p_low)
    _, not_cov_high, _, _, rest_high = _propagate(upper, lower, spec.p_high)
    if rest_low or rest_high:
        return None
    if not (_within(cov_low, spec.alpha) and _within(not_cov_high, spec.beta)):
        return None
    return Design(
        spec=spec,
        kind=kind,
        upper=tuple(upper),
        lower=tuple(lower),
        alpha_achieved=cov_low,
        beta_achieved=not_cov_high,
    )


def _wald(spec: ThresholdSpec, theta: float, horizon: int) -> tuple[list[int], list[int]]:
    """Wald's boundaries scaled by ``theta``, in successes, for n = 0 … horizon."""
    a = math.log(spec.p_high / spec.p_low)  # log-likelihood ratio of a pass
    b = math.log((1 - spec.p_high) / (1 - spec.p_low))  # … of a failure (negative)
    d = a - b
    h_cov = theta * math.log((1 - spec.beta) / spec.alpha)
    h_not = theta * math.log((1 - spec.alpha) / spec.beta)
    upper = []
    lower = []
    for n in range(horizon + 1):
        # covered when s*a + (n-s)*b >= h_cov, i.e. s >= (h_cov - n*b)/d; not covered when <= -h_not
        upper.append(math.ceil((h_cov - n * b) / d))
        lower.append(math.floor((-h_not - n * b) / d))
    return upper, lower


def _out_of_reach(upper: list[int], lower: list[int]) -> bool:
    # upper[n] - n falls and lower[n] rises with n, so checking the last step covers every step.
    return upper[-1] > len(upper) - 1 and lower[-1] < 0


def _extend(spec: ThresholdSpec, upper: list[int], lower: list[int]) -> tuple[list[int], list[int]]:
    """Boundaries decided by ``horizon = len(upper) - 1``, padded to the whole budget (never reached)."""
    pad = spec.max_calls + 1 - len(upper)
    return upper + [upper[-1]] * pad, lower + [lower[-1]] * pad


def _try_theta(spec: ThresholdSpec, theta: float, horizon: int) -> Design | None:
    upper, lower = _wald(spec, theta, horizon)
    # Exact mass at the horizon still undecided by the (untruncated) Wald boundaries.
    cov_low, _, _, base_low, rest_low = _propagate(upper, lower, spec.p_low)
    _, not_high, _, base_high, rest_high = _propagate(upper, lower, spec.p_high)

    def alpha_at(k: int) -> float:
        return cov_low + math.fsum(m for i, m in enumerate(rest_low) if base_low + i >= k)

    def beta_at(k: int) -> float:
        return not_high + math.fsum(m for i, m in enumerate(rest_high) if base_high + i < k)

    # k within (lower, upper] of the Wald boundaries at the horizon, so curtailing at k changes no
    # verdict of a run the Wald boundaries had already decided.
    candidates = range(max(lower[horizon] + 1, 0), min(upper[horizon], horizon + 1) + 1)
    feasible = [
        (max(alpha_at(k) / spec.alpha, beta_at(k) / spec.beta), k)
        for k in candidates
        if _within(alpha_at(k), spec.alpha) and _within(beta_at(k), spec.beta)
    ]
    if not feasible:
        return None
    k = min(feasible)[1]
    curtailed_upper = [min(u, k) for u in upper]
    curtailed_lower = [max(lo, k - 1 - (horizon - n)) for n, lo in enumerate(lower)]
    curtailed_upper[horizon], curtailed_lower[horizon] = k, k - 1
    return _finish(spec, "sprt", *_extend(spec, curtailed_upper, curtailed_lower))


_INFEASIBLE = (
    "max_calls is too small to reach these error rates at this margin; "
    "see fixed_sample_size for the least budget a fixed-sample test needs"
)


def _sprt_at(spec: ThresholdSpec, horizon: int) -> Design | None:
    """The narrowest feasible scaled-Wald design stopping by ``horizon``, or None."""
    best = _try_theta(spec, 1.0, horizon)
    if best is not None:
        low, high = 0.05, 1.0
    else:
        high = 1.0
        while best is None:
            high *= 2
            best = _try_theta(spec, high, horizon)
            if best is None and _out_of_reach(*_wald(spec, high, horizon)):
                # This was the curtailed fixed-sample test at the horizon: no wider boundary helps.
                return None
        low = high / 2
    for _ in range(14):  # theta to within 2**-14 of its range: finer changes no boundary in practice
        middle = (low + high) / 2
        found = _try_theta(spec, middle, horizon)
        if found is None:
            low = middle
        else:
            high, best = middle, found
    return best


def _feasible_horizons(spec: ThresholdSpec) -> list[int]:
    """Horizons up to the budget, largest first, at which a fixed-sample test is feasible.

    Exact binomial tests are not monotone in n (the saw-tooth of discrete tails): a budget can be
    infeasible while a slightly smaller one is not, so a design may stop before its budget.
    """
    found = []
    # The saw-tooth is narrow: well below the budget, smaller horizons only get worse.
    lowest = max(1, spec.max_calls - 3 * math.isqrt(spec.max_calls) - 20)
    for horizon in range(spec.max_calls, lowest - 1, -1):
        if _fixed_at(horizon, spec.p_low, spec.p_high, spec.alpha, spec.beta) is not None:
            found.append(horizon)
            if len(found) == 3:
                break
    return found


@lru_cache(maxsize=64)
def design(spec: ThresholdSpec) -> Design:
    """The truncated SPRT for ``spec``: the narrowest scaled Wald boundaries whose exact error rates
    stay within ``alpha``/``beta`` by the budget. Raises ``InvalidInput`` if the budget is too small.
    """
    built = _sprt_at(spec, spec.max_calls)
    if built is not None:
        return built
    for horizon in _feasible_horizons(spec):
        built = _sprt_at(spec, horizon)
        if built is not None:
            return built
    raise InvalidInput(_INFEASIBLE, problems=[Problem("max_calls", "too small")])


@lru_cache(maxsize=64)
def fixed_design(spec: ThresholdSpec) -> Design:
    """The exact binomial test with the most calls the budget allows (largest power at level
    ``alpha``), curtailed: it stops once the count of passes can no longer change its verdict.

    Useful where the budget is spent anyway (remote mode): its error rates are about the smallest
    the budget allows.
    """
    for horizon in _feasible_horizons(spec)[:1]:
        fixed = _fixed_at(horizon, spec.p_low, spec.p_high, spec.alpha, spec.beta)
        if fixed is None:  # pragma: no cover - the horizon was chosen feasible
            break
        k = fixed.critical
        upper = [k] * (horizon + 1)
        lower = [k - 1 - (horizon - n) for n in range(horizon + 1)]
        built = _finish(spec, "fixed", *_extend(spec, upper, lower))
        if built is not None:
            return built
    raise InvalidInput(_INFEASIBLE, problems=[Problem("max_calls", "too small")])


# --- the fixed-sample comparison ---------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class FixedSample:
    """The exact one-sided binomial test: "covered" iff at least ``critical`` of ``n`` pass."""

    n: int
    critical: int
    alpha_achieved: float
    beta_achieved: float

    def __repr__(self) -> str:
        return "FixedSample(<sealed>)"


_WINDOW_SD = 16.0  # the binomial mass beyond 16 standard deviations is below 1e-50


def _pmf_window(n: int, p: float) -> tuple[int, list[float]]:
    """The Bin(n, p) probabilities for s in a window holding all but a negligible mass."""
    mean = n * p
    sd = math.sqrt(n * p * (1 - p))
    start = max(0, math.floor(mean - _WINDOW_SD * sd - 10))
    stop = min(n, math.ceil(mean + _WINDOW_SD * sd + 10))
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)
    pmf = [
        math.exp(log_n - math.lgamma(s + 1) - math.lgamma(n - s + 1) + s * log_p + (n - s) * log_q)
        for s in range(start, stop + 1)
    ]
    return start, pmf


def _fixed_at(n: int, p_low: float, p_high: float, alpha: float, beta: float) -> FixedSample | None:
    start, pmf = _pmf_window(n, p_low)
    tail = 0.0
    critical = n + 1
    for index in range(len(pmf) - 1, -1, -1):
        if not _within(tail + pmf[index], alpha):
            break
        tail += pmf[index]
        critical = start + index
    if critical == 0:
        critical = 1  # "covered" without evidence is never a test
    start_h, pmf_h = _pmf_window(n, p_high)
    miss = math.fsum(m for i, m in enumerate(pmf_h) if start_h + i < critical)
    if not _within(miss, beta):
        return None
    return FixedSample(n=n, critical=critical, alpha_achieved=tail, beta_achieved=miss)


def fixed_sample_size(p0: float, delta: float, alpha: float, beta: float) -> FixedSample:
    """The smallest ``n`` for which an exact one-sided binomial test at level ``alpha`` has a miss rate
    at most ``beta`` at ``p0 + delta`` (the baseline the sequential test is measured against).

    Exact tails decide feasibility at each ``n``; feasibility is not quite monotone in ``n`` (the
    binomial saw-tooth), so after a bisection from the normal approximation the neighbourhood below
    the transition is scanned for a smaller feasible ``n``.
    """
    spec = ThresholdSpec(p0=p0, delta=delta, alpha=alpha, beta=beta, max_calls=1)
    p_low, p_high = spec.p_low, spec.p_high
    normal = NormalDist()
    z = normal.inv_cdf(1 - alpha) * math.sqrt(p_low * (1 - p_low)) + normal.inv_cdf(1 - beta) * math.sqrt(
        p_high * (1 - p_high)
    )
    approx = (z / (p_high - p_low)) ** 2

    def at(n: int) -> FixedSample | None:
        return _fixed_at(n, p_low, p_high, alpha, beta)

    low = max(1, math.floor(0.7 * approx))
    while low > 1 and at(low) is not None:
        low //= 2
    high = max(low + 1, math.ceil(approx))
    found = at(high)
    while found is None:
        high *= 2
        if high > 1_000_000:  # pragma: no cover - alpha, beta < 0.5 and delta > 0 keep n finite
            raise InvalidInput("no fixed-sample test within reach for these error rates")
        found = at(high)
    while high - low > 1:
        middle = (low + high) // 2
        candidate = at(middle)
        if candidate is None:
            low = middle
        else:
            high, found = middle, candidate
    for n in range(high - 1, max(0, high - 3 * math.isqrt(high) - 20), -1):
        candidate = at(n)
        if candidate is not None:
            found = candidate
    return found


# --- the running test ----------------------------------------------------------------------------


class SequentialTest:
    """Consumes pass/fail outcomes one at a time, in scheduling order, and reports the verdict.

    Sealed: the repr shows nothing, and the success count stops at the verdict.
    """

    __slots__ = ("_calls", "_decided_at", "_design", "_successes", "_verdict")

    def __init__(self, design: Design) -> None:
        self._design = design
        self._calls = 0
        self._successes = 0
        self._verdict = Verdict.UNDECIDED
        self._decided_at: int | None = None

    @classmethod
    def replay(cls, design: Design, outcomes: Iterable[bool]) -> SequentialTest:
        """The state after ``outcomes`` (to resume a run from its stored outcomes)."""
        test = cls(design)
        for outcome in outcomes:
            test.observe(outcome)
        return test

    def __repr__(self) -> str:
        return "SequentialTest(<sealed>)"

    @property
    def design(self) -> Design:
        return self._design

    @property
    def verdict(self) -> Verdict:
        return self._verdict

    @property
    def calls(self) -> int:
        """Outcomes consumed, including those after the verdict."""
        return self._calls

    @property
    def decided_at(self) -> int | None:
        """Number of outcomes that reached the verdict (sealed), or None while undecided."""
        return self._decided_at

    @property
    def budget_left(self) -> int:
        return self._design.max_calls - self._calls

    def observe(self, passed: bool) -> Verdict:
        if not isinstance(passed, bool):
            raise TypeError("an outcome is a bool")
        if self._calls >= self._design.max_calls:
            raise InvalidInput("the call budget is spent")
        self._calls += 1
        if self._verdict is Verdict.UNDECIDED:
            self._successes += passed
            verdict = self._design.decide(self._calls, self._successes)
            if verdict is not Verdict.UNDECIDED:
                self._verdict = verdict
                self._decided_at = self._calls
        return self._verdict
