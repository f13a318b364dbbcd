"""The published decision rules of partner-access panels: pure functions over a versioned document.

Invariants (what the tests in ``tests/earlyaccess/partners/test_rules.py`` check with hypothesis):

- an outcome is *computed*, never entered: :func:`decide` is the only source of ``approved`` /
  ``denied`` / ``lapsed``, and the consistency check re-runs it on every recorded round;
- recused members never count, for quorum or for the majority;
- both constituencies (government and industry) must each reach quorum and each approve by a
  strict majority of the approve/deny votes cast: one constituency can never decide alone; without
  quorum on either side the round *lapses* (no decision either way);
- a tie inside a constituency is not a majority for access: that side does not approve, so the
  request is denied (the status quo, no access, stands);
- the outcome depends on the multiset of ballots only, never on their order;
- a round is settled before its deadline only when no votes still possible could change the
  outcome (including "nobody else votes"), so settling early and waiting for the deadline agree.

A rules document is identified by its version and the SHA-256 of its canonical JSON; both are
recorded with each round and each decision (and in the transparency log). Documents are never
edited: a change is a new version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Constituency(StrEnum):
    GOVERNMENT = "government"
    INDUSTRY = "industry"


class Vote(StrEnum):
    APPROVE = "approve"
    DENY = "deny"
    ABSTAIN = "abstain"


class Outcome(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
    #: No quorum on at least one side by the deadline: no decision either way.
    LAPSED = "lapsed"


@dataclass(frozen=True)
class RulesDocument:
    """One version of the published rules."""

    version: int
    #: Non-recused members of each constituency who must cast a ballot (abstentions count).
    quorum_per_constituency: int
    #: Days from a round's opening to its decision deadline.
    decision_days: int
    #: Days after a first decision within which the partner or the lab may appeal.
    appeal_days: int
    #: Minimum length of the written rationale required with a ``deny`` ballot.
    deny_rationale_min_chars: int
    summary: str

    def document(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "constituencies": [c.value for c in Constituency],
            "quorum_per_constituency": self.quorum_per_constituency,
            "quorum_counts": "ballots (approve, deny or abstain) of non-recused members",
            "majority": "approve votes > deny votes within each constituency; abstentions count for "
            "quorum only",
            "approved_when": "every constituency has quorum and a majority to approve",
            "denied_when": "every constituency has quorum and at least one has no majority to approve",
            "tie": "a tie within a constituency is no majority to approve (deny)",
            "no_quorum": "lapsed at the deadline (no decision; the partner may request again)",
            "recusal": "a member with any conflict (automatic or declared) is recused and never counts",
            "decision_days": self.decision_days,
            "appeal_days": self.appeal_days,
            "appeal": "by the partner or the lab within appeal_days of the first decision; decided by "
            "a panel with no member of the first, under the same rules version; that decision is final",
            "deny_rationale_min_chars": self.deny_rationale_min_chars,
            "summary": self.summary,
        }

    def canonical(self) -> bytes:
        return json.dumps(self.document(), sort_keys=True, separators=(",", ":")).encode()

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical()).hexdigest()


#: Every published version; the last one is used for new requests.
RULES: dict[int, RulesDocument] = {
    1: RulesDocument(
        version=1,
        quorum_per_constituency=2,
        decision_days=7,
        appeal_days=14,
        deny_rationale_min_chars=20,
        summary="Two non-recused ballots per side; a majority to approve on each side; ties deny; no "
        "quorum lapses after 7 days; appeal within 14 days to a disjoint panel.",
    ),
}
CURRENT_VERSION = max(RULES)


def rules(version: int | None = None) -> RulesDocument:
    """A published rules document (the current one by default)."""
    found = RULES.get(CURRENT_VERSION if version is None else version)
    if found is None:
        raise KeyError(f"no rules version {version}")
    return found


@dataclass(frozen=True)
class Seat:
    """A member's place in a round: constituency and whether they are recused."""

    member: str
    constituency: Constituency
    recused: bool


@dataclass(frozen=True)
class Tally:
    approve: int = 0
    deny: int = 0
    abstain: int = 0

    @property
    def cast(self) -> int:
        return self.approve + self.deny + self.abstain


@dataclass(frozen=True)
class Result:
    outcome: Outcome | None
    #: Per constituency, the counted ballots of non-recused members.
    tallies: Mapping[Constituency, Tally]
    #: Non-recused members per constituency who have not voted.
    outstanding: Mapping[Constituency, int]
    settled: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value if self.outcome else None,
            "settled": self.settled,
            "tallies": {
                c.value: {"approve": t.approve, "deny": t.deny, "abstain": t.abstain}
                for c, t in sorted(self.tallies.items())
            },
            "outstanding": {c.value: n for c, n in sorted(self.outstanding.items())},
        }


class _Side(StrEnum):
    NO_QUORUM = "no_quorum"
    APPROVES = "approves"
    DOES_NOT_APPROVE = "does_not_approve"


def _side(doc: RulesDocument, tally: Tally) -> _Side:
    if tally.cast < doc.quorum_per_constituency:
        return _Side.NO_QUORUM
    return _Side.APPROVES if tally.approve > tally.deny else _Side.DOES_NOT_APPROVE


def _combine(sides: Iterable[_Side]) -> Outcome:
    states = list(sides)
    if any(s is _Side.NO_QUORUM for s in states):
        return Outcome.LAPSED
    if all(s is _Side.APPROVES for s in states):
        return Outcome.APPROVED
    return Outcome.DENIED


def _possible_sides(doc: RulesDocument, tally: Tally, outstanding: int) -> set[_Side]:
    """Every state a side can still end in, if any number of its outstanding members vote any way."""
    found: set[_Side] = set()
    for a in range(outstanding + 1):
        for d in range(outstanding + 1 - a):
            for x in range(outstanding + 1 - a - d):
                found.add(_side(doc, Tally(tally.approve + a, tally.deny + d, tally.abstain + x)))
    return found


def tally(
    seats: Iterable[Seat], ballots: Mapping[str, Vote]
) -> tuple[dict[Constituency, Tally], dict[Constituency, int]]:
    """Counted ballots and outstanding voters per constituency; recused members are left out."""
    counts: dict[Constituency, list[int]] = {c: [0, 0, 0] for c in Constituency}
    outstanding: dict[Constituency, int] = dict.fromkeys(Constituency, 0)
    for seat in seats:
        if seat.recused:
            continue
        vote = ballots.get(seat.member)
        if vote is None:
            outstanding[seat.constituency] += 1
        else:
            counts[seat.constituency][(Vote.APPROVE, Vote.DENY, Vote.ABSTAIN).index(vote)] += 1
    return {c: Tally(*v) for c, v in counts.items()}, outstanding


def decide(
    doc: RulesDocument, seats: Iterable[Seat], ballots: Mapping[str, Vote], *, deadline_passed: bool
) -> Result:
    """The outcome of a round under ``doc``.

    ``ballots`` maps member → vote; a ballot of a member without a seat, or of a recused member, is
    ignored (the service refuses to record such ballots in the first place). Before the deadline the
    outcome is given only once it is settled: every way the outstanding members could still vote (or
    not vote) leads to the same outcome. After the deadline, members who did not vote never will.
    """
    seat_list = list(seats)
    tallies, outstanding = tally(seat_list, ballots)
    if deadline_passed:
        outcome = _combine(_side(doc, tallies[c]) for c in Constituency)
        return Result(outcome, tallies, outstanding, settled=True)
    government, industry = (
        _possible_sides(doc, tallies[c], outstanding[c])
        for c in (Constituency.GOVERNMENT, Constituency.INDUSTRY)
    )
    possible = {_combine((g, i)) for g in government for i in industry}
    if len(possible) == 1:
        return Result(possible.pop(), tallies, outstanding, settled=True)
    return Result(None, tallies, outstanding, settled=False)


def ballot_problem(doc: RulesDocument, vote: Vote, rationale: str) -> str | None:
    """Why a ballot cannot be accepted under ``doc`` (a deny needs a written rationale), or None."""
    if vote is Vote.DENY and len(rationale.strip()) < doc.deny_rationale_min_chars:
        return f"a deny vote needs a written rationale of at least {doc.deny_rationale_min_chars} characters"
    return None


def disjoint(first: Iterable[str], second: Iterable[str]) -> bool:
    """An appeal panel shares no member with the panel it reviews."""
    return not set(first) & set(second)
