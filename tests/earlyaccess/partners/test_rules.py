"""The published decision rules, as pure functions, under hypothesis."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from forewarn.earlyaccess.partners.rules import (
    RULES,
    Constituency,
    Outcome,
    Seat,
    Vote,
    ballot_problem,
    decide,
    disjoint,
    rules,
)

DOC = rules()
G, IND = Constituency.GOVERNMENT, Constituency.INDUSTRY

seat_st = st.tuples(
    st.sampled_from(list(Constituency)), st.booleans(), st.none() | st.sampled_from(list(Vote))
)


@st.composite
def rounds(draw: st.DrawFn, max_size: int = 9) -> tuple[list[Seat], dict[str, Vote]]:
    raw = draw(st.lists(seat_st, min_size=0, max_size=max_size))
    seats = [Seat(f"m{n}", c, recused) for n, (c, recused, _) in enumerate(raw)]
    ballots = {f"m{n}": v for n, (_, _, v) in enumerate(raw) if v is not None}
    return seats, ballots


def seats_of(*spec: tuple[Constituency, Vote | None]) -> tuple[list[Seat], dict[str, Vote]]:
    seats = [Seat(f"m{n}", c, False) for n, (c, _) in enumerate(spec)]
    return seats, {f"m{n}": v for n, (_, v) in enumerate(spec) if v is not None}


@given(rounds(), st.booleans(), st.data())
def test_recused_members_never_count(
    case: tuple[list[Seat], dict[str, Vote]], passed: bool, data: st.DataObject
) -> None:
    seats, ballots = case
    before = decide(DOC, seats, ballots, deadline_passed=passed)
    # Whatever a recused member "votes" (or not), nothing changes.
    changed = dict(ballots)
    for seat in seats:
        if seat.recused:
            choice = data.draw(st.none() | st.sampled_from(list(Vote)))
            if choice is None:
                changed.pop(seat.member, None)
            else:
                changed[seat.member] = choice
    assert decide(DOC, seats, changed, deadline_passed=passed) == before
    # And recused members may be removed from the round altogether.
    present = [s for s in seats if not s.recused]
    assert decide(DOC, present, ballots, deadline_passed=passed).outcome == before.outcome


@given(rounds(), st.booleans(), st.randoms())
def test_outcome_is_independent_of_vote_order(
    case: tuple[list[Seat], dict[str, Vote]], passed: bool, rnd: random.Random
) -> None:
    seats, ballots = case
    items = list(ballots.items())
    rnd.shuffle(items)
    shuffled_seats = list(seats)
    rnd.shuffle(shuffled_seats)
    assert decide(DOC, shuffled_seats, dict(items), deadline_passed=passed) == decide(
        DOC, seats, ballots, deadline_passed=passed
    )


@given(rounds(), st.booleans())
def test_a_single_constituency_never_decides_alone(
    case: tuple[list[Seat], dict[str, Vote]], passed: bool
) -> None:
    seats, ballots = case
    result = decide(DOC, seats, ballots, deadline_passed=passed)
    if result.outcome in (Outcome.APPROVED, Outcome.DENIED):
        # A decision either way needs quorum on both sides.
        for side in Constituency:
            assert result.tallies[side].cast >= DOC.quorum_per_constituency
    if result.outcome is Outcome.APPROVED:
        for side in Constituency:
            assert result.tallies[side].approve > result.tallies[side].deny


@given(rounds(), st.booleans())
def test_only_one_side_voting_never_decides(case: tuple[list[Seat], dict[str, Vote]], side_g: bool) -> None:
    seats, ballots = case
    voting_side = G if side_g else IND
    only = {
        m: v
        for m, v in ballots.items()
        if next(s for s in seats if s.member == m).constituency == voting_side
    }
    result = decide(DOC, seats, only, deadline_passed=True)
    assert result.outcome is Outcome.LAPSED


@given(rounds(max_size=7), st.data())
def test_settling_early_agrees_with_the_deadline(
    case: tuple[list[Seat], dict[str, Vote]], data: st.DataObject
) -> None:
    """If a round is settled before the deadline, every way the rest could vote gives that outcome."""
    seats, ballots = case
    early = decide(DOC, seats, ballots, deadline_passed=False)
    rest = dict(ballots)
    for seat in seats:
        if not seat.recused and seat.member not in rest:
            choice = data.draw(st.none() | st.sampled_from(list(Vote)))
            if choice is not None:
                rest[seat.member] = choice
    final = decide(DOC, seats, rest, deadline_passed=True)
    if early.settled:
        assert early.outcome == final.outcome
    # A round where everyone eligible voted is always settled, and agrees with the deadline.
    everyone = decide(DOC, seats, rest, deadline_passed=False)
    if all(s.recused or s.member in rest for s in seats):
        assert everyone.settled and everyone.outcome == final.outcome


@settings(max_examples=50)
@given(st.integers(0, 4), st.integers(0, 4), st.integers(0, 4), st.integers(0, 4))
def test_ties_deny_and_quorum_lapses(ga: int, gd: int, ia: int, id_: int) -> None:
    spec = (
        [(G, Vote.APPROVE)] * ga
        + [(G, Vote.DENY)] * gd
        + [(IND, Vote.APPROVE)] * ia
        + [(IND, Vote.DENY)] * id_
    )
    seats, ballots = seats_of(*spec)
    outcome = decide(DOC, seats, ballots, deadline_passed=True).outcome
    q = DOC.quorum_per_constituency
    if ga + gd < q or ia + id_ < q:
        assert outcome is Outcome.LAPSED
    elif ga > gd and ia > id_:
        assert outcome is Outcome.APPROVED
    else:
        assert outcome is Outcome.DENIED  # including any tie on either side


def test_worked_examples() -> None:
    two_and_two = seats_of((G, Vote.APPROVE), (G, Vote.APPROVE), (IND, Vote.APPROVE), (IND, Vote.APPROVE))
    assert decide(DOC, *two_and_two, deadline_passed=False).outcome is Outcome.APPROVED
    tie = seats_of((G, Vote.APPROVE), (G, Vote.DENY), (IND, Vote.APPROVE), (IND, Vote.APPROVE))
    assert decide(DOC, *tie, deadline_passed=False).outcome is Outcome.DENIED
    abstain = seats_of((G, Vote.APPROVE), (G, Vote.ABSTAIN), (IND, Vote.APPROVE), (IND, Vote.ABSTAIN))
    assert decide(DOC, *abstain, deadline_passed=False).outcome is Outcome.APPROVED
    waiting = seats_of((G, Vote.APPROVE), (G, Vote.APPROVE), (IND, Vote.APPROVE), (IND, None))
    result = decide(DOC, *waiting, deadline_passed=False)
    assert result.outcome is None and not result.settled
    assert decide(DOC, *waiting, deadline_passed=True).outcome is Outcome.LAPSED
    # One industry seat recused leaves that side short of quorum for good: lapses at once.
    seats, ballots = seats_of((G, Vote.APPROVE), (G, Vote.APPROVE), (IND, Vote.APPROVE), (IND, None))
    seats[3] = Seat("m3", IND, True)
    assert decide(DOC, seats, ballots, deadline_passed=False).outcome is Outcome.LAPSED


def test_deny_needs_a_rationale_and_documents_are_stable() -> None:
    assert ballot_problem(DOC, Vote.DENY, "no") is not None
    assert ballot_problem(DOC, Vote.DENY, "The security attestations are out of date.") is None
    assert ballot_problem(DOC, Vote.APPROVE, "") is None
    assert DOC.digest == rules(DOC.version).digest and DOC.digest.startswith("sha256:")
    assert len({d.digest for d in RULES.values()}) == len(RULES)
    assert disjoint(["a", "b"], ["c"]) and not disjoint(["a", "b"], ["b"])
