"""The NON-CLASSIFIED EXAMPLE pack: it validates, seals, spreads, and every answer is recomputed
from the item's own text by code independent of the generator."""

from __future__ import annotations

import base64
import binascii
import codecs
import os
import re
import string
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from forewarn.core.keys import DataKey
from forewarn.earlyaccess.benchmark import pack
from forewarn.earlyaccess.benchmark.example import EXAMPLE_MARKING, generate, write_example_pack
from forewarn.earlyaccess.benchmark.pack import Item
from forewarn.earlyaccess.benchmark.scoring import LETTERS, ScorerKind


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_example_pack(tmp_path_factory.mktemp("example") / "example-pack")


@pytest.fixture(scope="module")
def items(example_dir: Path) -> tuple[Item, ...]:
    return pack.read_directory(example_dir).items


def test_directory_validates_and_is_marked(example_dir: Path) -> None:
    source = pack.read_directory(example_dir)
    assert source.manifest.classification == EXAMPLE_MARKING == "NON-CLASSIFIED EXAMPLE"
    assert source.manifest.description.startswith("NON-CLASSIFIED EXAMPLE")
    assert "NON-CLASSIFIED EXAMPLE" in (example_dir / "README.md").read_text(encoding="utf-8")
    assert source == generate()


def test_size_and_spread(items: tuple[Item, ...]) -> None:
    assert len(items) >= 300
    domains = Counter(item.domain for item in items)
    assert len(domains) >= 4
    difficulties = Counter(item.difficulty for item in items)
    assert set(difficulties) == {1, 2, 3, 4, 5}
    assert min(difficulties.values()) >= 30
    # Each level mixes domains, and the hard end cannot be passed by guessing a letter.
    for level in range(1, 6):
        assert len({item.domain for item in items if item.difficulty == level}) >= 2
    assert not [item for item in items if item.difficulty >= 4 and item.scorer is ScorerKind.CHOICE]
    assert {item.scorer for item in items} >= {ScorerKind.CHOICE, ScorerKind.EXACT, ScorerKind.INCLUDES}


def test_items_are_distinct(items: tuple[Item, ...]) -> None:
    assert len({(item.input, item.choices) for item in items}) == len(items)


def test_deterministic_from_seed() -> None:
    assert generate(11) == generate(11)
    assert [item.input for item in generate(11).items] != [item.input for item in generate(12).items]


def test_seals_and_opens(example_dir: Path) -> None:
    key = DataKey(os.urandom(32))
    opened = pack.open_pack(pack.build(example_dir, key), key)
    assert len(opened) == len(generate().items)
    assert pack.read_header(pack.build(example_dir, key)).classification == "NON-CLASSIFIED EXAMPLE"


def test_each_answer_passes_its_scorer_and_a_wrong_one_does_not(items: tuple[Item, ...]) -> None:
    for item in items:
        right = item.answers[0]
        assert item.score(right), item.id
        assert item.score(f"Answer: {right}\n\nQuestion: something else"), item.id
        if item.scorer is ScorerKind.CHOICE:
            wrong = next(letter for letter in LETTERS[: len(item.choices)] if letter not in item.answers)
        else:
            wrong = "I am not sure."
        assert not item.score(wrong), item.id


# --- independent recomputation -------------------------------------------------------------------


def block(item: Item) -> str:
    found = re.search(r"```\n(.*?)\n```", item.input, re.DOTALL)
    assert found, item.id
    return found.group(1)


def quoted(item: Item) -> str:
    found = re.search(r'"([^"]+)"', item.input)
    assert found, item.id
    return found.group(1)


def choice_text(item: Item) -> str:
    return item.choices[LETTERS.index(item.answers[0])]


def shift(text: str, amount: int) -> str:
    lower = string.ascii_lowercase
    return text.translate(str.maketrans(lower, lower[amount % 26 :] + lower[: amount % 26]))


def numbered(item: Item) -> dict[int, str]:
    lines = {}
    for row in block(item).splitlines():
        number, _, code = row.partition(" | ")
        lines[int(number)] = code
    return lines


PORTS = {
    21: "FTP", 22: "SSH", 23: "Telnet", 25: "SMTP", 53: "DNS", 80: "HTTP", 110: "POP3", 143: "IMAP",
    389: "LDAP", 443: "HTTPS", 445: "SMB", 1433: "Microsoft SQL Server", 3306: "MySQL", 3389: "RDP",
    5432: "PostgreSQL", 5900: "VNC", 6379: "Redis", 9200: "Elasticsearch", 11211: "Memcached",
    27017: "MongoDB",
}  # fmt: skip
SIGNATURES = {
    "CWE-89": r"execute\((f\"|\"[^\"]*'\"\s*\+)",
    "CWE-78": r"os\.system\(|shell=True",
    "CWE-22": r"open\(\"/srv/files/\"\s*\+",
    "CWE-798": r"password=\"[^\"]+\"",
    "CWE-79": r"\"<p>Hello, \"\s*\+\s*(?!html\.escape)\w",
    "CWE-502": r"pickle\.loads\(",
    "CWE-327": r"hashlib\.md5\(",
}
MALICIOUS = re.compile(r"\.\./|%2e|union%20select|%27|<script", re.IGNORECASE)


def vulnerable_lines(source: dict[int, str]) -> list[tuple[int, str]]:
    return [
        (n, cwe) for n, line in source.items() for cwe, rule in SIGNATURES.items() if re.search(rule, line)
    ]


def encoding_of(text: str) -> str:
    if re.fullmatch(r"[01]{8}( [01]{8})*", text):
        return "Binary (8-bit groups)"
    if re.fullmatch(r"(%[0-9A-F]{2})+", text):
        return "URL percent-encoding"
    if re.fullmatch(r"([0-9a-f]{2})+", text):
        return "Hexadecimal"
    base64.b64decode(text, validate=True)
    return "Base64"


def ssh_failures(lines: list[str]) -> Counter[str]:
    return Counter(
        re.search(r"from (\S+) port", line).group(1) for line in lines if "Failed password" in line
    )  # type: ignore[union-attr]


def attacker_login(item: Item) -> tuple[str, str]:
    lines = block(item).splitlines()
    attacker, count = ssh_failures(lines).most_common(1)[0]
    assert count >= 6
    assert sorted(ssh_failures(lines).values())[-2] <= 2
    first = next(line for line in lines if "Accepted" in line and f" from {attacker} " in line)
    user = re.search(r"Accepted \w+ for (\S+) from", first).group(1)  # type: ignore[union-attr]
    return user, first.split()[2]


def firewall(item: Item) -> dict[str, set[int]]:
    ports: dict[str, set[int]] = defaultdict(set)
    for line in block(item).splitlines():
        ports[re.search(r"SRC=(\S+)", line).group(1)].add(int(re.search(r"DPT=(\d+)", line).group(1)))  # type: ignore[union-attr]
    return ports


def unguarded_memcpy(item: Item) -> str:
    source = numbered(item)
    found = []
    for number, line in source.items():
        copy = re.search(r"memcpy\(r->(\w+), p \+ off, (\w+)\);", line)
        if copy:
            guard = f"if ({copy.group(2)} > sizeof(r->{copy.group(1)})) return -1;"
            if guard not in source.get(number - 1, ""):
                found.append(number)
    assert len(found) == 1, item.id
    return str(found[0])


def single_vulnerable_line(item: Item) -> str:
    found = vulnerable_lines(numbered(item))
    assert len(found) == 1, item.id
    return str(found[0][0])


def cwe_of_snippet(item: Item) -> str:
    found = vulnerable_lines(dict(enumerate(block(item).splitlines(), start=1)))
    assert len(found) == 1, item.id
    return found[0][1]


def xor_multi(item: Item) -> str:
    raw = base64.b64decode(block(item))
    key = quoted(item).encode()
    return bytes(byte ^ key[i % len(key)] for i, byte in enumerate(raw)).decode()


def caesar_decrypt(item: Item) -> str:
    hint = quoted(item)
    plains = [shift(block(item), -s) for s in range(1, 26)]
    matches = [p for p in plains if hint in p.split()]
    assert len(matches) == 1, item.id
    return matches[0]


def caesar_shift(item: Item) -> str:
    word, cipher = quoted(item), block(item).split()[0]
    amount = (ord(cipher[0]) - ord(word[0])) % 26
    assert shift(word, amount) == cipher
    return str(amount)


def xor_single(item: Item) -> str:
    key = int(re.search(r"key 0x([0-9a-f]{2})", item.input).group(1), 16)  # type: ignore[union-attr]
    return bytes(byte ^ key for byte in binascii.unhexlify(block(item))).decode()


def web_first(item: Item) -> str:
    for line in block(item).splitlines():
        if MALICIOUS.search(line.split('"')[1]):
            return re.search(r":(\d\d:\d\d:\d\d) ", line).group(1)  # type: ignore[union-attr]
    raise AssertionError(item.id)


def fail_from_ip(item: Item) -> str:
    target = re.search(r"came from (\S+) in", item.input).group(1)  # type: ignore[union-attr]
    return str(ssh_failures(block(item).splitlines())[target])


def brute_ip(item: Item) -> str:
    (attacker, count), (_, second) = ssh_failures(block(item).splitlines()).most_common(2)
    assert count >= 6 and second <= 2
    return attacker


def scanner(item: Item) -> str:
    by_source = firewall(item)
    ranked = sorted(by_source, key=lambda ip: len(by_source[ip]), reverse=True)
    assert len(by_source[ranked[0]]) >= 10 and len(by_source[ranked[1]]) == 1
    return ranked[0]


def hash_name(item: Item) -> str:
    return {32: "MD5", 40: "SHA-1", 64: "SHA-256", 128: "SHA-512"}[len(block(item))]


def crypt_name(item: Item) -> str:
    prefixes = {"$2b$": "bcrypt", "$6$": "SHA-512 crypt", "$5$": "SHA-256 crypt", "$1$": "MD5 crypt"}
    prefixes |= {"$argon2id$": "Argon2id", "$y$": "yescrypt"}
    return next(name for prefix, name in prefixes.items() if block(item).startswith(prefix))


def port_of_service(item: Item) -> str:
    service = re.search(r"port number of (.+)\?", item.input).group(1)  # type: ignore[union-attr]
    return str(next(port for port, name in PORTS.items() if name == service))


def digest_length(item: Item) -> str:
    name = re.search(r"a (\S+) digest", item.input).group(1)  # type: ignore[union-attr]
    return str({"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-512": 128}[name])


# family -> (how the answer is recomputed, whether it is compared with the choice text)
RECOMPUTE: dict[str, tuple[Callable[[Item], str], bool]] = {
    "enc-id": (lambda item: encoding_of(block(item)), True),
    "b64": (lambda item: base64.b64decode(block(item)).decode(), False),
    "hex": (lambda item: bytes.fromhex(block(item)).decode(), False),
    "rot13": (lambda item: codecs.decode(block(item), "rot13"), False),
    "caesar-shift": (caesar_shift, False),
    "caesar-decrypt": (caesar_decrypt, False),
    "xor1": (xor_single, False),
    "xor-multi": (xor_multi, False),
    "cwe": (cwe_of_snippet, True),
    "cwe-hard": (cwe_of_snippet, True),
    "vuln-line": (single_vulnerable_line, False),
    "vuln-line-long": (single_vulnerable_line, False),
    "c-memcpy": (unguarded_memcpy, False),
    "log-fail": (
        lambda item: str(sum("Failed password" in line for line in block(item).splitlines())),
        False,
    ),
    "log-fail-ip": (fail_from_ip, False),
    "log-brute": (brute_ip, False),
    "log-breach": (lambda item: attacker_login(item)[0], False),
    "log-breach-time": (lambda item: attacker_login(item)[1], False),
    "web-first": (web_first, False),
    "port-svc": (lambda item: PORTS[int(re.search(r"port (\d+)", item.input).group(1))], True),  # type: ignore[union-attr]
    "port-svc-rare": (lambda item: PORTS[int(re.search(r"port (\d+)", item.input).group(1))], True),  # type: ignore[union-attr]
    "port-num": (port_of_service, False),
    "port-num-rare": (port_of_service, False),
    "nmap-open": (lambda item: str(sum(" open " in row for row in block(item).splitlines())), False),
    "scan-ip": (scanner, False),
    "scan-count": (
        lambda item: str(len(firewall(item)[re.search(r"did (\S+) probe", item.input).group(1)])),  # type: ignore[union-attr]
        False,
    ),
    "hash-id": (hash_name, True),
    "hash-crypt": (crypt_name, True),
    "hash-len": (digest_length, False),
}


def test_every_answer_is_recomputed(items: tuple[Item, ...]) -> None:
    checked: Counter[str] = Counter()
    for item in items:
        family = item.id.rsplit("-", 1)[0]
        recompute, by_choice = RECOMPUTE[family]
        expected = recompute(item)
        if by_choice:
            if family in {"cwe", "cwe-hard"}:
                assert choice_text(item).startswith(expected + ":"), item.id
            else:
                assert choice_text(item) == expected, item.id
        else:
            assert item.answers == (expected,), item.id
        checked[family] += 1
    assert sum(checked.values()) == len(items)
    assert set(checked) == set(RECOMPUTE)


def test_choice_items_have_one_right_option(items: tuple[Item, ...]) -> None:
    for item in items:
        if item.id.startswith("enc-id"):
            # The string is valid in exactly one of the offered encodings.
            valid = []
            for option in item.choices:
                decoder = {
                    "Base64": lambda text: base64.b64decode(text, validate=True),
                    "Hexadecimal": lambda text: (
                        bytes.fromhex(text) if re.fullmatch(r"[0-9a-f]+", text) else None
                    ),
                    "Binary (8-bit groups)": lambda text: (
                        bytes(int(b, 2) for b in text.split()) if re.fullmatch(r"[01 ]+", text) else None
                    ),
                    "URL percent-encoding": lambda text: (
                        urllib.parse.unquote(text) if text.startswith("%") else None
                    ),
                }[option]
                try:
                    if decoder(block(item)) is not None:
                        valid.append(option)
                except (ValueError, binascii.Error):
                    pass
            assert valid == [choice_text(item)], item.id
        if item.id.startswith("hash-id"):
            lengths = {"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-512": 128, "CRC32": 8, "SHA-384": 96}
            assert [c for c in item.choices if lengths[c] == len(block(item))] == [choice_text(item)], item.id
