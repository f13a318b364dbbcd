"""The one error root of forewarn.

Services raise these; entry points map them: the web layer to HTTP status codes and pages, the CLI to
one plain line and a non-zero exit. Messages are written for the person who made the request and must
never carry secrets or sealed content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (a dotted or JSON path) and what."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ForewarnError(Exception):
    """Root of every error forewarn raises on purpose."""

    status_code = 500
    title = "Internal error"

    def __init__(self, message: str, *, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems: list[Problem] = list(problems or [])

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return self.message + ": " + "; ".join(str(p) for p in self.problems)


class InvalidInput(ForewarnError):
    status_code = 422
    title = "Invalid input"


class TooLarge(InvalidInput):
    status_code = 413
    title = "Too large"


class Unauthenticated(ForewarnError):
    status_code = 401
    title = "Sign-in required"


class Forbidden(ForewarnError):
    status_code = 403
    title = "Forbidden"


class NotFound(ForewarnError):
    status_code = 404
    title = "Not found"


class Conflict(ForewarnError):
    status_code = 409
    title = "Conflict"


class Unavailable(ForewarnError):
    status_code = 503
    title = "Unavailable"


def forbid_unless(allowed: bool, message: str) -> None:
    """Raise :class:`Forbidden` with ``message`` unless ``allowed``: a service's check, before it acts,
    that its policy rule lets the actor do this."""
    if not allowed:
        raise Forbidden(message)


def validated(model: type[M], data: Any, *, message: str = "invalid input", whole: str = "") -> M:
    """``model.model_validate(data)``, with pydantic's errors turned into :class:`InvalidInput`: one
    :class:`Problem` per error, named by its dotted location (``whole`` where it is the input as a whole)."""
    from pydantic import ValidationError  # lazily: the CLI's start does not pay for pydantic

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(".".join(str(p) for p in e["loc"]) or whole, e["msg"]) for e in exc.errors()]
        raise InvalidInput(message, problems=problems) from None
