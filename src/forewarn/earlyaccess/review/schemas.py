"""Public shapes of the review programme: models, agreements, participation, windows, grants,
notices and messages."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:+/-]{0,99}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")


def endpoint_url(value: str) -> str:
    """An OpenAI-compatible API's base URL (``mockllm:`` for the test models), with no whitespace."""
    if not value.startswith(("https://", "http://", "mockllm:")):
        raise ValueError("must be an http(s) URL of an OpenAI-compatible API")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return value


def endpoint_model(value: str) -> str:
    """A model name as OpenAI-compatible APIs take it."""
    if not _MODEL.match(value):
        raise ValueError("use letters, digits and . _ : / @ + -")
    return value


def api_credential(value: SecretStr | None) -> SecretStr | None:
    """An optional API key of 1 to 4096 characters."""
    if value is not None and not 1 <= len(value.get_secret_value()) <= 4096:
        raise ValueError("must be 1 to 4096 characters")
    return value


CARD_TEXT_MAX = 8000


def _check_card_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not value.startswith(("https://", "http://")) or any(c.isspace() for c in value):
        raise ValueError("must be an http(s) URL without spaces")
    return value


class AccessMode(StrEnum):
    ENCLAVE = "enclave"
    REMOTE = "remote"


class Modality(StrEnum):
    TEXT = "text"
    MULTIMODAL = "multimodal"
    CODE = "code"
    AGENT = "agent"


class ModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=64)
    family: str = Field(min_length=1, max_length=100)
    modality: Modality = Modality.TEXT
    planned_release: date
    access_mode: AccessMode
    endpoint_base_url: str = Field(min_length=1, max_length=500)
    endpoint_model: str = Field(min_length=1, max_length=200)
    credential: SecretStr | None = Field(default=None, description="API key of the endpoint (sealed at rest)")
    card_summary: str = Field(default="", max_length=CARD_TEXT_MAX)
    card_intended_use: str = Field(default="", max_length=CARD_TEXT_MAX)
    card_capabilities: str = Field(default="", max_length=CARD_TEXT_MAX)
    card_limitations: str = Field(default="", max_length=CARD_TEXT_MAX)
    card_training_data: str = Field(default="", max_length=CARD_TEXT_MAX)
    card_evaluations: str = Field(default="", max_length=CARD_TEXT_MAX)
    card_url: str | None = Field(default=None, max_length=500)

    @field_validator("card_url")
    @classmethod
    def _card_url(cls, value: str | None) -> str | None:
        return _check_card_url(value)

    @field_validator("name", "version", "family")
    @classmethod
    def _names(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, spaces and . _ : + / -")
        return value

    @field_validator("endpoint_model")
    @classmethod
    def _model(cls, value: str) -> str:
        return endpoint_model(value)

    @field_validator("endpoint_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return endpoint_url(value)

    @field_validator("credential")
    @classmethod
    def _credential(cls, value: SecretStr | None) -> SecretStr | None:
        return api_credential(value)


class ModelOut(BaseModel):
    """A registered model as its lab and the programme see it (never the credential)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organisation_id: uuid.UUID
    name: str
    version: str
    family: str
    modality: Modality
    planned_release: date
    access_mode: AccessMode
    endpoint_base_url: str
    endpoint_model: str
    has_credential: bool
    created_at: datetime
    card_summary: str = ""
    card_intended_use: str = ""
    card_capabilities: str = ""
    card_limitations: str = ""
    card_training_data: str = ""
    card_evaluations: str = ""
    card_url: str | None = None
    #: The one bit of the latest determination (None: not determined yet).
    covered: bool | None = None
    determination_id: uuid.UUID | None = None
    released_at: datetime | None = None
    updated_at: datetime | None = None


class ModelTarget(BaseModel):
    """What a runner needs to reach a model, credential included: never returned by the API."""

    model_id: uuid.UUID
    access_mode: AccessMode
    base_url: str
    model: str
    credential: SecretStr | None

    def __repr__(self) -> str:
        return f"ModelTarget(model_id={self.model_id}, access_mode={self.access_mode.value})"


class ModelUpdate(BaseModel):
    """What a lab may change on a registered model at any time (omitted fields stay as they are)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    planned_release: date | None = None
    card_summary: str | None = Field(default=None, max_length=CARD_TEXT_MAX)
    card_intended_use: str | None = Field(default=None, max_length=CARD_TEXT_MAX)
    card_capabilities: str | None = Field(default=None, max_length=CARD_TEXT_MAX)
    card_limitations: str | None = Field(default=None, max_length=CARD_TEXT_MAX)
    card_training_data: str | None = Field(default=None, max_length=CARD_TEXT_MAX)
    card_evaluations: str | None = Field(default=None, max_length=CARD_TEXT_MAX)
    card_url: str | None = Field(default=None, max_length=500)

    @field_validator("card_url")
    @classmethod
    def _card_url(cls, value: str | None) -> str | None:
        return _check_card_url(value)


# --- participation -----------------------------------------------------------------------------------


class AgreementIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=3, max_length=200)
    body: str = Field(min_length=20, max_length=200_000, description="The agreement's full text (Markdown)")


class AgreementOut(BaseModel):
    id: uuid.UUID
    version: int
    title: str
    body: str
    body_sha256: str
    published_at: datetime


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreement_version: int = Field(
        ge=1, description="The version you read and sign (must be the current one)"
    )


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(default="", max_length=1000, description="Optional, public in the ledger")


class ParticipationOut(BaseModel):
    id: uuid.UUID
    organisation_id: uuid.UUID
    agreement_version: int
    signed_at: datetime
    ended_at: datetime | None
    end_reason: str | None


class ParticipationStatus(BaseModel):
    """A lab's standing: participating or not, and the current agreement version."""

    organisation_id: uuid.UUID
    participating: bool
    current: ParticipationOut | None
    current_agreement_version: int | None
    history: list[ParticipationOut]


class WithdrawalOut(BaseModel):
    organisation_id: uuid.UUID
    withdrawn_at: datetime
    windows_closed: int
    keys_revoked: int


# --- windows -----------------------------------------------------------------------------------------


class WindowState(StrEnum):
    AWAITING_CREDENTIAL = "awaiting_credential"
    OPEN = "open"
    CLOSED = "closed"


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: uuid.UUID


class CredentialIn(BaseModel):
    """The one upstream credential a lab gives the programme for a window (sealed by the gateway)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    base_url: str | None = Field(default=None, max_length=500, description="Default: the model's endpoint")
    upstream_model: str | None = Field(default=None, max_length=200, description="Default: the model's")
    credential: SecretStr | None = Field(default=None, description="API key of the upstream (sealed at rest)")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("https://", "http://")) or any(c.isspace() for c in value):
            raise ValueError("must be an http(s) URL of an OpenAI-compatible API")
        return value

    @field_validator("upstream_model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not _MODEL.match(value):
            raise ValueError("use letters, digits and . _ : / @ + -")
        return value

    @field_validator("credential")
    @classmethod
    def _credential(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        if len(value.get_secret_value()) > 4096:
            raise ValueError("must be at most 4096 characters")
        return value


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(default="", max_length=500)


class WindowOut(BaseModel):
    id: uuid.UUID
    model_id: uuid.UUID
    model_name: str
    model_version: str
    lab_organisation_id: uuid.UUID
    state: WindowState
    length_days: int
    opened_at: datetime
    access_starts_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    #: 1-based day of the window while it is open, else None.
    day: int | None
    #: Whole days left (rounded up) while open, else None.
    days_left: int | None


class GrantKind(StrEnum):
    AGENCY = "agency"
    PARTNER = "partner"


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: uuid.UUID


class GrantOut(BaseModel):
    id: uuid.UUID
    window_id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_name: str
    kind: GrantKind
    staff_person_ids: list[uuid.UUID]
    decision_ref: str | None
    granted_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=3, max_length=500)


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID
    rate_limit_per_minute: int = Field(default=60, ge=1, le=10_000)
    token_budget: int = Field(default=1_000_000, ge=1, le=1_000_000_000)


class NoticeKind(StrEnum):
    OPENED = "opened"
    CLOSE_7D = "close_7d"
    CLOSE_1D = "close_1d"
    CLOSED = "closed"


class NoticeOut(BaseModel):
    id: uuid.UUID
    window_id: uuid.UUID
    organisation_id: uuid.UUID
    kind: NoticeKind
    subject: str
    body: str
    created_at: datetime
    email_status: str
    emailed_at: datetime | None


# --- messages ----------------------------------------------------------------------------------------


class AttachmentIn(BaseModel):
    """An uploaded file, already read (the entry point enforces the size limits before this)."""

    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"AttachmentIn(filename={self.filename!r}, size={len(self.data)})"


class AttachmentOut(BaseModel):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str


class MessageOut(BaseModel):
    id: uuid.UUID
    model_id: uuid.UUID
    side: str
    author_organisation_id: uuid.UUID
    author_name: str
    body: str
    created_at: datetime
    attachments: list[AttachmentOut]


class IssuedKeyOut(BaseModel):
    """A newly issued reviewer key: the only response that carries its secret."""

    id: uuid.UUID
    window_id: uuid.UUID
    prefix: str
    expires_at: datetime
    secret: str = Field(description="Shown once; store it now")
