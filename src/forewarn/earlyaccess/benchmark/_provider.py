"""A small Inspect model provider for OpenAI-compatible chat-completions endpoints, over httpx.

Registered (in the runner's child process only) as ``forewarn-openai/<model>``. Inspect's own
``openai-api`` provider needs the ``openai`` package, which forewarn does not depend on; this one
speaks the one call a determination makes (``POST {base_url}/chat/completions``, no tools) with the
``httpx`` forewarn already has. llama.cpp's server, vLLM and hosted APIs all accept it.

Invariants:

- Only ``Inspect``'s public API is used (``modelapi``, ``ModelAPI``, ``ModelOutput``, ``ModelUsage``).
- The API key goes into the ``Authorization`` header only; errors carry the HTTP status, never a
  request or response body (which holds item text and model output).
- Responses are untrusted: at most ``MAX_RESPONSE_BYTES`` are read, and the answer text is cut to the
  scorers' limit.
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx

from forewarn.earlyaccess.benchmark.scoring import MAX_OUTPUT_CHARS

NAME = "forewarn-openai"
MAX_RESPONSE_BYTES = 1_048_576
_registered = False


class EndpointError(RuntimeError):
    """The model endpoint failed; the message names the status only."""


def register() -> None:
    """Register the provider with Inspect (idempotent)."""
    global _registered  # noqa: PLW0603 -- one registration per process
    if _registered:
        return
    from inspect_ai.model import (
        ChatMessage,
        GenerateConfig,
        ModelAPI,
        ModelOutput,
        ModelUsage,
        modelapi,
    )

    class OpenAICompatible(ModelAPI):
        def __init__(
            self,
            model_name: str,
            base_url: str | None = None,
            api_key: str | None = None,
            config: GenerateConfig = GenerateConfig(),  # noqa: B008 -- Inspect's own signature
            **model_args: Any,
        ) -> None:
            super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
            if not base_url:
                raise EndpointError("a base URL is required")
            self._url = base_url.rstrip("/") + "/chat/completions"
            self._timeout = float(config.timeout or 120)

        async def generate(
            self, input: list[ChatMessage], tools: list[Any], tool_choice: Any, config: GenerateConfig
        ) -> ModelOutput:
            body: dict[str, Any] = {
                "model": self.model_name,
                "messages": [{"role": m.role, "content": m.text} for m in input],
            }
            if config.max_tokens is not None:
                body["max_tokens"] = config.max_tokens
            if config.temperature is not None:
                body["temperature"] = config.temperature
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            async with (
                httpx.AsyncClient(timeout=self._timeout) as client,
                client.stream("POST", self._url, json=body, headers=headers) as response,
            ):
                if response.status_code >= 400:
                    raise EndpointError(f"the model endpoint answered HTTP {response.status_code}")
                raw = b""
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) > MAX_RESPONSE_BYTES:
                        raise EndpointError("the model endpoint's response is too large")
            try:
                data = httpx.Response(200, content=raw).json()
                text = data["choices"][0]["message"].get("content") or ""
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                raise EndpointError("the model endpoint's response is not a chat completion") from None
            output = ModelOutput.from_content(model=self.model_name, content=str(text)[:MAX_OUTPUT_CHARS])
            usage = data.get("usage") if isinstance(data, dict) else None
            if isinstance(usage, dict):
                with contextlib.suppress(TypeError, ValueError):  # usage is informative only
                    output.usage = ModelUsage(
                        input_tokens=int(usage.get("prompt_tokens", 0)),
                        output_tokens=int(usage.get("completion_tokens", 0)),
                        total_tokens=int(usage.get("total_tokens", 0)),
                    )
            return output

        def should_retry(self, ex: BaseException) -> bool:
            return isinstance(ex, httpx.TransportError) or (
                isinstance(ex, EndpointError) and ("HTTP 5" in str(ex) or "HTTP 429" in str(ex))
            )

    @modelapi(name=NAME)
    def provider() -> type[ModelAPI]:
        return OpenAICompatible

    _registered = True
