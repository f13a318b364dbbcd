"""What every command shares: settings from flags, the runtime, one transaction, output helpers."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.core.jobs import Runtime

T = TypeVar("T")
console = Console(soft_wrap=True)
err_console = Console(stderr=True)


def settings_with(data_dir: Path | None = None, **overrides: Any) -> Any:
    from forewarn.core.settings import Settings

    if data_dir is not None:
        os.environ["FOREWARN_DATA_DIR"] = str(data_dir)
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)


def open_runtime(settings: Any = None) -> Runtime:
    from forewarn.core import logs
    from forewarn.core.bootstrap import open_runtime as _open

    settings = settings or settings_with()
    logs.configure("WARNING", json_lines=False)
    return _open(settings)


def in_transaction(fn: Callable[[AsyncSession, Runtime], Awaitable[T]], runtime: Runtime | None = None) -> T:
    """Run ``fn`` in one transaction (committed at its end), the CLI's unit of work."""
    rt = runtime or open_runtime()

    async def main() -> T:
        try:
            async with rt.db.transaction() as session:
                return await fn(session, rt)
        finally:
            await rt.db.dispose()

    return asyncio.run(main())


def emit(data: Any, *, as_json: bool, columns: list[str] | None = None, title: str | None = None) -> None:
    """Print ``data`` as JSON (for scripts) or as a Rich table (for people)."""

    def plain(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json")
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    payload = plain(data)
    if as_json:
        print(json.dumps(payload, indent=2, default=str))
        return
    rows = payload if isinstance(payload, list) else [payload]
    if not rows:
        console.print("(none)")
        return
    cols = columns or list(rows[0].keys())
    table = Table(title=title)
    for col in cols:
        table.add_column(col)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in cols))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
