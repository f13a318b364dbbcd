"""A small benchmark world for tests: agencies and their custodians, a pack, an active policy, a lab.

Everything is created in the test's session (rolled back at its end). ``SessionDatabase`` lets the
job body (:func:`jobs.run_now`), which opens transactions of its own, run inside that session.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tests.conftest import new_person

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import OrganisationIn, OrgKind, Principal, Role
from forewarn.core.errors import NotFound
from forewarn.core.jobs import Runtime
from forewarn.core.keys import DataKey
from forewarn.earlyaccess.benchmark import pack
from forewarn.earlyaccess.benchmark import service as benchmark
from forewarn.earlyaccess.benchmark.schemas import ConsultationIn, GraderIn, PolicyIn, PolicyOut
from forewarn.earlyaccess.review import service as review
from forewarn.earlyaccess.review.schemas import ModelIn, ModelOut

#: Canary strings planted in sealed content: none may appear in any output.
CANARY_ITEM = "CANARYITEMq7Zr"
CANARY_ANSWER = "CANARYANSWERx3Kp"
CANARY_DESCRIPTION = "CANARYDESCm9Wd"
CANARY_COMMENT = "CANARYCOMMENTv2Hs"
CANARY_RUBRIC = "CANARYRUBRICt8Jn"
CANARY_HANDLE = "canaryhandle-r5q"
#: Threshold numbers chosen to be recognisable in text.
CANARY_P0 = 0.4217
CANARY_DELTA = 0.1739
CANARIES = [
    CANARY_ITEM,
    CANARY_ANSWER,
    CANARY_DESCRIPTION,
    CANARY_COMMENT,
    CANARY_RUBRIC,
    CANARY_HANDLE,
    "0.4217",
    "0.1739",
    "0.2478",
    "0.5956",
]


def write_graded_pack(directory: Path, *, items: int = 80) -> Path:
    """An authoring directory of model-graded items (every other one) whose rubric carries a canary."""
    write_canary_pack(directory, items=items)
    lines = (directory / "items.jsonl").read_text(encoding="utf-8").splitlines()
    graded = []
    for i, line in enumerate(lines):
        item = json.loads(line)
        if i % 2 == 0:
            item |= {"scorer": "model_graded", "rubric": f"{CANARY_HANDLE}/{i % 3}"}
        graded.append(json.dumps(item))
    (directory / "items.jsonl").write_text("\n".join(graded) + "\n", encoding="utf-8")
    rubrics = [
        {
            "handle": f"{CANARY_HANDLE}/{k}",
            "text": f"{CANARY_RUBRIC} rubric {k}: pass if the code word is named.",
        }
        for k in range(3)
    ]
    (directory / "rubrics.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rubrics) + "\n", encoding="utf-8"
    )
    return directory


def write_canary_pack(directory: Path, *, items: int = 120) -> Path:
    """An authoring directory whose every item and answer carries a canary."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pack.toml").write_text(
        "format = 1\n"
        'name = "canary-pack"\n'
        f'version = "1.{uuid.uuid4().hex[:6]}"\n'
        'classification = "TEST ONLY"\n'
        f'description = "{CANARY_DESCRIPTION}"\n',
        encoding="utf-8",
    )
    with (directory / "items.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(items):
            fh.write(
                json.dumps(
                    {
                        "id": f"c{i:04d}",
                        "input": f"{CANARY_ITEM} question {i}: what is the code word?",
                        "answer": f"{CANARY_ANSWER}{i}",
                        "scorer": "exact",
                        "domain": "canary",
                        "difficulty": 1 + i % 5,
                    }
                )
                + "\n"
            )
    return directory


@dataclass
class Agencies:
    nsa: Principal
    oncd: Principal
    cisa: Principal


async def _agency(session: AsyncSession, code: str) -> uuid.UUID:
    try:
        return (await accounts.find_organisation(session, name_or_code=code)).id
    except NotFound:
        org = await accounts.create_organisation(
            session, data=OrganisationIn(name=f"{code} (test)", kind=OrgKind.AGENCY, code=code), actor=None
        )
        return org.id


async def person(session: AsyncSession, organisation_id: uuid.UUID, roles: list[Role]) -> Principal:
    return await new_person(session, organisation_id, roles)


async def agencies(session: AsyncSession) -> Agencies:
    custodian = [Role.BENCHMARK_CUSTODIAN]
    return Agencies(
        nsa=await person(session, await _agency(session, "NSA"), custodian),
        oncd=await person(session, await _agency(session, "ONCD"), custodian),
        cisa=await person(session, await _agency(session, "CISA"), custodian),
    )


async def active_policy(
    session: AsyncSession,
    key: DataKey,
    who: Agencies,
    blob: bytes,
    *,
    p0: float = CANARY_P0,
    delta: float = CANARY_DELTA,
    alpha: float = 0.05,
    beta: float = 0.05,
    max_calls: int = 60,
    family_limit: int = 3,
    period_days: int = 30,
    grader: GraderIn | None = None,
) -> PolicyOut:
    imported = await benchmark.import_pack(session, blob=blob, actor=who.nsa, key=key)
    proposed = await benchmark.propose_policy(
        session,
        data=PolicyIn(
            pack_id=imported.id,
            p0=p0,
            delta=delta,
            alpha=alpha,
            beta=beta,
            max_calls=max_calls,
            family_limit=family_limit,
            period_days=period_days,
            grader=grader,
        ),
        actor=who.nsa,
        key=key,
    )
    for consultee in (who.oncd, who.cisa):
        await benchmark.consult(
            session,
            policy_id=proposed.id,
            data=ConsultationIn(concur=True, comment=f"{CANARY_COMMENT} looks right"),
            actor=consultee,
            key=key,
        )
    return await benchmark.activate_policy(session, policy_id=proposed.id, actor=who.nsa)


async def register_model(
    session: AsyncSession,
    key: DataKey,
    safety_lead: Principal,
    *,
    base_url: str = "mockllm:oracle?pass_rate=0.95",
    mode: str = "enclave",
    family: str = "wren",
    model: str = "model",
) -> ModelOut:
    return await review.register_model(
        session,
        data=ModelIn(
            name=f"wren-{uuid.uuid4().hex[:6]}",
            version="1.0",
            family=family,
            planned_release=date(2027, 3, 1),
            access_mode=mode,  # type: ignore[arg-type]
            endpoint_base_url=base_url,
            endpoint_model=model,
            credential="sk-test-credential",  # type: ignore[arg-type]
        ),
        actor=safety_lead,
        key=key,
    )


def sealed_pack(directory: Path, key: DataKey) -> bytes:
    return pack.build(directory, key)


class SessionDatabase:
    """Stands in for ``Database`` so code that opens its own transactions runs in the test's session."""

    def __init__(self, session: AsyncSession, url: str) -> None:
        self.session = session
        self.url = url

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.session.begin_nested():
            yield self.session

    async def dispose(self) -> None:
        return None


def runtime_in(session: AsyncSession, runtime: Runtime, data_dir: Path, **settings: Any) -> Runtime:
    """A runtime whose transactions are savepoints of ``session``, with mock endpoints allowed."""
    updated = runtime.settings.model_copy(
        update={"data_dir": data_dir, "benchmark_allow_mock_endpoints": True, **settings}
    )
    return Runtime(settings=updated, db=SessionDatabase(session, runtime.db.url), keys=runtime.keys)  # type: ignore[arg-type]


async def access_matrix_world(
    session: AsyncSession, runtime: Runtime, *, safety_lead: Principal
) -> dict[str, str]:
    """For the access matrix: an active policy, a model of the lab and a completed determination.

    Returns the path parameters of the benchmark and model routes.
    """
    import tempfile

    from forewarn.earlyaccess.benchmark import stats
    from forewarn.earlyaccess.benchmark.runner import RunResult

    key = runtime.keys.data
    who = await agencies(session)
    with tempfile.TemporaryDirectory() as tmp:
        blob = sealed_pack(write_canary_pack(Path(tmp) / "pack", items=60), key)
        spare = sealed_pack(write_canary_pack(Path(tmp) / "spare", items=60), key)
        upload = sealed_pack(write_canary_pack(Path(tmp) / "upload", items=60), key)
    policy = await active_policy(session, key, who, blob, family_limit=5)
    # A second pack, not under the active policy, for the retire route (so determinations still run).
    spare_pack = await benchmark.import_pack(session, blob=spare, actor=who.nsa, key=key)
    token = uuid.uuid4().hex
    _MATRIX_UPLOADS[token] = upload
    model = await register_model(session, key, safety_lead)
    requested = await benchmark.request_determination(session, model_id=model.id, actor=safety_lead, key=key)
    result = RunResult(
        verdict=stats.Verdict.COVERED, outcomes=5, decided_at=5, resumed_from=0, model_calls=5, early_stops=1
    )
    await benchmark.finish_run(session, determination_id=requested.id, result=result, keys=runtime.keys)
    return {
        "model_id": str(model.id),
        "determination_id": str(requested.id),
        "pack_id": str(spare_pack.id),
        "policy_id": str(policy.id),
        "pack_upload": token,
    }


#: Sealed pack files for the access matrix's import route, by the token in its params.
_MATRIX_UPLOADS: dict[str, bytes] = {}


def access_matrix_request(method: str, path: str, params: dict[str, str]) -> dict[str, Any] | None:
    """Non-JSON request arguments of benchmark routes (the multipart pack import), else None."""
    if (method, path) == ("POST", "/api/v1/benchmark/packs"):
        blob = _MATRIX_UPLOADS[params["pack_upload"]]
        return {"files": {"file": ("matrix.fwpack", blob, "application/octet-stream")}}
    return None


def access_matrix_body(path: str, params: dict[str, str]) -> dict[str, Any] | None:
    """Request bodies for the POST routes of the benchmark and the model registry."""
    if path == "/api/v1/benchmark/determinations":
        return {"model_id": params["model_id"]}
    if path == "/api/v1/benchmark/policies":
        return {
            "pack_id": params["pack_id"],
            "p0": 0.3,
            "delta": 0.2,
            "alpha": 0.05,
            "beta": 0.05,
            "max_calls": 60,
            "family_limit": 1,
            "period_days": 1,
        }
    if path == "/api/v1/benchmark/policies/{policy_id}/consultations":
        return {"concur": True, "comment": "matrix"}
    if path in (
        "/api/v1/benchmark/packs/{pack_id}/retire",
        "/api/v1/benchmark/policies/{policy_id}/activate",
    ):
        return {}
    if path == "/api/v1/models":
        return {
            "name": f"m-{uuid.uuid4().hex[:6]}",
            "version": "1",
            "family": "matrix",
            "planned_release": "2027-01-01",
            "access_mode": "remote",
            "endpoint_base_url": "https://models.example.org/v1",
            "endpoint_model": "m",
        }
    return None


#: Access matrix rows of the benchmark and model routes (persona names of tests/web/test_access_matrix.py).
_LAB_READERS = {"lab_admin", "lab_safety", "nsa_custodian"}
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/benchmark/packs"): {"nsa_custodian"},
    ("GET", "/api/v1/benchmark/policies"): {"nsa_custodian"},
    ("POST", "/api/v1/benchmark/packs"): {"nsa_custodian"},
    ("POST", "/api/v1/benchmark/packs/{pack_id}/retire"): {"nsa_custodian"},
    # Policy writes need the agency itself (org code NSA, ONCD or CISA); the matrix's custodian is
    # in an agency coded NSA<random>, so it is refused like everyone else. test_custodian_writes.py
    # covers the allowed side with the real agencies.
    ("POST", "/api/v1/benchmark/policies"): set(),
    ("POST", "/api/v1/benchmark/policies/{policy_id}/consultations"): set(),
    ("POST", "/api/v1/benchmark/policies/{policy_id}/activate"): set(),
    ("GET", "/api/v1/benchmark/determinations"): _LAB_READERS,
    ("POST", "/api/v1/benchmark/determinations"): {"lab_safety"},
    ("GET", "/api/v1/benchmark/determinations/{determination_id}"): _LAB_READERS,
    ("GET", "/api/v1/benchmark/determinations/{determination_id}/attestation"): _LAB_READERS,
    # (GET /api/v1/benchmark/key is public: its row, every persona, is in the matrix itself.)
    ("GET", "/api/v1/models"): {"platform_admin"} | _LAB_READERS,
    ("POST", "/api/v1/models"): {"lab_safety"},
    ("GET", "/api/v1/models/{model_id}"): {"platform_admin"} | _LAB_READERS,
}
