"""Public shapes of workforce: Tech Force cyber pathways, postings, applications, public metrics."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Route(StrEnum):
    """How a candidate qualifies for a pathway."""

    EXPERIENCE = "experience"
    CERTIFICATION = "certification"
    APPRENTICESHIP = "apprenticeship"
    SKILLS_ASSESSMENT = "skills_assessment"


class Clearance(StrEnum):
    NONE = "none"
    PUBLIC_TRUST = "public_trust"
    SECRET = "secret"  # noqa: S105 -- a clearance level, not a password
    TOP_SECRET = "top_secret"  # noqa: S105 -- a clearance level


class Stage(StrEnum):
    APPLIED = "applied"
    SCREENED = "screened"
    ASSESSED = "assessed"
    INTERVIEW = "interview"
    OFFER = "offer"
    HIRED = "hired"
    NOT_SELECTED = "not_selected"


#: The pipeline moves forward one stage at a time; "not selected" ends it from any open stage.
PIPELINE = [Stage.APPLIED, Stage.SCREENED, Stage.ASSESSED, Stage.INTERVIEW, Stage.OFFER, Stage.HIRED]
FINAL = frozenset({Stage.HIRED, Stage.NOT_SELECTED})


@dataclass(frozen=True)
class Pathway:
    key: str
    title: str
    summary: str
    skills: tuple[str, ...]
    steps: tuple[str, ...]
    routes: tuple[Route, ...]


PATHWAYS: dict[str, Pathway] = {
    p.key: p
    for p in (
        Pathway(
            "ai-red-team",
            "AI red-team specialist",
            "Probe frontier models before release for misuse and security failures,"
            " alongside partner red teams.",
            (
                "prompt injection and jailbreak techniques",
                "evaluation harnesses (Inspect, garak, PyRIT)",
                "threat modelling of AI-enabled attacks",
                "clear written findings",
            ),
            (
                "learn an evaluation harness and run a public benchmark",
                "publish or document two red-team findings",
                "qualify through experience, a certification or the skills assessment",
                "apply to a posting; interview; offer",
            ),
            (Route.EXPERIENCE, Route.CERTIFICATION, Route.SKILLS_ASSESSMENT),
        ),
        Pathway(
            "vulnerability-analyst",
            "Vulnerability analyst",
            "Triage, reproduce, score and de-duplicate vulnerability reports"
            " in the AI cybersecurity clearinghouse.",
            (
                "CVSS 3.1 / 4.0 scoring",
                "OSV, CSAF and CVE records",
                "reproducing bugs safely",
                "coordinated disclosure",
            ),
            (
                "score ten public CVEs and compare with NVD",
                "qualify through experience, a certification or an apprenticeship",
                "apply; skills assessment; interview; offer",
            ),
            (Route.EXPERIENCE, Route.CERTIFICATION, Route.APPRENTICESHIP, Route.SKILLS_ASSESSMENT),
        ),
        Pathway(
            "incident-responder",
            "Incident responder",
            "Help rural hospitals, community banks and local utilities contain and recover from attacks.",
            ("log analysis", "containment and recovery playbooks", "forensics basics", "calm communication"),
            (
                "complete an apprenticeship or hold an incident-handling certification",
                "apply; tabletop exercise; interview; offer",
            ),
            (Route.EXPERIENCE, Route.CERTIFICATION, Route.APPRENTICESHIP),
        ),
        Pathway(
            "ml-security-engineer",
            "ML security engineer",
            "Build and harden the systems that serve, evaluate and monitor AI models:"
            " keys, gateways, pipelines.",
            (
                "secure software engineering (Python, Go or Rust)",
                "model serving and supply chain (SBOMs, signing)",
                "cloud and container security",
                "ML fundamentals",
            ),
            (
                "ship a secured model-serving project",
                "qualify through experience or the skills assessment",
                "apply; technical interview; offer",
            ),
            (Route.EXPERIENCE, Route.SKILLS_ASSESSMENT),
        ),
    )
}


class PostingIn(Strict):
    pathway: str = Field(min_length=1, max_length=40)
    title: str = Field(min_length=3, max_length=200)
    location: str = Field(min_length=2, max_length=200)
    clearance: Clearance
    grade_low: int = Field(ge=1, le=15)
    grade_high: int = Field(ge=1, le=15)
    closes_at: AwareDatetime

    @model_validator(mode="after")
    def _check(self) -> PostingIn:
        if self.pathway not in PATHWAYS:
            raise ValueError(f"pathway: not one of {', '.join(PATHWAYS)}")
        if self.grade_high < self.grade_low:
            raise ValueError("grade_high: must not be below grade_low")
        return self


class PostingOut(BaseModel):
    id: uuid.UUID
    agency_organisation_id: uuid.UUID
    agency_name: str
    pathway: str
    title: str
    location: str
    clearance: Clearance
    grade_low: int
    grade_high: int
    closes_at: datetime
    open: bool


class AssessmentTaskOut(BaseModel):
    id: str
    input: str
    choices: list[str]
    scorer: str


class AssessmentIn(Strict):
    answers: dict[str, str] = Field(max_length=50)

    @model_validator(mode="after")
    def _short(self) -> AssessmentIn:
        for key, value in self.answers.items():
            if len(key) > 40 or len(value) > 200:
                raise ValueError(f"answers.{key[:40]}: at most 200 characters")
        return self


class AssessmentOut(BaseModel):
    id: uuid.UUID
    pathway: str
    correct: int
    total: int
    passed: bool
    created_at: datetime


class JobApplicationIn(Strict):
    route: Route
    share_assessment: bool = False
    statement: str = Field(min_length=10, max_length=10_000)
    experience: str = Field(min_length=2, max_length=20_000)


class JobApplicationOut(BaseModel):
    """Personal data: for the applicant and the posting agency's hiring officers only."""

    id: uuid.UUID
    posting_id: uuid.UUID
    posting_title: str
    person_id: uuid.UUID
    name: str
    email: str
    route: Route
    statement: str
    experience: str
    state: Stage
    reason: str | None
    created_at: datetime
    updated_at: datetime
    assessment: AssessmentOut | None = None
    resume_name: str | None = None


class StageIn(Strict):
    state: Stage
    reason: str = Field(default="", max_length=2_000)


class PathwayMetrics(BaseModel):
    """Public and aggregate only: never a name, an email or an application."""

    pathway: str
    title: str
    postings: int
    applicants: int
    hired: int
    median_days_to_hire: float | None
    routes: dict[str, int]
