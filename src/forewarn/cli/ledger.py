"""``forewarn ledger``: verify, prove, export and witness the transparency log.

``verify``, ``prove --url``, ``export --url`` and ``witness`` are for anyone outside: they
speak to a server's public API and trust only the log key given to them. ``checkpoint``,
``key``, ``export`` and ``prove`` without ``--url``, and ``witnesses``, work on the local
database, for the platform's operators.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forewarn.cli.common import console, emit, err_console, in_transaction

if TYPE_CHECKING:
    import httpx
    from rich.progress import Progress

    from forewarn.ledger.note import VerifierKey

ledger_app = typer.Typer(
    help="Transparency log: verify it from outside, prove an entry, export a dump, run a witness.",
    no_args_is_help=True,
)
witnesses_app = typer.Typer(
    help="Witness keys the log accepts cosignatures from (operators).", no_args_is_help=True
)
ledger_app.add_typer(witnesses_app, name="witnesses")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
UrlOpt = Annotated[
    str | None, typer.Option("--url", help="The forewarn server, e.g. https://forewarn.example")
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", help="The log's verifier key (name+id+base64); pin it.", envvar="FOREWARN_LOG_KEY"),
]
KeyFileOpt = Annotated[Path | None, typer.Option("--key-file", help="A file holding the log's verifier key.")]


@asynccontextmanager
async def _http(url: str) -> AsyncIterator[httpx.AsyncClient]:
    import httpx

    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=60, follow_redirects=False) as client:
        yield client


def _pinned(key: str | None, key_file: Path | None) -> str | None:
    if key_file is not None:
        return key_file.read_text(encoding="utf-8").strip()
    return key


async def _log_key(source: Any, key: str | None) -> VerifierKey:
    """The pinned key, or (with a warning) the one the source itself offers."""
    from forewarn.ledger import note

    if key:
        return note.parse_vkey(key.strip())
    served = await source.log_key()
    err_console.print(
        f"warning: trusting the key the log itself serves ({served}); pin it with --key, or a log "
        "that swaps its key and history together would pass",
        highlight=False,
        markup=False,
    )
    return note.parse_vkey(served)


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,  # a bar is for people; scripts get clean output
    )


def _advance(progress: Progress, description: str) -> Callable[[int, int], None]:
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return update


@ledger_app.command("verify")
def verify(
    url: UrlOpt = None,
    dump: Annotated[Path | None, typer.Option("--dump", help="Verify a dump written by export.")] = None,
    key: KeyOpt = None,
    key_file: KeyFileOpt = None,
    origin: Annotated[
        str | None, typer.Option(help="Expected origin line (default: the key's name).")
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option("--witness", help="A witness's verifier key to check cosignatures (repeatable)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Fetch everything, recompute the tree, check every checkpoint and their consistency."""
    from forewarn.core.errors import InvalidInput
    from forewarn.ledger import audit, note

    if (url is None) == (dump is None):
        raise InvalidInput("give exactly one of --url or --dump")
    witnesses = [note.parse_vkey(w) for w in witness or []]
    pinned_text = _pinned(key, key_file)

    async def run() -> audit.Report:
        with _progress() as progress:
            if dump is not None:
                source = audit.DumpSource(dump)
                try:
                    pinned = await _log_key(source, pinned_text)
                    return await audit.verify(
                        source,
                        key=pinned,
                        origin=origin,
                        witnesses=witnesses,
                        progress=_advance(progress, "verifying"),
                    )
                finally:
                    source.close()
            assert url is not None  # noqa: S101 -- checked above; narrows the type
            async with _http(url) as client:
                http = audit.HttpSource(client)
                pinned = await _log_key(http, pinned_text)
                return await audit.verify(
                    http,
                    key=pinned,
                    origin=origin,
                    witnesses=witnesses,
                    progress=_advance(progress, "verifying"),
                )

    report = asyncio.run(run())
    if as_json:
        print(json.dumps(report.__dict__, indent=2))
        return
    console.print(
        f"OK: {report.entries} entries and {report.checkpoints} checkpoints of {report.origin} verify;"
        f" tree size {report.size}, root {report.root_hash}",
        highlight=False,
    )
    for label, count in report.cosigned.items():
        console.print(f"  witness {label} cosigned {count} of them", highlight=False)


@ledger_app.command("prove")
def prove(
    entry_id: Annotated[uuid.UUID, typer.Argument(help="The entry's id.")],
    url: UrlOpt = None,
    key: KeyOpt = None,
    key_file: KeyFileOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """Print an entry's inclusion proof and checkpoint, and check them with the log key."""
    from forewarn.ledger import audit, service
    from forewarn.ledger.schemas import EntryWithProof

    pinned_text = _pinned(key, key_file)

    async def remote(address: str) -> tuple[EntryWithProof, str]:
        async with _http(address) as client:
            http = audit.HttpSource(client)
            pinned = await _log_key(http, pinned_text)
            found = await http.entry(entry_id)
            audit.check_proof(found, key=pinned)
            return found, pinned.label

    async def local(session: Any, runtime: Any) -> tuple[EntryWithProof, str]:
        signer = await service.log_signer(session, runtime)
        found = await service.entry_with_proof(session, entry_id=entry_id)
        audit.check_proof(found, key=signer.verifier)
        return found, signer.verifier.label

    found, signer = asyncio.run(remote(url)) if url else in_transaction(local)
    if as_json:
        print(json.dumps(found.model_dump(mode="json"), indent=2))
        return
    inc = found.inclusion
    console.print(f"entry {inc.index}  {found.entry.type}  id {found.entry.entry_id}", highlight=False)
    console.print(f"leaf hash   {inc.leaf_hash}", highlight=False)
    console.print(f"audit path  {len(inc.proof)} hashes (leaf level first)", highlight=False)
    for h in inc.proof:
        console.print(f"  {h}", highlight=False)
    console.print(f"root        {inc.root_hash}  (tree size {inc.tree_size})", highlight=False)
    console.print("checkpoint:", highlight=False)
    console.print(found.checkpoint.note.rstrip("\n"), highlight=False, markup=False)
    console.print(f"verified: the entry is leaf {inc.index} of the tree signed by {signer}", highlight=False)


@ledger_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="Where to write the dump (JSON lines).")],
    url: UrlOpt = None,
) -> None:
    """Write a dump a third party can mirror and verify (from the local log, or a server's)."""
    from forewarn.ledger import audit, service

    tmp = file.with_name(file.name + ".part")

    async def write(source: Any) -> int:
        with _progress() as progress, tmp.open("w", encoding="utf-8") as out:
            return await audit.export(source, out, progress=_advance(progress, "exporting"))

    async def remote(address: str) -> int:
        async with _http(address) as client:
            return await write(audit.HttpSource(client))

    async def local(session: Any, runtime: Any) -> int:
        return await write(audit.ServiceSource(session, await service.log_signer(session, runtime)))

    size = asyncio.run(remote(url)) if url else in_transaction(local)
    os.replace(tmp, file)
    console.print(f"wrote {size} entries to {file}", highlight=False)


@ledger_app.command("witness")
def witness(
    url: Annotated[str, typer.Option("--url", help="The forewarn server to witness.")],
    key_file: Annotated[
        Path, typer.Option("--key-file", help="This witness's signer key (see witness-key).")
    ],
    state: Annotated[
        Path, typer.Option("--state", help="This witness's state file (kept between runs).")
    ] = Path("witness-state.json"),
    log_key: Annotated[
        str | None,
        typer.Option("--log-key", help="The log's verifier key (needed until the state file has it)."),
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between rounds; 0 runs one round.", min=0)] = 0,
    rounds: Annotated[int, typer.Option(help="Stop after this many rounds (0: never).", min=0)] = 0,
) -> None:
    """Cosign the log's checkpoints, each only after checking it extends the last one cosigned."""
    from forewarn.ledger import audit, note

    name, private_key = note.parse_skey(key_file.read_text(encoding="utf-8").strip())
    saved = audit.WitnessState.load(state)
    pinned_text = log_key or (saved.log_key if saved else None)

    async def run() -> None:
        async with _http(url) as client:
            http = audit.HttpSource(client)
            pinned = await _log_key(http, pinned_text)
            done = 0
            while True:
                result = await audit.witness_once(
                    http, name=name, private_key=private_key, state_path=state, log_key=pinned
                )
                if result.cosigned:
                    console.print(f"cosigned size {result.size} (after {result.previous})", highlight=False)
                else:
                    console.print(f"no new checkpoint (size {result.size})", highlight=False)
                done += 1
                if interval <= 0 or (rounds and done >= rounds):
                    return
                await asyncio.sleep(interval)

    asyncio.run(run())


@ledger_app.command("witness-key")
def witness_key(
    name: Annotated[str, typer.Argument(help="The witness's name, e.g. witness.example.org/w1")],
    key_file: Annotated[
        Path, typer.Option("--key-file", help="Where to write the new signer key (mode 0600).")
    ],
) -> None:
    """Make a witness key pair; prints the verifier key for the log operator to register."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from forewarn.core.errors import Conflict
    from forewarn.ledger import audit, note

    private_key = Ed25519PrivateKey.generate()
    skey = note.format_skey(name, private_key)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Conflict(f"{key_file} exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(skey + "\n")
    print(audit.witness_vkey(name, private_key))


@ledger_app.command("checkpoint")
def checkpoint(as_json: JsonFlag = False) -> None:
    """Sign the current tree head now (the worker does this after appends)."""
    from forewarn.ledger import service

    async def run(session: Any, runtime: Any) -> Any:
        return await service.issue_checkpoint(session, signer=await service.log_signer(session, runtime))

    out = in_transaction(run)
    emit(out, as_json=as_json, columns=["origin", "size", "root_hash", "created_at"])


@ledger_app.command("key")
def key() -> None:
    """Print the log's verifier key (publish it where auditors can pin it)."""
    from forewarn.ledger import service

    async def run(session: Any, runtime: Any) -> str:
        return (await service.log_signer(session, runtime)).vkey

    print(in_transaction(run))


@witnesses_app.command("add")
def witnesses_add(
    vkey: Annotated[str, typer.Argument(help="The witness's cosignature/v1 verifier key.")],
    as_json: JsonFlag = False,
) -> None:
    """Accept cosignatures by this witness key (recorded in the log)."""
    from forewarn.ledger import service

    out = in_transaction(lambda s, _rt: service.register_witness(s, vkey=vkey))
    emit(out, as_json=as_json, columns=["name", "key_id", "vkey", "created_at"])


@witnesses_app.command("list")
def witnesses_list(
    retired: Annotated[bool, typer.Option(help="Include retired keys.")] = False, as_json: JsonFlag = False
) -> None:
    """Witness keys the log accepts cosignatures from."""
    from forewarn.ledger import service

    out = in_transaction(lambda s, _rt: service.list_witnesses(s, include_retired=retired))
    emit(out, as_json=as_json, columns=["name", "key_id", "active", "vkey"])


@witnesses_app.command("remove")
def witnesses_remove(
    label: Annotated[str, typer.Argument(help="name+keyid of the witness key.")], as_json: JsonFlag = False
) -> None:
    """Stop accepting cosignatures by a witness key (recorded in the log)."""
    from forewarn.ledger import service

    out = in_transaction(lambda s, _rt: service.remove_witness(s, label=label))
    emit(out, as_json=as_json, columns=["name", "key_id", "active", "removed_at"])
