"""A fast OpenAI-compatible fake model server on 127.0.0.1: a real HTTP/1.1 server (keep-alive,
chunked streaming) on its own event loop in a thread.

Its behaviour follows the ``model`` of each request (the gateway sends the upstream model name):

- ``fake`` (anything else): a short answer; ``usage`` reports ``PROMPT_TOKENS`` prompt tokens and
  ``min(max_tokens, ANSWER_TOKENS)`` completion tokens; streamed with one chunk per token and, when
  asked (``stream_options.include_usage``), a usage chunk before ``[DONE]``.
- ``fake-no-usage``: the same without any ``usage``.
- ``fake-500``: HTTP 500 whose error message echoes the Authorization header (the gateway must
  scrub the credential from what it passes on).
- ``fake-hang``: never answers. ``fake-stall``: streams two chunks, then never sends more.
- ``fake-slow``: answers after ``SLOW_SECONDS``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

PROMPT_TOKENS = 7
ANSWER_TOKENS = 5
SLOW_SECONDS = 0.2


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class FakeUpstream:
    host: str = "127.0.0.1"
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.base_events.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeUpstream:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, self.host, 0))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-upstream", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        if self._thread is not None:
            self._thread.join(5)
        loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                body = json.loads(raw) if raw else None
                self.seen.append(Seen(method, path, headers, body))
                await self._respond(writer, path, headers, body)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _head(status: int, ctype: str, length: int | None) -> bytes:
        reason = {200: "OK", 500: "Internal Server Error", 404: "Not Found"}.get(status, "X")
        framing = f"content-length: {length}" if length is not None else "transfer-encoding: chunked"
        return f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\n{framing}\r\n\r\n".encode()

    async def _send_json(self, writer: asyncio.StreamWriter, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        writer.write(self._head(status, "application/json", len(data)) + data)
        await writer.drain()

    async def _respond(
        self, writer: asyncio.StreamWriter, path: str, headers: dict[str, str], body: dict[str, Any] | None
    ) -> None:
        body = body or {}
        model = str(body.get("model", "fake"))
        if model == "fake-hang":
            await asyncio.sleep(3600)
        if model == "fake-slow":
            await asyncio.sleep(SLOW_SECONDS)
        if model == "fake-500":
            message = f"model crashed; credential was {headers.get('authorization', '')}"
            await self._send_json(writer, 500, {"error": {"message": message, "type": "server_error"}})
            return
        tokens = min(int(body.get("max_tokens") or ANSWER_TOKENS), ANSWER_TOKENS)
        usage = {
            "prompt_tokens": PROMPT_TOKENS,
            "completion_tokens": tokens,
            "total_tokens": PROMPT_TOKENS + tokens,
        }
        chat = path.endswith("/chat/completions")
        created = int(time.time())
        if not body.get("stream"):
            choice: dict[str, Any] = (
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "pong " * tokens},
                    "finish_reason": "stop",
                }
                if chat
                else {"index": 0, "text": "pong " * tokens, "finish_reason": "stop", "logprobs": None}
            )
            payload: dict[str, Any] = {
                "id": "cmpl-fake",
                "object": "chat.completion" if chat else "text_completion",
                "created": created,
                "model": model,
                "choices": [choice],
            }
            if model != "fake-no-usage":
                payload["usage"] = usage
            await self._send_json(writer, 200, payload)
            return
        writer.write(self._head(200, "text/event-stream", None))
        include = bool((body.get("stream_options") or {}).get("include_usage")) and model != "fake-no-usage"

        async def event(obj: Any) -> None:
            data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()

        for i in range(tokens):
            if model == "fake-stall" and i == 2:
                await asyncio.sleep(3600)
            delta = {"index": 0, "delta": {"content": "pong "}, "finish_reason": None}
            if not chat:
                delta = {"index": 0, "text": "pong ", "finish_reason": None}
            chunk: dict[str, Any] = {
                "id": "cmpl-fake",
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": created,
                "model": model,
                "choices": [delta],
            }
            if include:
                chunk["usage"] = None
            await event(chunk)
        if include:
            await event(
                {
                    "id": "cmpl-fake",
                    "object": "chat.completion.chunk" if chat else "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        await event(b"[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
