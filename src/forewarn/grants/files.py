"""What an application attachment may be: checked on the bytes, not on what the sender claims.

Invariants:

- the file name's extension picks one allowed kind; the declared content type must be one that
  kind is sent as, and the bytes must be that kind (PDF and PNG signatures; UTF-8 text without NUL
  for text kinds; a JSON value for ``.json``). Anything else is refused with the field named;
- the stored name keeps only letters, digits, space, ``.``, ``_`` and ``-``: it reaches a
  ``Content-Disposition`` header and a page, and must not carry a path or quotes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from forewarn.core.errors import InvalidInput, Problem


@dataclass(frozen=True)
class Kind:
    media_type: str
    #: Content types a browser or client sends for this kind (the first is the canonical one).
    declared: tuple[str, ...]
    magic: bytes | None = None
    text: bool = False
    is_json: bool = False


KINDS: dict[str, Kind] = {
    ".pdf": Kind("application/pdf", ("application/pdf", "application/x-pdf"), magic=b"%PDF-"),
    ".png": Kind("image/png", ("image/png",), magic=b"\x89PNG\r\n\x1a\n"),
    ".txt": Kind("text/plain", ("text/plain",), text=True),
    ".md": Kind("text/markdown", ("text/markdown", "text/x-markdown", "text/plain"), text=True),
    ".csv": Kind(
        "text/csv", ("text/csv", "application/csv", "application/vnd.ms-excel", "text/plain"), text=True
    ),
    ".json": Kind("application/json", ("application/json", "text/json"), text=True, is_json=True),
}

ALLOWED = ", ".join(sorted(KINDS))
_UNSAFE = re.compile(r"[^A-Za-z0-9 ._-]")


def safe_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip(" .")[-200:]
    if not cleaned or "." not in cleaned:
        raise InvalidInput(
            "the file needs a name", problems=[Problem("file", f"name it with one of {ALLOWED}")]
        )
    return cleaned


def check(raw: bytes, *, filename: str, declared_type: str | None) -> tuple[str, str]:
    """(stored name, canonical media type) of an acceptable file; :class:`InvalidInput` otherwise."""
    name = safe_name(filename)
    kind = KINDS.get("." + name.rsplit(".", 1)[-1].lower())
    if kind is None:
        raise InvalidInput("this kind of file is not accepted", problems=[Problem("file", f"only {ALLOWED}")])
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    if not declared:
        raise InvalidInput(
            "say what the file is",
            problems=[Problem("content_type", f"send Content-Type: {kind.media_type}")],
        )
    if declared not in kind.declared:
        raise InvalidInput(
            "the content type does not fit the file name",
            problems=[Problem("content_type", f"{declared} is not {kind.media_type}")],
        )
    if kind.magic is not None and not raw.startswith(kind.magic):
        raise InvalidInput(
            "the file is not what its name says",
            problems=[Problem("file", f"the content is not {kind.media_type}")],
        )
    if kind.text:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("not text", problems=[Problem("file", "the file is not UTF-8 text")]) from None
        if "\x00" in text:
            raise InvalidInput("not text", problems=[Problem("file", "the file holds NUL bytes")])
        if kind.is_json:
            try:
                json.loads(text)
            except ValueError:
                raise InvalidInput(
                    "not JSON", problems=[Problem("file", "the file is not valid JSON")]
                ) from None
    return name, kind.media_type
