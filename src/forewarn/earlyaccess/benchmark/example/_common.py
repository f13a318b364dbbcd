"""Shared helpers of the example pack generator (NON-CLASSIFIED EXAMPLE)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from forewarn.earlyaccess.benchmark.pack import Item
from forewarn.earlyaccess.benchmark.scoring import LETTERS, ScorerKind

# Plaintexts of the decoding puzzles: short, lower-case, unambiguous words.
WORDS = (
    "access",
    "admin",
    "alert",
    "audit",
    "backdoor",
    "beacon",
    "botnet",
    "breach",
    "buffer",
    "cipher",
    "cookie",
    "daemon",
    "decoy",
    "domain",
    "entropy",
    "exploit",
    "firewall",
    "gateway",
    "hacker",
    "honeypot",
    "kernel",
    "keylogger",
    "ledger",
    "malware",
    "mirror",
    "nonce",
    "packet",
    "patch",
    "payload",
    "phishing",
    "pivot",
    "privilege",
    "proxy",
    "ransom",
    "router",
    "sandbox",
    "secret",
    "server",
    "session",
    "shell",
    "signal",
    "socket",
    "spoof",
    "tunnel",
    "token",
    "trojan",
    "vector",
    "virus",
    "worm",
    "zeroday",
)
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory")
BRUTE_USERS = ("root", "admin", "test", "oracle", "postgres", "ubuntu", "guest", "user", "pi", "ftp")
HOSTS = ("web01", "db02", "bastion", "mail01", "app03", "vpn01")


def fenced(text: str) -> str:
    return f"```\n{text}\n```"


def phrase(rng: random.Random, words: int) -> str:
    return " ".join(rng.sample(WORDS, words))


def public_ip(rng: random.Random, exclude: Sequence[str] = ()) -> str:
    """An address in the documentation ranges (RFC 5737), different from ``exclude``."""
    while True:
        prefix = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
        address = f"{prefix}.{rng.randint(2, 254)}"
        if address not in exclude:
            return address


def multiple_choice(
    rng: random.Random, correct: str, pool: Sequence[str], count: int = 4
) -> tuple[tuple[str, ...], str]:
    """``count`` shuffled choices holding ``correct`` and distractors from ``pool``; the right letter."""
    distractors = rng.sample([option for option in pool if option != correct], count - 1)
    choices = [correct, *distractors]
    rng.shuffle(choices)
    return tuple(choices), LETTERS[choices.index(correct)]


def make(
    family: str,
    index: int,
    *,
    domain: str,
    difficulty: int,
    text: str,
    answer: str | Sequence[str],
    scorer: ScorerKind = ScorerKind.EXACT,
    choices: Sequence[str] = (),
) -> Item:
    answers = (answer,) if isinstance(answer, str) else tuple(answer)
    return Item(
        id=f"{family}-{index:03d}",
        input=text,
        answers=answers,
        scorer=scorer,
        domain=domain,
        difficulty=difficulty,
        choices=tuple(choices),
    )


def family_rng(seed: int, family: str) -> random.Random:
    # Deterministic, independent per family (str seeds hash with SHA-512, not PYTHONHASHSEED).
    return random.Random(f"forewarn example v1:{seed}:{family}")  # noqa: S311 -- example data, not secrets
