"""Package URLs (purl-spec) and version range specifiers (``vers:``), as far as the codecs need them.

The codecs use purls to say which OSV package a CSAF product or a CVE record names, and ``vers`` to
carry OSV ranges in CSAF ``product_version_range`` branches (CSAF 2.0 §3.1.2.3.1, §6.2.18). Only
language ecosystems with a one-to-one purl type are mapped; an unmapped ecosystem simply gets no purl,
which loses nothing that the source said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

__all__ = [
    "Interval",
    "Purl",
    "build_purl",
    "build_vers",
    "ecosystem_for_purl",
    "normalize_pypi_name",
    "parse_purl",
    "parse_vers",
    "purl_for_package",
    "strip_version",
    "vers_scheme",
]

# OSV ecosystem (without suffix) -> purl type. Only ecosystems whose purl type means the same thing.
_ECOSYSTEM_TO_PURL: dict[str, str] = {
    "npm": "npm",
    "PyPI": "pypi",
    "Maven": "maven",
    "Go": "golang",
    "crates.io": "cargo",
    "RubyGems": "gem",
    "NuGet": "nuget",
    "Packagist": "composer",
    "Hex": "hex",
    "Pub": "pub",
    "CRAN": "cran",
    "Hackage": "hackage",
    "ConanCenter": "conan",
}
_PURL_TO_ECOSYSTEM = {v: k for k, v in _ECOSYSTEM_TO_PURL.items()}

_TYPE = re.compile(r"^[a-zA-Z][a-zA-Z0-9.+-]*$")


@dataclass(frozen=True)
class Purl:
    type: str
    namespace: str | None
    name: str
    version: str | None
    qualifiers: str | None  # kept encoded, in source order
    subpath: str | None


def parse_purl(text: str) -> Purl | None:
    """The parts of a package URL, or ``None`` when *text* is not one (purl-spec "How to parse")."""
    if not text.startswith("pkg:") or len(text) > 4096 or any(c.isspace() for c in text):
        return None
    rest = text[4:].lstrip("/")
    rest, _, subpath = rest.partition("#")
    rest, _, qualifiers = rest.partition("?")
    type_, sep, rest = rest.partition("/")
    if not sep or not _TYPE.match(type_):
        return None
    version: str | None = None
    if "@" in rest:
        rest, _, raw_version = rest.rpartition("@")
        version = unquote(raw_version) or None
    segments = [unquote(s) for s in rest.strip("/").split("/") if s]
    if not segments:
        return None
    namespace = "/".join(segments[:-1]) or None
    return Purl(type_.lower(), namespace, segments[-1], version, qualifiers or None, subpath or None)


def strip_version(purl: str) -> str:
    """A purl without its ``@version`` (OSV §affected[].package.purl names the package, not a version)."""
    end = min((i for i in (purl.find("?"), purl.find("#")) if i != -1), default=len(purl))
    head, tail = purl[:end], purl[end:]
    at = head.rfind("@")
    if at > head.find("/") > 0 and at > head.rfind("/"):
        head = head[:at]
    return head + tail


def _enc(segment: str) -> str:
    return quote(segment, safe=":")


def build_purl(type_: str, namespace: str | None, name: str, version: str | None = None) -> str:
    ns = "/".join(_enc(s) for s in namespace.split("/")) + "/" if namespace else ""
    at = "@" + _enc(version) if version else ""
    return f"pkg:{type_}/{ns}{_enc(name)}{at}"


def normalize_pypi_name(name: str) -> str:
    """PEP 503 normalised name, which OSV requires for PyPI packages (OSV schema §Defined ecosystems)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def purl_for_package(ecosystem: str, name: str) -> str | None:
    """The versionless purl of an OSV package, when its ecosystem maps to a purl type."""
    type_ = _ECOSYSTEM_TO_PURL.get(ecosystem)
    if type_ is None:
        return None
    if type_ == "maven":
        group, sep, artifact = name.partition(":")
        return build_purl(type_, group, artifact) if sep and group and artifact else None
    if type_ in ("golang", "composer") or (type_ == "npm" and name.startswith("@")):
        namespace, sep, last = name.rpartition("/")
        return build_purl(type_, namespace or None, last) if last else None
    if type_ == "pypi":
        name = normalize_pypi_name(name)
    return build_purl(type_, None, name)


def ecosystem_for_purl(purl: Purl) -> tuple[str, str] | None:
    """``(OSV ecosystem, OSV package name)`` for a purl of a mapped type, else ``None``."""
    ecosystem = _PURL_TO_ECOSYSTEM.get(purl.type)
    if ecosystem is None:
        return None
    if purl.type == "maven":
        return (ecosystem, f"{purl.namespace}:{purl.name}") if purl.namespace else None
    if purl.type == "pypi":
        return ecosystem, normalize_pypi_name(purl.name)
    name = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
    return ecosystem, name


def vers_scheme(ecosystem: str | None, *, semver: bool) -> str | None:
    """The ``vers`` versioning scheme for an OSV ecosystem (purl types are vers schemes)."""
    if ecosystem is not None and ecosystem in _ECOSYSTEM_TO_PURL:
        return _ECOSYSTEM_TO_PURL[ecosystem]
    return "semver" if semver else None


@dataclass(frozen=True)
class Interval:
    """One contiguous affected interval: ``[lower, upper)`` or ``[lower, upper]``; ``None`` is unbounded."""

    lower: str | None
    upper: str | None
    upper_inclusive: bool = False


def _venc(version: str) -> str:
    return quote(version, safe=".-_~+:")


def build_vers(scheme: str, intervals: list[Interval]) -> str:
    """A ``vers`` string for intervals given in ascending order."""
    parts: list[str] = []
    for iv in intervals:
        if iv.lower is None and iv.upper is None:
            return f"vers:{scheme}/*"
        if iv.lower is not None:
            parts.append(">=" + _venc(iv.lower))
        if iv.upper is not None:
            parts.append(("<=" if iv.upper_inclusive else "<") + _venc(iv.upper))
    return f"vers:{scheme}/" + "|".join(parts)


_CONSTRAINT = re.compile(r"^(>=|<=|!=|<|>|=)?(.+)$")


def parse_vers(text: str) -> tuple[str, list[Interval], list[str]] | None:
    """``(scheme, intervals, exact versions)`` of a ``vers`` string, or ``None`` when it is not one or
    uses what OSV ranges cannot say (``>``, ``!=``)."""
    if not text.startswith("vers:") or len(text) > 4096:
        return None
    scheme, sep, body = text[5:].partition("/")
    if not sep or not scheme or not body:
        return None
    if body.strip() == "*":
        return scheme.lower(), [Interval(None, None)], []
    intervals: list[Interval] = []
    exact: list[str] = []
    lower: str | None = None
    open_ = False
    for raw in body.split("|"):
        m = _CONSTRAINT.match(raw.strip())
        if m is None:
            return None
        op, version = m.group(1) or "=", unquote(m.group(2).strip())
        if not version or version == "*":
            return None
        if op == ">=":
            if open_:
                intervals.append(Interval(lower, None))
            lower, open_ = version, True
        elif op in ("<", "<="):
            intervals.append(Interval(lower if open_ else None, version, op == "<="))
            lower, open_ = None, False
        elif op == "=":
            exact.append(version)
        else:
            return None
    if open_:
        intervals.append(Interval(lower, None))
    return scheme.lower(), intervals, exact
