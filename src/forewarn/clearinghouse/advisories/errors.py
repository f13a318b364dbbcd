"""The error every advisory codec raises for a document it refuses.

Invariant: a codec either returns a fully validated value or raises :class:`InvalidAdvisory`; each
:class:`~forewarn.core.errors.Problem` names the offending place as a JSON Pointer (RFC 6901) into the
document that was given (``/affected/0/ranges/1/events/2/fixed``), or ``""`` for the whole document.
Messages may quote untrusted text from the document; whoever shows them escapes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from forewarn.core.errors import InvalidInput, Problem

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["MAX_PROBLEMS", "InvalidAdvisory", "Problem", "pointer", "problems_from"]

#: Problems kept per error: enough to fix a document, bounded for a hostile one.
MAX_PROBLEMS = 100


class InvalidAdvisory(InvalidInput, ValueError):
    """A document (OSV, CSAF, CVE JSON 5, KEV) or an internal advisory that cannot be accepted.

    Part of the project's error root (an :class:`InvalidInput`, HTTP 422), and still a ``ValueError``.
    """

    status_code = 422
    title = "Invalid advisory"

    def __init__(self, message: str, *, problems: Iterable[Problem] = (), source: str | None = None) -> None:
        kept = list(problems)
        dropped = len(kept) - MAX_PROBLEMS
        if dropped > 0:
            kept = [*kept[:MAX_PROBLEMS], Problem("", f"… and {dropped} more problems")]
        super().__init__(message, problems=kept)
        #: The document's name (a file name, an upload's name) when the caller knows it.
        self.source = source

    def with_source(self, source: str) -> InvalidAdvisory:
        """The same error, naming the document it is about."""
        return InvalidAdvisory(self.message, problems=self.problems, source=source)

    def __str__(self) -> str:
        head = f"{self.source}: {self.message}" if self.source else self.message
        if not self.problems:
            return head
        return head + ": " + "; ".join(str(p) for p in self.problems)


def pointer(*parts: str | int) -> str:
    """A JSON Pointer (RFC 6901 §3) from path segments, escaping ``~`` and ``/``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def problems_from(exc: ValidationError, base: str = "") -> list[Problem]:
    """The problems of a pydantic validation error, at JSON Pointers under *base*."""
    return [
        Problem(base + pointer(*error["loc"]), str(error["msg"]).removeprefix("Value error, "))
        for error in exc.errors(include_url=False)
    ]
