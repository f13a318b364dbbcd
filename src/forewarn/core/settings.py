"""Settings, read from the environment with the ``FOREWARN_`` prefix (and from CLI flags)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("forewarn", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOREWARN_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    #: An external PostgreSQL (``postgresql://…``); when unset, an embedded server runs in ``data_dir``.
    database_url: SecretStr | None = None
    database_name: str = "forewarn"
    host: str = "127.0.0.1"
    port: int = 8000
    #: Public base URL, used in links and the ledger's origin line.
    base_url: str | None = None
    #: The transparency log's origin line (and its key's name). It names the log for its whole life:
    #: set it explicitly in production. Default: the public base URL's host + "/ledger".
    ledger_origin: str | None = None
    #: Base64 of a raw 32-byte Ed25519 private key; when unset one is created in the data dir.
    signing_key: SecretStr | None = None
    #: Base64 of a 32-byte AES-256-GCM key; when unset one is created in the data dir.
    data_key: SecretStr | None = None

    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 26_214_400
    session_hours: int = 12
    token_default_days: int = 90
    #: "auto": Secure cookies when the request came over https; "always" / "never" force it.
    cookie_secure: str = "auto"
    login_attempts_per_minute: int = 10
    log_level: str = "INFO"
    log_json: bool = True
    worker: bool = True
    worker_concurrency: int = 2
    #: Clearinghouse intake limits (untrusted advisory documents, CONVENTIONS §8).
    advisory_max_document_bytes: int = 16_777_216
    advisory_max_files: int = 20
    advisory_max_per_document: int = 1_000
    advisory_max_jsonl_lines: int = 200_000
    #: Coordinated disclosure: default embargo, and the shorter one when a flaw is known exploited.
    advisory_embargo_days: int = 45
    advisory_embargo_exploited_days: int = 7
    #: The CSAF publisher of the clearinghouse's advisories (namespace: the public base URL when unset).
    advisory_publisher_name: str = "AI Cybersecurity Clearinghouse (Department of the Treasury)"
    advisory_publisher_namespace: str | None = None
    #: The armored OpenPGP secret key that signs CSAF documents (``.asc``, CSAF requirement 19); when
    #: unset one is created in the data dir (``keys/csaf-openpgp.key``).
    csaf_openpgp_key: SecretStr | None = None
    #: Sealed benchmark runs: concurrent samples per run (1 keeps strict scheduling order and the
    #: fewest calls after a verdict), answer length, wall-time limit, and whether ``mockllm:`` test
    #: endpoints may be registered and run (tests and benchmarks only).
    benchmark_max_samples: int = 1
    benchmark_max_tokens: int = 48
    #: A candidate's résumé (PDF or plain text) on a Tech Force application.
    workforce_max_resume_bytes: int = 524_288
    #: Attachments of a grant application (PDF, PNG, plain text, Markdown, CSV, JSON): size of each
    #: (kept under ``max_body_bytes`` with room for the form) and how many per application.
    grants_max_attachment_bytes: int = 786_432
    grants_max_attachments: int = 10
    benchmark_run_timeout_seconds: float = 3600.0
    benchmark_allow_mock_endpoints: bool = False
    #: Clearinghouse notices: the SMTP relay (unset host: email delivery fails closed, recorded), the
    #: sender, STARTTLS, credentials; webhook request timeout; delivery retries (exponential backoff:
    #: base ** attempt seconds, capped) and how many attempts before a delivery is given up.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str = "notices@clearinghouse.invalid"
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = 30.0
    webhook_timeout_seconds: float = 10.0
    #: The SSRF guard of webhook URLs (checked when saved and at every delivery): allow ``http``, and
    #: allow loopback / private / link-local / reserved addresses (local test receivers only).
    webhook_allow_insecure: bool = False
    webhook_allow_private_addresses: bool = False
    #: Extra CAs (a PEM file) trusted for https webhooks on top of the public ones (certifi), for
    #: receivers with certificates from a private CA.
    webhook_ca_bundle: Path | None = None
    notice_delivery_max_attempts: int = 8
    notice_retry_base_seconds: int = 4
    notice_retry_max_seconds: int = 3600
    #: Assessments: the largest evidence file or imported report (garak JSONL, Inspect log) and the
    #: most lines read from a garak report.
    assessment_max_evidence_bytes: int = 26_214_400
    assessment_max_import_lines: int = 200_000
    #: The signed patch feed (TUF): how long each role's metadata is valid once signed. The
    #: timestamp is re-signed hourly by ``feed:refresh``; the others when half their life is gone.
    feed_timestamp_expiry_hours: int = 24
    feed_snapshot_expiry_days: int = 7
    feed_targets_expiry_days: int = 30
    feed_root_expiry_days: int = 365
    #: Hashed bins of the feed's targets (a power of two up to 65536; 0: flat). The hourly refresh
    #: moves an existing feed into this layout. See docs/feed.md §5.
    feed_hash_bins: int = 4096
    #: Old feed metadata versions and superseded target contents stay served this many hours after
    #: they stopped being current (a client mid-update still finds what it started with), then the
    #: hourly ``feed:refresh`` prunes them; root versions are never pruned. 0: never prune.
    feed_keep_hours: int = Field(default=24, ge=0)

    #: Review programme: a window's length from access start (a programme setting; the order says 30
    #: days), whether a window needs a "covered" determination first, and message limits.
    review_window_days: int = 30
    review_require_covered: bool = True
    review_max_message_chars: int = 20_000
    review_max_attachment_bytes: int = 10_485_760
    review_max_attachments: int = 5

    #: Model gateway (earlyaccess/gateway): the largest request body it accepts, the upstream timeouts
    #: (connect; and for a response, or between two chunks of a stream), the largest upstream
    #: response it reads, the ``max_tokens`` it sets when a caller gives none (the budget reserves it),
    #: and the size of its pool of upstream connections.
    gateway_max_body_bytes: int = 1_048_576
    gateway_upstream_connect_timeout_seconds: float = 5.0
    gateway_upstream_timeout_seconds: float = 120.0
    gateway_max_response_bytes: int = 16_777_216
    gateway_default_max_tokens: int = 1024
    gateway_max_connections: int = 256
    #: PostgreSQL ``synchronous_commit`` of the gateway's own connections. "off": a call's admission
    #: and usage record are visible to every other call at once (the limits hold), but a crash of the
    #: database server itself may lose the last moments (≈ 3 x wal_writer_delay) of records; "on":
    #: every call waits for two WAL flushes to disk. See docs/gateway.md.
    gateway_synchronous_commit: Literal["on", "off", "local", "remote_write", "remote_apply"] = "off"

    @property
    def public_base_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"

    @property
    def ledger_log_origin(self) -> str:
        """The origin of the log's checkpoints (c2sp.org/tlog-checkpoint: a schema-less URL)."""
        if self.ledger_origin:
            return self.ledger_origin
        from urllib.parse import urlsplit

        # The host only: a CLI run beside the server, with other port settings, names the same log.
        return f"{urlsplit(self.public_base_url).hostname or self.host}/ledger"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
