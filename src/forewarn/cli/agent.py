"""``forewarn agent``: set the agent up once (``init``), then run it (``run --once`` or ``--every 1h``).

Exit statuses of ``run --once``: 0 nothing affected, 1 something affected, 2 bad input, 3 the feed
was refused (tampered, expired, unsigned or unreachable), 4 the server refused the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from forewarn.cli.common import console, err_console

if TYPE_CHECKING:
    from forewarn.agent.config import AgentError
    from forewarn.agent.run import RunResult

agent_app = typer.Typer(
    help="The operator's agent: verifies the signed patch feed, scans your SBOMs, reports back.",
    no_args_is_help=True,
)

Folder = Annotated[
    Path | None,
    typer.Option(
        "--dir", envvar="FOREWARN_AGENT_DIR", help="The agent's folder (default: your data folder)."
    ),
]


def _folder(value: Path | None) -> Path:
    from forewarn.agent.config import default_dir

    return value if value is not None else default_dir()


def _say_error(exc: AgentError) -> None:
    err_console.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)


@agent_app.command("init")
def init(
    server: Annotated[str, typer.Option("--server", metavar="URL", help="The clearinghouse's address.")],
    root: Annotated[
        Path,
        typer.Option("--root", metavar="FILE", help="The feed's root.json, as the programme gave it to you."),
    ],
    token: Annotated[
        str,
        typer.Option(
            "--token",
            envvar="FOREWARN_TOKEN",
            metavar="TOKEN",
            help="An operator contact's API token (fw_…).",
        ),
    ],
    sbom: Annotated[
        list[Path] | None,
        typer.Option("--sbom", metavar="PATH", help="An SBOM file or folder to scan; repeatable."),
    ] = None,
    folder: Folder = None,
) -> None:
    """Trust the feed's root metadata, keep the token (mode 0600), and check both against the server."""
    import shutil

    import httpx

    from forewarn.agent import config as agent_config
    from forewarn.agent.feed import Feed
    from forewarn.agent.run import check_response, http_client

    where = _folder(folder)
    try:
        if where.exists() and any(where.iterdir()) and not (where / agent_config.CONFIG).exists():
            raise agent_config.AgentError(f"--dir {where} holds other files: give an empty or new folder")
        try:
            raw = root.read_bytes()
        except OSError as exc:
            raise agent_config.AgentError(f"--root {root}: {exc.strerror or exc}") from None
        version = agent_config.check_root(raw, str(root))
        # Set up in a staging folder, checked against the server, then put in place: a failed init
        # leaves an existing agent folder as it was.
        stage = where.parent / f".{where.name}.init"
        shutil.rmtree(stage, ignore_errors=True)
        cfg = agent_config.save(
            stage, server=server, root=raw, token=token, sboms=[str(p.resolve()) for p in sbom or ()]
        )
        try:
            synced = Feed(cfg).refresh()  # the server's feed verifies against this root
            with http_client(cfg) as http:
                check_response(http.get("/api/v1/operator/matches"), "checking the token")
        except httpx.HTTPError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            raise agent_config.AgentError(
                f"could not reach {cfg.server}: {str(exc)[:300]}", exit_code=4
            ) from None
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        shutil.rmtree(where, ignore_errors=True)
        stage.rename(where)
    except agent_config.AgentError as exc:
        _say_error(exc)
        raise typer.Exit(exc.exit_code) from None
    console.print(
        f"Agent ready in {where}: trusting root version {version}; the feed verified "
        f"(snapshot version {synced.snapshot_version}, {len(synced.paths)} files); the token works."
    )


def _print(result: RunResult | AgentError) -> None:
    from forewarn.agent.config import AgentError

    if isinstance(result, AgentError):
        _say_error(result)
        return
    console.print(
        f"{result.at}: feed verified (snapshot version {result.snapshot_version}, "
        f"{result.advisories} advisories); {len(result.assets)} SBOM(s) scanned",
        highlight=False,
    )
    for asset in result.assets:
        state = f"{len(asset.affected)} affected" if asset.affected else "nothing affected"
        console.print(
            f"  {asset.asset}: {asset.components} components, {asset.unscannable} unscannable, {state}",
            highlight=False,
        )
        for hit in asset.affected:
            fix = f"; update to {hit.fixed[0]}" if hit.fixed else ""
            console.print(
                f"    {hit.advisory}: {hit.package} {hit.version}{fix}", highlight=False, markup=False
            )
            for patch in hit.patches:
                console.print(f"      verified patch: {patch}", highlight=False, markup=False)
    for name in result.uploaded:
        console.print(f"  uploaded the SBOM of {name}", highlight=False, markup=False)
    for done in result.reported:
        console.print(
            f"  reported {done.advisory} on {done.asset}: {done.status}", highlight=False, markup=False
        )
    for error in result.errors:
        err_console.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)


@agent_app.command("run")
def run(
    sbom: Annotated[
        list[Path] | None,
        typer.Argument(metavar="[SBOM]...", help="SBOM files or folders (default: those given to init)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Run one cycle and exit with its status.")] = False,
    every: Annotated[str, typer.Option("--every", metavar="PERIOD", help="How often: 30m, 1h, 1d.")] = "1h",
    runs: Annotated[int | None, typer.Option("--runs", min=1, hidden=True)] = None,
    upload: Annotated[
        bool, typer.Option("--upload-sbom", help="Also send each SBOM to the server (so it matches it too).")
    ] = False,
    folder: Folder = None,
) -> None:
    """Refresh and verify the feed, scan the SBOMs, fetch verified patches, report statuses."""
    from forewarn.agent import config as agent_config
    from forewarn.agent.run import parse_every, run_every, run_once

    paths = [str(p) for p in sbom] if sbom else None
    try:
        cfg = agent_config.load(_folder(folder))
        if once:
            result = run_once(cfg, sboms=paths, upload=upload)
            _print(result)
            raise typer.Exit(result.exit_code)
        period = parse_every(every)
    except agent_config.AgentError as exc:
        _say_error(exc)
        raise typer.Exit(exc.exit_code) from None
    console.print(f"forewarn agent: every {every} (Ctrl-C stops it)")
    try:
        run_every(cfg, every=period, runs=runs, on_result=_print, sboms=paths, upload=upload)
    except KeyboardInterrupt:
        console.print("stopped")
