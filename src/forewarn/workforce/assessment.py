"""Hands-on skills assessments: a small task set per pathway, auto-scored on the candidate's answers.

The items use the benchmark example pack's item format (``id``, ``input``, ``choices``,
``answers``, ``scorer``, ``domain``, ``difficulty``), one JSON object a line. They are not sealed:
this is a practice-and-qualify exercise for people, not a model evaluation. Scoring is pure.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ITEMS_FILE = Path(__file__).with_name("assessment_items.jsonl")
LETTERS = "ABCDEFGH"
#: Share of items right needed to pass.
PASS_MARK = 2 / 3
MAX_ANSWER = 200


@dataclass(frozen=True)
class Task:
    id: str
    domain: str
    difficulty: int
    scorer: str
    input: str
    answers: tuple[str, ...]
    choices: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def tasks() -> dict[str, list[Task]]:
    out: dict[str, list[Task]] = {}
    for line in ITEMS_FILE.read_text().splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        task = Task(
            id=raw["id"],
            domain=raw["domain"],
            difficulty=int(raw["difficulty"]),
            scorer=raw["scorer"],
            input=raw["input"],
            answers=tuple(raw["answers"]),
            choices=tuple(raw.get("choices", ())),
        )
        out.setdefault(task.domain, []).append(task)
    return out


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip().lower()
    return re.sub(r"\s+", " ", text).strip(" .")


def correct(task: Task, answer: str) -> bool:
    answer = answer[:MAX_ANSWER]
    if task.scorer == "choice":
        letter = answer.strip().upper()[:1]
        return letter in LETTERS and letter in {a.upper() for a in task.answers}
    if task.scorer == "exact":
        return _norm(answer) in {_norm(a) for a in task.answers}
    return False  # fail closed on a scorer this module does not know


def grade(pathway: str, answers: dict[str, str]) -> tuple[int, int]:
    """(right, total) for a pathway's task set; unanswered tasks are wrong."""
    items = tasks().get(pathway, [])
    return sum(correct(t, answers.get(t.id, "")) for t in items), len(items)
