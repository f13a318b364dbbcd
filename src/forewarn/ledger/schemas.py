"""Public shapes of the transparency log: what goes in and out of the service and the API.

Hashes, roots and proofs travel as standard padded base64 (RFC 4648 §4), as in checkpoints
(c2sp.org/tlog-checkpoint), so an auditor compares them with the signed note as they are.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: ``domain.event``: lower case words joined by dots and underscores.
ENTRY_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,30}(\.[a-z][a-z0-9_]{0,30}){1,3}$")
SUBJECT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: A subject id: a UUID, a public identifier (FW-2026-0001, CVE-2026-1234) or a key name.
SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,399}$")
#: A hash of sealed or TLP content: ``sha256:`` and 64 lower-case hex digits.
SEALED_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
SEALED_LABEL = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

MAX_REASON = 4000
MAX_SUBJECTS = 32
MAX_SEALED = 16

#: Entry types that exist so far (later domains add theirs through the same ``append``).
KNOWN_TYPES: dict[str, str] = {
    "gateway.key_issued": "A reviewer was issued a scoped model-gateway key for a review window",
    "gateway.key_revoked": "A model-gateway key was revoked",
    "accounts.organisation_created": "An organisation joined the programme",
    "accounts.role_granted": "A person was given a role in an organisation",
    "ledger.witness_added": "A witness key was registered to cosign checkpoints",
    "ledger.witness_removed": "A witness key was retired",
    "clearinghouse.report_validated": "A vulnerability report was validated into a case",
    "clearinghouse.report_rejected": "A vulnerability report was rejected, with a reason",
    "clearinghouse.embargo_set": "An embargo and its target publication date were set on a case",
    "clearinghouse.advisory_published": "An advisory was published (TLP:CLEAR)",
    "clearinghouse.advisory_revised": "A published advisory was revised",
    "feed.key_rotated": "A signing key of the TUF patch feed was rotated (new root version)",
    "feed.patch_published": "A patch file was published in the signed feed; its hash is here",
    "benchmark.pack_imported": "A sealed benchmark pack was imported",
    "benchmark.pack_retired": "A sealed benchmark pack was retired",
    "benchmark.policy_proposed": "A threshold policy was proposed (sealed; its commitment is public)",
    "benchmark.policy_consulted": "A consultation on a threshold policy was recorded",
    "benchmark.policy_activated": "A threshold policy was activated",
    "benchmark.determination_requested": "A lab requested a covered-model determination",
    "benchmark.determination_refused": "A determination request was refused by the published limits",
    "benchmark.determination_completed": "A determination reached a verdict; its attestation hash is here",
    "benchmark.determination_failed": "A determination run failed without a verdict",
    "grants.call_published": "A call for proposals was published",
    "grants.reviewer_recused": "A grant reviewer declared a conflict and was recused",
    "grants.award_decided": "A grant award decision was recorded, with the ranking rule used",
    "grants.milestone_accepted": "A grantee's milestone report was accepted",
    "grants.milestone_returned": "A grantee's milestone report was returned",
    "grants.disbursed": "A grant disbursement was recorded",
    "grants.tool_registered": "A funded detection tool was registered with the clearinghouse",
    "review.agreement_published": "A version of the review participation agreement was published",
    "review.agreement_signed": "A lab signed the participation agreement (opted in)",
    "review.withdrawn": "A lab withdrew from the review programme; its windows closed and keys died",
    "review.model_registered": "A lab registered a model with the review programme",
    "review.model_updated": "A lab updated a registered model (card, planned release, released)",
    "review.window_opened": "A lab opened a review window for a model",
    "review.access_started": "A lab handed over its credential; a window's access started",
    "review.window_closed": "A review window closed (time, release, withdrawal, lab or programme)",
    "review.access_granted": "An organisation was granted access to a review window",
    "review.access_revoked": "An organisation's access to a review window was revoked",
    "workforce.posting_opened": "A Tech Force cyber role was posted",
    "assessments.workstream_planned": "An assessment workstream was planned for a review window",
    "assessments.finding_filed": "A finding was filed in a review window (ids, severity, area only)",
    "assessments.finding_triaged": "An assessment coordinator triaged a finding",
    "assessments.findings_merged": "A finding was merged into another as its duplicate",
    "assessments.finding_forwarded": "A finding affecting critical infrastructure went to the clearinghouse",
    "assessments.report_issued": "An assessment report of a review window was issued (its hash is here)",
    "partners.applied": "An organisation applied (or amended its application) to be a trusted partner",
    "partners.vetted": "An agency completed a partner's vetting checklist (vetted or not, with reasons)",
    "partners.status_changed": "A partner was suspended, reinstated or revoked, with a reason",
    "partners.access_requested": "A partner requested access to a review window; a panel round opened",
    "partners.conflict_declared": "A conflict of interest was declared (by a panel member or a lab)",
    "partners.recused": "A panel member was recused from a round (automatic or declared conflict)",
    "partners.ballot_cast": "A panel member voted; the rationale is committed by hash",
    "partners.decided": "A panel round's outcome, computed by the published rules (version recorded)",
    "partners.appealed": "A partner or lab appealed a panel decision; a disjoint panel decides",
    "partners.rationale_redacted": "A ballot's rationale text was redacted, with the reason",
}


def _no_controls(value: str, what: str) -> str:
    if any(c < " " and c not in "\n" for c in value) or "\x7f" in value:
        raise ValueError(f"{what} contains a control character")
    return value


class SubjectRef(BaseModel):
    """What an entry is about: a typed id (organisation, person, model, advisory, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(pattern=SUBJECT_TYPE.pattern)
    id: str = Field(pattern=SUBJECT_ID.pattern)


class EntryIn(BaseModel):
    """A governance event to append. Only what the public may know: ids, hashes, reasons."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern=ENTRY_TYPE.pattern, max_length=64)
    actor_organisation_id: uuid.UUID | None = None
    subjects: list[SubjectRef] = Field(default_factory=list, max_length=MAX_SUBJECTS)
    reason: str = Field(default="", max_length=MAX_REASON)
    #: label → ``sha256:<hex>`` of sealed or TLP content, never the content itself.
    sealed_hashes: dict[str, str] = Field(default_factory=dict, max_length=MAX_SEALED)

    @field_validator("reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _no_controls(value, "reason")

    @field_validator("sealed_hashes")
    @classmethod
    def _sealed(cls, value: dict[str, str]) -> dict[str, str]:
        for label, digest in value.items():
            if not SEALED_LABEL.match(label):
                raise ValueError(f"sealed label {label[:40]!r} must be a lower-case word")
            if not SEALED_HASH.match(digest):
                raise ValueError(f"sealed hash for {label!r} must be sha256: and 64 lower-case hex digits")
        return value


class EntryOut(BaseModel):
    """An entry as the log holds it; ``data`` is the exact leaf content that was hashed."""

    index: int
    entry_id: uuid.UUID
    type: str
    timestamp: datetime
    actor_organisation_id: uuid.UUID | None
    subjects: list[SubjectRef]
    reason: str
    sealed_hashes: dict[str, str]
    #: base64 of the RFC 8785 canonical JSON bytes (the leaf data).
    data: str
    #: base64 of SHA-256(0x00 || data) (RFC 9162 §2.1.1).
    leaf_hash: str


class CosignatureOut(BaseModel):
    witness: str = Field(description="name+key id of the witness key")
    vkey: str
    signed_at: datetime
    line: str = Field(description="the signature line, as appended to the checkpoint note")


class CheckpointOut(BaseModel):
    origin: str
    size: int
    root_hash: str
    created_at: datetime
    #: The signed note with the log's signature and every stored cosignature.
    note: str
    cosignatures: list[CosignatureOut] = Field(default_factory=list)


class EntriesPage(BaseModel):
    start: int
    end: int
    #: The size of the latest checkpoint: entries past it are not served yet.
    tree_size: int
    entries: list[EntryOut]


class InclusionProofOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    #: The audit path, leaf level first (RFC 9162 §2.1.3.1).
    proof: list[str]
    root_hash: str


class EntryWithProof(BaseModel):
    entry: EntryOut
    inclusion: InclusionProofOut
    checkpoint: CheckpointOut


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    #: RFC 9162 §2.1.4.1 ``PROOF(first, D[second])``.
    proof: list[str]


class WitnessOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    key_id: str
    vkey: str
    active: bool
    created_at: datetime
    removed_at: datetime | None


class CosignatureIn(BaseModel):
    """A witness's signature line for a checkpoint: ``— <name> <base64>``."""

    model_config = ConfigDict(extra="forbid")

    signature: str = Field(min_length=10, max_length=1000)


class EntryFilter(BaseModel):
    """Search of the public log (pages): every field optional, all of them ANDed."""

    type: str | None = None
    organisation_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
