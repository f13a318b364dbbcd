"""``forewarn benchmark`` (packs, threshold policies, models, determinations) and ``forewarn attestation``.

Commands act as a named person (``--as EMAIL``, in one of their organisations) so the access rules and
the ledger see who did what. Threshold numbers are read from a file (``--spec``), not from the command
line, so they do not land in shell history or the process list.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forewarn.cli.common import console, emit, in_transaction

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from forewarn.accounts.schemas import Principal

benchmark_app = typer.Typer(
    help="The sealed benchmark: packs, threshold policies, determinations.", no_args_is_help=True
)
pack_app = typer.Typer(help="Sealed packs: build, import, list, retire.", no_args_is_help=True)
policy_app = typer.Typer(
    help="Threshold policies: propose (NSA), consult (ONCD, CISA), activate (NSA).", no_args_is_help=True
)
model_app = typer.Typer(help="Models a lab registers with the programme.", no_args_is_help=True)
determination_app = typer.Typer(help="Covered-model determinations.", no_args_is_help=True)
attestation_app = typer.Typer(
    help="Determination attestations (in-toto, DSSE, Ed25519).", no_args_is_help=True
)
benchmark_app.add_typer(pack_app, name="pack")
benchmark_app.add_typer(policy_app, name="policy")
benchmark_app.add_typer(model_app, name="model")
benchmark_app.add_typer(determination_app, name="determination")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
As = Annotated[str, typer.Option("--as", help="Act as this person (email).")]
Org = Annotated[
    str | None, typer.Option("--org", help="In this organisation (name, code or id) when they have several.")
]

PACK_COLUMNS = ["id", "name", "version", "classification", "pack_hash", "status"]
POLICY_COLUMNS = ["id", "status", "pack_hash", "commitment", "family_limit", "period_days", "consultations"]
DETERMINATION_COLUMNS = ["id", "model_id", "family", "mode", "status", "verdict", "attestation_hash"]


async def acting(session: AsyncSession, email: str, org: str | None) -> Principal:
    """The principal of ``email`` in ``org`` (or in their only organisation)."""
    from forewarn.accounts import service as accounts
    from forewarn.core.errors import InvalidInput, NotFound

    person = await accounts.find_person(session, email=email)
    memberships = {m.organisation_id for m in person.memberships}
    if org is not None:
        try:
            organisation_id = uuid.UUID(org)
        except ValueError:
            organisation_id = (await accounts.find_organisation(session, name_or_code=org)).id
        if organisation_id not in memberships:
            raise NotFound("that person is not a member of that organisation")
    elif len(memberships) == 1:
        organisation_id = next(iter(memberships))
    else:
        raise InvalidInput("that person belongs to several organisations: name one with --org")
    principal = await accounts.principal_for(
        session, person_id=person.id, organisation_id=organisation_id, via="cli"
    )
    if principal is None:
        raise NotFound("that person is not active")
    return principal


# --- packs -------------------------------------------------------------------------------------------


@pack_app.command("example")
def pack_example(
    directory: Annotated[Path, typer.Argument(help="Where to write the authoring directory.")],
) -> None:
    """Write the NON-CLASSIFIED EXAMPLE pack (400 generated items) as an authoring directory."""
    from forewarn.earlyaccess.benchmark.example import write_example_pack

    written = write_example_pack(directory)
    console.print(f"wrote the NON-CLASSIFIED EXAMPLE pack to {written}")


@pack_app.command("build")
def pack_build(
    directory: Annotated[Path, typer.Argument(help="Authoring directory: pack.toml + items.jsonl.")],
    out: Annotated[Path, typer.Option("--out", help="The sealed pack file to write.")],
) -> None:
    """Validate a directory and seal it (AES-GCM under the programme data key) into one file."""
    import os

    from forewarn.cli.common import open_runtime
    from forewarn.earlyaccess.benchmark import pack

    runtime = open_runtime()
    blob = pack.build(directory, runtime.keys.data)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
    header = pack.read_header(blob)
    console.print(f"sealed {header.name} {header.version} → {out}  pack hash {header.pack_hash}")


@pack_app.command("import")
def pack_import(
    file: Annotated[Path, typer.Argument(help="A sealed pack file.")],
    actor: As,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Import a sealed pack (authenticated before anything is stored)."""
    from forewarn.earlyaccess.benchmark import service

    blob = file.read_bytes()

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.import_pack(
            session, blob=blob, actor=await acting(session, actor, org), key=rt.keys.data
        )

    emit(in_transaction(run), as_json=as_json, columns=PACK_COLUMNS)


@pack_app.command("list")
def pack_list(actor: As, org: Org = None, as_json: JsonFlag = False) -> None:
    """List imported packs (public header fields)."""
    from forewarn.earlyaccess.benchmark import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.list_packs(session, actor=await acting(session, actor, org))

    emit(in_transaction(run), as_json=as_json, columns=PACK_COLUMNS)


@pack_app.command("retire")
def pack_retire(
    ref: Annotated[str, typer.Argument(help="Pack id, pack hash (prefix) or name@version.")],
    actor: As,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Retire a pack (its active policy, if any, is superseded)."""
    from forewarn.earlyaccess.benchmark import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        who = await acting(session, actor, org)
        found = await service.find_pack(session, ref=ref, actor=who)
        return await service.retire_pack(session, pack_id=found.id, actor=who)

    emit(in_transaction(run), as_json=as_json, columns=PACK_COLUMNS)


# --- policies ----------------------------------------------------------------------------------------


def _read_spec(path: Path) -> dict[str, Any]:
    import json
    import tomllib

    from forewarn.core.errors import InvalidInput

    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the spec file must be JSON (or TOML with a .toml name)") from None
    if not isinstance(data, dict) or set(data) - {"grader"} != {"p0", "delta", "alpha", "beta", "max_calls"}:
        raise InvalidInput(
            "the spec file must hold exactly p0, delta, alpha, beta and max_calls"
            " (and a grader when the pack has model-graded items)"
        )
    return data


@policy_app.command("propose")
def policy_propose(
    pack: Annotated[str, typer.Option(help="Pack id, pack hash (prefix) or name@version.")],
    spec: Annotated[
        Path,
        typer.Option(
            help="JSON/TOML file with p0, delta, alpha, beta, max_calls (sealed), and for packs with"
            " model-graded items a grader: {base_url, model, credential}."
        ),
    ],
    family_limit: Annotated[int, typer.Option(help="Determinations per model family per period.")],
    period_days: Annotated[int, typer.Option(help="The period of the limit, in days.")],
    actor: As,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Propose a threshold policy (NSA custodians). The ledger gets a salted commitment only."""
    from forewarn.cli.main import parse
    from forewarn.earlyaccess.benchmark import service
    from forewarn.earlyaccess.benchmark.schemas import PolicyIn

    numbers = _read_spec(spec)

    async def run(session: AsyncSession, rt: Any) -> Any:
        who = await acting(session, actor, org)
        found = await service.find_pack(session, ref=pack, actor=who)
        data = parse(
            PolicyIn, pack_id=found.id, family_limit=family_limit, period_days=period_days, **numbers
        )
        return await service.propose_policy(session, data=data, actor=who, key=rt.keys.data)

    emit(in_transaction(run), as_json=as_json, columns=POLICY_COLUMNS)


@policy_app.command("consult")
def policy_consult(
    policy_id: Annotated[uuid.UUID, typer.Argument()],
    concur: Annotated[bool, typer.Option("--concur/--non-concur", help="Concur with the policy or not.")],
    comment: Annotated[str, typer.Option(help="The consultation's comment (sealed).")],
    actor: As,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Record ONCD's or CISA's consultation on a proposed policy."""
    from forewarn.cli.main import parse
    from forewarn.earlyaccess.benchmark import service
    from forewarn.earlyaccess.benchmark.schemas import ConsultationIn

    data = parse(ConsultationIn, concur=concur, comment=comment)

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.consult(
            session, policy_id=policy_id, data=data, actor=await acting(session, actor, org), key=rt.keys.data
        )

    emit(in_transaction(run), as_json=as_json, columns=POLICY_COLUMNS)


@policy_app.command("activate")
def policy_activate(
    policy_id: Annotated[uuid.UUID, typer.Argument()], actor: As, org: Org = None, as_json: JsonFlag = False
) -> None:
    """Activate a policy (NSA) once ONCD and CISA have recorded their consultations."""
    from forewarn.earlyaccess.benchmark import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.activate_policy(
            session, policy_id=policy_id, actor=await acting(session, actor, org)
        )

    emit(in_transaction(run), as_json=as_json, columns=POLICY_COLUMNS)


@policy_app.command("list")
def policy_list(actor: As, org: Org = None, as_json: JsonFlag = False) -> None:
    """List threshold policies (status, commitment, consultations; never the numbers)."""
    from forewarn.earlyaccess.benchmark import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.list_policies(session, actor=await acting(session, actor, org))

    emit(in_transaction(run), as_json=as_json, columns=POLICY_COLUMNS)


@policy_app.command("consultations")
def policy_consultations(
    policy_id: Annotated[uuid.UUID, typer.Argument()], actor: As, org: Org = None, as_json: JsonFlag = False
) -> None:
    """The consultations on a policy, with their (sealed) comments: benchmark custodians only."""
    from forewarn.earlyaccess.benchmark import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        rows = await service.consultation_comments(
            session, policy_id=policy_id, actor=await acting(session, actor, org), key=rt.keys.data
        )
        return [{"agency": a, "concur": c, "comment": text} for a, c, text in rows]

    emit(in_transaction(run), as_json=as_json, columns=["agency", "concur", "comment"])


# --- models ------------------------------------------------------------------------------------------


@model_app.command("register")
def model_register(
    name: Annotated[str, typer.Option()],
    version: Annotated[str, typer.Option()],
    family: Annotated[str, typer.Option()],
    release: Annotated[str, typer.Option(help="Planned release date, YYYY-MM-DD.")],
    mode: Annotated[str, typer.Option(help="enclave or remote.")],
    base_url: Annotated[str, typer.Option(help="OpenAI-compatible API base URL (…/v1).")],
    model: Annotated[str, typer.Option(help="The model name at that endpoint.")],
    actor: As,
    credential_env: Annotated[
        str | None, typer.Option(help="Name of an environment variable holding the endpoint's API key.")
    ] = None,
    modality: Annotated[str, typer.Option()] = "text",
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a model of your lab (the credential is sealed)."""
    import os

    from forewarn.cli.main import parse
    from forewarn.core.errors import InvalidInput
    from forewarn.earlyaccess.review import service
    from forewarn.earlyaccess.review.schemas import ModelIn

    try:
        planned = date.fromisoformat(release)
    except ValueError:
        raise InvalidInput("release must be a date like 2027-03-01") from None
    credential = os.environ.get(credential_env) if credential_env else None
    data = parse(
        ModelIn,
        name=name,
        version=version,
        family=family,
        modality=modality,
        planned_release=planned,
        access_mode=mode,
        endpoint_base_url=base_url,
        endpoint_model=model,
        credential=credential,
    )

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.register_model(
            session, data=data, actor=await acting(session, actor, org), key=rt.keys.data
        )

    emit(in_transaction(run), as_json=as_json, columns=["id", "name", "version", "family", "access_mode"])


# --- determinations ----------------------------------------------------------------------------------


def _run_with_progress(determination_id: uuid.UUID) -> Any:
    """Run a determination in this process with a progress bar (the worker's job, in the foreground)."""
    import asyncio

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from forewarn.cli.common import open_runtime
    from forewarn.earlyaccess.benchmark import jobs

    runtime = open_runtime()

    async def main() -> Any:
        try:
            with Progress(
                TextColumn("determination"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("run", total=None)

                def update(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                return await jobs.run_now(runtime, determination_id, on_progress=update)
        finally:
            await runtime.db.dispose()

    return asyncio.run(main())


@determination_app.command("request")
def determination_request(
    model_id: Annotated[uuid.UUID, typer.Argument()],
    actor: As,
    org: Org = None,
    run: Annotated[
        bool, typer.Option("--run", help="Run it here now, with a progress bar, instead of in a worker.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Request a determination for one of your lab's models."""
    from forewarn.earlyaccess.benchmark import service
    from forewarn.earlyaccess.benchmark.schemas import DeterminationStatus

    async def request(session: AsyncSession, rt: Any) -> Any:
        return await service.request_determination(
            session, model_id=model_id, actor=await acting(session, actor, org), key=rt.keys.data
        )

    out = in_transaction(request)
    if out.status is DeterminationStatus.REFUSED:
        raise service.limit_error(out)  # the refusal is committed and in the ledger
    if run:
        _run_with_progress(out.id)

        async def status(session: AsyncSession, rt: Any) -> Any:
            return await service.get_determination(
                session, determination_id=out.id, actor=await acting(session, actor, org)
            )

        out = in_transaction(status)
    emit(out, as_json=as_json, columns=DETERMINATION_COLUMNS)


@determination_app.command("run")
def determination_run(
    determination_id: Annotated[uuid.UUID, typer.Argument()], as_json: JsonFlag = False
) -> None:
    """Run (or resume) a requested determination here, with a progress bar (operators; no worker needed)."""
    out = _run_with_progress(determination_id)
    if out is None:
        console.print("nothing to do: the determination is already finished or was refused")
        return
    emit(out, as_json=as_json, columns=DETERMINATION_COLUMNS)


@determination_app.command("status")
def determination_status(
    determination_id: Annotated[uuid.UUID, typer.Argument()],
    actor: As,
    org: Org = None,
    as_json: JsonFlag = False,
) -> None:
    """A determination's status and verdict."""
    from forewarn.earlyaccess.benchmark import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.get_determination(
            session, determination_id=determination_id, actor=await acting(session, actor, org)
        )

    emit(in_transaction(run), as_json=as_json, columns=DETERMINATION_COLUMNS)


@determination_app.command("list")
def determination_list(actor: As, org: Org = None, as_json: JsonFlag = False) -> None:
    """Your lab's determinations (all of them for custodians)."""
    from forewarn.earlyaccess.benchmark import service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.list_determinations(session, actor=await acting(session, actor, org))

    emit(in_transaction(run), as_json=as_json, columns=DETERMINATION_COLUMNS)


@determination_app.command("audit")
def determination_audit(
    determination_id: Annotated[uuid.UUID, typer.Argument()],
    actor: As,
    org: Org = None,
    logs: Annotated[
        Path | None,
        typer.Option(
            "--logs", help="Decrypt the run's sealed Inspect logs into this directory (sealed content)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """A run's sealed details (custodians only): outcomes, calls, attempts, notes; and its Inspect logs."""
    import json

    from forewarn.earlyaccess.benchmark import runner, service

    async def run(session: AsyncSession, rt: Any) -> Any:
        audit = await service.audit_determination(
            session,
            determination_id=determination_id,
            actor=await acting(session, actor, org),
            key=rt.keys.data,
        )
        written = []
        work = Path(rt.settings.data_dir) / "sealed" / "benchmark" / str(determination_id)
        if logs is not None and (work / "sealed-logs").is_dir():
            logs.mkdir(parents=True, exist_ok=True, mode=0o700)
            for sealed in sorted((work / "sealed-logs").iterdir()):
                plain = logs / sealed.name.removesuffix(".sealed")
                plain.write_bytes(
                    runner.open_sealed_log(work, rt.keys.data, str(determination_id), sealed.name)
                )
                written.append(str(plain))
        return audit | {"logs_written": written}

    audit = in_transaction(run)
    if as_json:
        print(json.dumps(audit, indent=2))
        return
    for name, value in audit.items():
        console.print(f"{name}: {value}", highlight=False)


@determination_app.command("attestation")
def determination_attestation(
    determination_id: Annotated[uuid.UUID, typer.Argument()],
    actor: As,
    out: Annotated[Path, typer.Option("--out", help="Where to write the DSSE envelope (JSON).")],
    org: Org = None,
) -> None:
    """Save a determination's signed attestation."""
    from forewarn.earlyaccess.benchmark import attestation, service

    async def run(session: AsyncSession, rt: Any) -> Any:
        return await service.get_attestation(
            session, determination_id=determination_id, actor=await acting(session, actor, org)
        )

    envelope = in_transaction(run)
    out.write_bytes(attestation.envelope_bytes(envelope))
    console.print(f"wrote {out}  ({attestation.envelope_hash(envelope)})")


# --- attestations ------------------------------------------------------------------------------------


@attestation_app.command("verify")
def attestation_verify(
    file: Annotated[Path, typer.Argument(help="A DSSE envelope (JSON).")],
    key: Annotated[
        Path, typer.Option("--key", help="The programme's public key: PEM, or base64/hex of 32 bytes.")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Check an attestation's signature and print what it states."""
    import json

    from forewarn.earlyaccess.benchmark import attestation

    stmt = attestation.verify(file.read_bytes(), attestation.load_public_key(key.read_bytes()))
    predicate = stmt["predicate"]
    if as_json:
        print(json.dumps(stmt, indent=2))
        return
    model = predicate.get("model", {})
    rates = predicate.get("error_rates")
    bounds = f", error rates alpha {rates['alpha']} / beta {rates['beta']}" if rates else ""
    console.print(
        f"valid: {model.get('name')} {model.get('version')} (family {model.get('family')}) is"
        f" [bold]{str(predicate['verdict']).replace('_', ' ')}[/bold]"
        f" — mode {predicate['mode']}, pack {predicate['benchmark'].get('pack_sha256')},"
        f" policy commitment {predicate['policy'].get('commitment')}{bounds}, {predicate.get('date')}",
        highlight=False,
    )


@attestation_app.command("key")
def attestation_key(
    out: Annotated[Path | None, typer.Option("--out", help="Write the PEM here.")] = None,
) -> None:
    """Print (or save) the programme's public key that signs attestations."""
    from forewarn.cli.common import open_runtime
    from forewarn.earlyaccess.benchmark import attestation

    pem = attestation.public_key_pem(open_runtime().keys.signing)
    if out is not None:
        out.write_text(pem)
    print(pem, end="")
