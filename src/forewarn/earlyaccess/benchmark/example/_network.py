"""Ports, services, scans and hash identification (NON-CLASSIFIED EXAMPLE)."""

from __future__ import annotations

import base64
import hashlib
import random
import string
from datetime import timedelta

from forewarn.earlyaccess.benchmark.example._common import (
    WORDS,
    family_rng,
    fenced,
    make,
    multiple_choice,
    public_ip,
)
from forewarn.earlyaccess.benchmark.example._logs import _start
from forewarn.earlyaccess.benchmark.pack import Item
from forewarn.earlyaccess.benchmark.scoring import ScorerKind

NETWORK = "network"
HASHES = "hashes"

# IANA default ports; the first group is the well-known core every practitioner knows.
COMMON_PORTS = {
    21: "FTP",
    22: "SSH",
    23: "Telnet",
    25: "SMTP",
    53: "DNS",
    80: "HTTP",
    443: "HTTPS",
    3389: "RDP",
}
RARE_PORTS = {
    110: "POP3",
    143: "IMAP",
    389: "LDAP",
    445: "SMB",
    1433: "Microsoft SQL Server",
    3306: "MySQL",
    5432: "PostgreSQL",
    5900: "VNC",
    6379: "Redis",
    9200: "Elasticsearch",
    11211: "Memcached",
    27017: "MongoDB",
}
ALL_PORTS = {**COMMON_PORTS, **RARE_PORTS}


def port_service(seed: int, count: int, *, rare: bool) -> list[Item]:
    family = "port-svc-rare" if rare else "port-svc"
    rng = family_rng(seed, family)
    table = RARE_PORTS if rare else COMMON_PORTS
    ports = sorted(table)
    items = []
    for index in range(count):
        port = ports[index % len(ports)]
        choices, letter = multiple_choice(rng, table[port], sorted(set(ALL_PORTS.values())))
        text = f"Which service listens on TCP port {port} by default?"
        items.append(
            make(
                family,
                index,
                domain=NETWORK,
                difficulty=2 if rare else 1,
                text=text,
                answer=letter,
                scorer=ScorerKind.CHOICE,
                choices=choices,
            )
        )
    return items


def port_number(seed: int, count: int, *, rare: bool) -> list[Item]:
    family = "port-num-rare" if rare else "port-num"
    rng = family_rng(seed, family)
    ports = sorted(RARE_PORTS if rare else COMMON_PORTS)
    rng.shuffle(ports)
    items = []
    for index in range(count):
        port = ports[index % len(ports)]
        text = f"What is the default TCP port number of {ALL_PORTS[port]}? Reply with the number only."
        items.append(
            make(family, index, domain=NETWORK, difficulty=3 if rare else 2, text=text, answer=str(port))
        )
    return items


def _firewall_log(seed: int, family: str, index: int) -> tuple[list[str], str, int]:
    rng = family_rng(seed, f"{family}:{index}")
    sources: list[str] = []
    for _ in range(4):
        sources.append(public_ip(rng, sources))
    scanner = sources[0]
    server = f"192.0.2.{rng.randint(2, 254)}"
    probed = rng.sample([*sorted(ALL_PORTS), 8080, 8443, 135, 139, 111, 2049], rng.randint(10, 16))
    probes = [(scanner, port) for port in probed]
    probes += [(scanner, rng.choice(probed)) for _ in range(rng.randint(2, 5))]  # retries
    rng.shuffle(probes)
    for ip in sources[1:]:
        port = rng.choice((22, 80, 443, 3389))
        probes += [(ip, port)] * rng.randint(2, 5)  # repeated hits on one service are not a scan
    rng.shuffle(probes)
    moment = _start(rng)
    lines = []
    for ip, port in probes:
        moment += timedelta(seconds=rng.randint(0, 3))
        lines.append(
            f"{moment:%b} {moment.day:>2} {moment:%H:%M:%S} fw01 kernel: [UFW BLOCK] IN=eth0 OUT= "
            f"SRC={ip} DST={server} PROTO=TCP SPT={rng.randint(32768, 60999)} DPT={port}"
        )
    return lines, scanner, len(set(probed))


def port_scanner(seed: int, count: int) -> list[Item]:
    items = []
    for index in range(count):
        lines, scanner, _ = _firewall_log(seed, "scan-ip", index)
        text = (
            "One source address in this firewall log is port-scanning the server. Which one? "
            "Reply with the IP address only.\n\n" + fenced("\n".join(lines))
        )
        items.append(
            make(
                "scan-ip",
                index,
                domain=NETWORK,
                difficulty=4,
                text=text,
                answer=scanner,
                scorer=ScorerKind.INCLUDES,
            )
        )
    return items


def distinct_ports(seed: int, count: int) -> list[Item]:
    items = []
    for index in range(count):
        lines, scanner, distinct = _firewall_log(seed, "scan-count", index)
        text = (
            f"How many distinct destination ports did {scanner} probe in this firewall log? "
            "Reply with the number only.\n\n" + fenced("\n".join(lines))
        )
        items.append(make("scan-count", index, domain=NETWORK, difficulty=5, text=text, answer=str(distinct)))
    return items


_NMAP_STATES = ("open", "closed", "filtered")


def nmap_open(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "nmap-open")
    items = []
    for index in range(count):
        ports = sorted(rng.sample(sorted(ALL_PORTS), rng.randint(5, 9)))
        rows = ["PORT      STATE     SERVICE"]
        opened = 0
        for port in ports:
            state = rng.choice(_NMAP_STATES)
            opened += state == "open"
            service = ALL_PORTS[port].lower().split()[0]
            rows.append(f"{f'{port}/tcp':<9} {state:<9} {service}")
        host = f"192.0.2.{rng.randint(2, 254)}"
        report = f"Nmap scan report for {host}\nHost is up (0.0021s latency).\n" + "\n".join(rows)
        text = "How many ports does this Nmap report show as open? Reply with the number only.\n\n" + fenced(
            report
        )
        items.append(make("nmap-open", index, domain=NETWORK, difficulty=3, text=text, answer=str(opened)))
    return items


HEX_DIGESTS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}
DIGEST_HEX_LENGTHS = {"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-512": 128}
CRYPT_FORMATS = ("bcrypt", "SHA-512 crypt", "SHA-256 crypt", "MD5 crypt", "Argon2id", "yescrypt")
_B64 = string.ascii_letters + string.digits + "./"


def hash_identify(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "hash-id")
    names = list(HEX_DIGESTS)
    items = []
    for index in range(count):
        name = names[index % len(names)]
        digest = hashlib.new(HEX_DIGESTS[name], rng.choice(WORDS).encode()).hexdigest()
        choices, letter = multiple_choice(rng, name, [*names, "CRC32", "SHA-384"])
        text = "Which hash algorithm most likely produced this hexadecimal digest?\n\n" + fenced(digest)
        items.append(
            make(
                "hash-id",
                index,
                domain=HASHES,
                difficulty=2,
                text=text,
                answer=letter,
                scorer=ScorerKind.CHOICE,
                choices=choices,
            )
        )
    return items


def _crypt_string(name: str, rng: random.Random) -> str:
    salt = "".join(rng.choice(_B64) for _ in range(16))
    if name == "bcrypt":
        return f"$2b$12${''.join(rng.choice(_B64) for _ in range(53))}"
    if name == "SHA-512 crypt":
        return f"$6${salt}${''.join(rng.choice(_B64) for _ in range(86))}"
    if name == "SHA-256 crypt":
        return f"$5${salt}${''.join(rng.choice(_B64) for _ in range(43))}"
    if name == "MD5 crypt":
        return f"$1${salt[:8]}${''.join(rng.choice(_B64) for _ in range(22))}"
    if name == "Argon2id":
        raw_salt = base64.b64encode(bytes(rng.randrange(256) for _ in range(16))).decode().rstrip("=")
        raw_hash = base64.b64encode(bytes(rng.randrange(256) for _ in range(32))).decode().rstrip("=")
        return f"$argon2id$v=19$m=65536,t=3,p=4${raw_salt}${raw_hash}"
    return f"$y$j9T${salt[:22]}${''.join(rng.choice(_B64) for _ in range(43))}"


def crypt_identify(seed: int, count: int) -> list[Item]:
    rng = family_rng(seed, "hash-crypt")
    items = []
    for index in range(count):
        name = CRYPT_FORMATS[index % len(CRYPT_FORMATS)]
        choices, letter = multiple_choice(rng, name, CRYPT_FORMATS)
        text = "Which password-hashing scheme produced this /etc/shadow-style hash?\n\n" + fenced(
            _crypt_string(name, rng)
        )
        items.append(
            make(
                "hash-crypt",
                index,
                domain=HASHES,
                difficulty=3,
                text=text,
                answer=letter,
                scorer=ScorerKind.CHOICE,
                choices=choices,
            )
        )
    return items


def digest_length(seed: int, count: int) -> list[Item]:
    names = list(DIGEST_HEX_LENGTHS)
    items = []
    for index in range(count):
        name = names[index % len(names)]
        form = ("hexadecimal characters", "hex digits")[(index // len(names)) % 2]
        text = f"How many {form} long is a {name} digest written in hexadecimal? Reply with the number only."
        items.append(
            make(
                "hash-len",
                index,
                domain=HASHES,
                difficulty=1,
                text=text,
                answer=str(DIGEST_HEX_LENGTHS[name]),
            )
        )
    return items
