"""Public shapes of the review registry."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:+/-]{0,99}$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$")


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

    @field_validator("name", "version", "family")
    @classmethod
    def _names(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, spaces and . _ : + / -")
        return value

    @field_validator("endpoint_model")
    @classmethod
    def _model(cls, value: str) -> str:
        if not _MODEL.match(value):
            raise ValueError("use letters, digits and . _ : / @ + -")
        return value

    @field_validator("endpoint_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://", "mockllm:")):
            raise ValueError("must be an http(s) URL of an OpenAI-compatible API")
        if any(c.isspace() for c in value):
            raise ValueError("must not contain spaces")
        return value

    @field_validator("credential")
    @classmethod
    def _credential(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not 1 <= len(value.get_secret_value()) <= 4096:
            raise ValueError("must be 1 to 4096 characters")
        return value


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


class ModelTarget(BaseModel):
    """What a runner needs to reach a model, credential included: never returned by the API."""

    model_id: uuid.UUID
    access_mode: AccessMode
    base_url: str
    model: str
    credential: SecretStr | None

    def __repr__(self) -> str:
        return f"ModelTarget(model_id={self.model_id}, access_mode={self.access_mode.value})"
