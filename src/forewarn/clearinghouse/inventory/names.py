"""Package identity: OSV ecosystems, package names normalised per ecosystem, and purls mapped onto both.

An SBOM names a package by purl (or by ecosystem and name); an OSV advisory names it by ecosystem and
name (OSV schema §affected[].package). Matching compares the two, so both sides go through the same
functions here: :func:`normalise_name` for names, :func:`split_ecosystem` and :func:`normalise_suffix`
for ecosystems, :func:`from_purl` for purls. ``matching`` imports this module (it sits above
``inventory``); nothing here imports ``matching``.

Invariants:

- :func:`normalise_name` is idempotent and applied to both sides of every comparison;
- a name is only ever folded where the ecosystem itself treats the variants as one package (or where
  purl-spec folds them, so that an SBOM's purl cannot carry the difference): a false "same package"
  costs an analyst a look, a false "different package" hides a vulnerability;
- :func:`from_purl` never guesses an ecosystem: a purl type (or distribution namespace) without an OSV
  ecosystem gives a reason, and the component is reported as unscannable.

Name rules (OSV itself normalises only PyPI names, OSV schema §Defined ecosystems):

==========================================  ====================================================
PyPI                                        PEP 503: lower case, runs of ``-_.`` become ``-``
npm, Packagist, Hex, Pub, Bitnami, apk      lower case (purl-spec lower-cases these names)
  distributions (Alpine, Wolfi, ...)
Maven, NuGet, GitHub Actions, Debian,       lower case (the registry treats case variants as one
  Ubuntu                                    package; Debian policy allows lower case only)
crates.io                                   lower case, ``_`` is ``-`` (crates.io refuses names that
                                            differ only so)
SwiftURL                                    scheme, trailing ``/`` and ``.git`` dropped, lower case
everything else (Go, RubyGems, RPM          as given (case matters there)
  distributions, CRAN, Hackage, ...)
==========================================  ====================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from forewarn.clearinghouse.advisories.schemas import OSV_ECOSYSTEMS

__all__ = [
    "OSV_ECOSYSTEMS",
    "PurlPackage",
    "canonical_ecosystem",
    "from_purl",
    "normalise_name",
    "normalise_suffix",
    "split_ecosystem",
]

#: Longest purl accepted (the advisory model's bound).
MAX_PURL_CHARS = 4096

_BY_LOWER = {e.lower(): e for e in OSV_ECOSYSTEMS}

_APK = frozenset({"Alpine", "Alpaquita", "BellSoft Hardened Containers", "Chainguard", "MinimOS", "Wolfi"})
_LOWER = frozenset(
    {"npm", "Packagist", "Hex", "Pub", "Bitnami", "Maven", "NuGet", "GitHub Actions", "Debian", "Ubuntu"}
    | _APK
)

# purl type -> OSV ecosystem, for types that mean exactly one ecosystem.
_PURL_TYPES = {
    "bitnami": "Bitnami",
    "cargo": "crates.io",
    "composer": "Packagist",
    "conan": "ConanCenter",
    "cran": "CRAN",
    "gem": "RubyGems",
    "githubactions": "GitHub Actions",
    "golang": "Go",
    "hackage": "Hackage",
    "hex": "Hex",
    "julia": "Julia",
    "maven": "Maven",
    "npm": "npm",
    "nuget": "NuGet",
    "opam": "opam",
    "pub": "Pub",
    "pypi": "PyPI",
    "swift": "SwiftURL",
    "vscode-extension": "VSCode",
}
# Distribution purl types: the namespace names the distribution (purl-spec types deb, apk, rpm).
_DISTRIBUTIONS = {
    "deb": {"debian": "Debian", "ubuntu": "Ubuntu"},
    "apk": {
        "alpine": "Alpine",
        "alpaquita": "Alpaquita",
        "chainguard": "Chainguard",
        "minimos": "MinimOS",
        "wolfi": "Wolfi",
    },
    "rpm": {
        "almalinux": "AlmaLinux",
        "azurelinux": "Azure Linux",
        "mageia": "Mageia",
        "mariner": "Azure Linux",
        "openeuler": "openEuler",
        "opensuse": "openSUSE",
        "photon": "Photon OS",
        "redhat": "Red Hat",
        "rocky": "Rocky Linux",
        "rocky-linux": "Rocky Linux",
        "rockylinux": "Rocky Linux",
        "sles": "SUSE",
        "suse": "SUSE",
    },
}

_DEBIAN_CODENAMES = {
    "wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10", "bullseye": "11",
    "bookworm": "12", "trixie": "13", "forky": "14", "duke": "15",
}  # fmt: skip
_UBUNTU_CODENAMES = {
    "trusty": "14.04", "xenial": "16.04", "bionic": "18.04", "focal": "20.04", "groovy": "20.10",
    "hirsute": "21.04", "impish": "21.10", "jammy": "22.04", "kinetic": "22.10", "lunar": "23.04",
    "mantic": "23.10", "noble": "24.04", "oracular": "24.10", "plucky": "25.04", "questing": "25.10",
}  # fmt: skip


def split_ecosystem(ecosystem: str) -> tuple[str, str | None]:
    """``(base, suffix)``: ``("Debian", "11")`` for ``Debian:11``, ``("npm", None)`` for ``npm``."""
    base, sep, suffix = ecosystem.partition(":")
    return base, (suffix if sep and suffix else None)


def canonical_ecosystem(text: str) -> str | None:
    """The OSV spelling of an ecosystem typed by a person (``pypi`` → ``PyPI``, ``debian:12`` →
    ``Debian:12``), or ``None`` when its base is not an OSV ecosystem."""
    base, suffix = split_ecosystem(text.strip())
    canonical = _BY_LOWER.get(base.strip().lower())
    if canonical is None:
        return None
    return f"{canonical}:{suffix.strip()}" if suffix and suffix.strip() else canonical


def normalise_name(ecosystem: str, name: str) -> str:
    """*name* as forewarn compares it within *ecosystem* (base or with suffix); see the module table."""
    base, _ = split_ecosystem(ecosystem)
    name = name.strip()
    if base == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    if base == "crates.io":
        return name.lower().replace("_", "-")
    if base == "SwiftURL":
        key = re.sub(r"^[a-z][a-z0-9+.-]*://", "", name.lower()).rstrip("/")
        return key.removesuffix(".git")
    if base in _LOWER:
        return name.lower()
    return name


def normalise_suffix(base: str, suffix: str | None) -> str | None:
    """An ecosystem suffix in the form OSV uses, or ``None`` when it cannot be read (then it is ignored:
    an unknown release must not hide advisories for the known ones).

    ``Debian:bookworm``, ``Debian:12.4`` → ``12``; ``Ubuntu:jammy``, ``Ubuntu:Pro:22.04:LTS`` →
    ``22.04`` (OSV treats the Pro and LTS variants as the release); ``Alpine:3.19.1`` → ``v3.19``.
    Other ecosystems keep the suffix as given.
    """
    if suffix is None or not suffix.strip():
        return None
    text = suffix.strip()
    if base == "Debian":
        text = text.lower().removeprefix("debian-")
        text = _DEBIAN_CODENAMES.get(text, text)
        major = text.split(".")[0]
        return major if major.isdigit() else None
    if base == "Ubuntu":
        parts = [p for p in text.split(":") if p not in ("Pro", "LTS")]
        text = ":".join(parts).lower().removeprefix("ubuntu-")
        text = _UBUNTU_CODENAMES.get(text, text)
        m = re.match(r"^(\d\d\.\d\d)", text)
        return m.group(1) if m else None
    if base in _APK:
        m = re.match(r"^(?:[a-z]+-)?v?(\d+)\.(\d+)", text.lower())
        if m:
            return f"v{m.group(1)}.{m.group(2)}"
        return "edge" if text.lower().endswith("edge") else None
    return text


@dataclass(frozen=True, slots=True)
class PurlPackage:
    """What a purl says about a package, in OSV terms.

    ``ecosystem`` carries a release suffix when the purl's ``distro`` qualifier gives one;
    ``source_name``/``source_version`` name the source package a distribution binary was built from
    (distribution advisories name source packages, OSV schema §Defined ecosystems: Debian, Alpine,
    ...), read from the ``upstream=`` or ``source=`` qualifier (``origin=`` for apk, a source RPM
    file name for rpm).
    """

    purl_type: str
    ecosystem: str | None
    name: str | None
    version: str | None
    source_name: str | None = None
    source_version: str | None = None
    reason: str | None = None


def _source_from(
    qualifiers: dict[str, str], purl_type: str, version: str | None
) -> tuple[str | None, str | None]:
    raw = qualifiers.get("upstream") or qualifiers.get("source")
    if purl_type == "apk":
        raw = raw or qualifiers.get("origin")
    if not raw:
        return None, None
    raw = raw.strip()
    if purl_type == "rpm" and raw.endswith(".rpm"):
        # a source RPM file name: NAME-VERSION-RELEASE.src.rpm (rpm(8) "sourcerpm")
        stem = re.sub(r"\.(no)?src\.rpm$", "", raw)
        parts = stem.rsplit("-", 2)
        if len(parts) == 3 and all(parts):
            epoch = qualifiers.get("epoch")
            source_version = f"{parts[1]}-{parts[2]}"
            if epoch and epoch.isdigit() and epoch != "0":
                source_version = f"{epoch}:{source_version}"
            return parts[0], source_version
        return None, None
    name, at, source_version = raw.partition("@")
    if not name:
        return None, None
    return name, (source_version if at and source_version else version)


def from_purl(text: str) -> PurlPackage:
    """The OSV package a purl names; ``reason`` says why not when it names none.

    Raises :class:`ValueError` when *text* is not a purl at all.
    """
    from packageurl import PackageURL

    if len(text) > MAX_PURL_CHARS:
        raise ValueError(f"a purl is at most {MAX_PURL_CHARS} characters")
    try:
        purl = PackageURL.from_string(text.strip())
    except ValueError as exc:
        raise ValueError(f"not a valid purl: {str(exc)[:200]}") from None
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    ptype, namespace, name, version = purl.type, purl.namespace, purl.name, purl.version or None

    def unscannable(reason: str) -> PurlPackage:
        return PurlPackage(ptype, None, None, version, reason=reason)

    if ptype in _DISTRIBUTIONS:
        ecosystem = _DISTRIBUTIONS[ptype].get((namespace or "").lower())
        if ecosystem is None:
            return unscannable(
                f"no OSV ecosystem for {ptype} packages of the distribution {namespace or '(none)'!r}"
            )
        if ptype == "rpm" and version and ":" not in version:
            epoch = qualifiers.get("epoch")
            if epoch and epoch.isdigit() and epoch != "0":
                version = f"{epoch}:{version}"  # purl-spec rpm: the epoch travels as a qualifier
        suffix = normalise_suffix(ecosystem, qualifiers.get("distro"))
        source_name, source_version = _source_from(qualifiers, ptype, version)
        full = f"{ecosystem}:{suffix}" if suffix and ptype != "rpm" else ecosystem
        return PurlPackage(
            ptype,
            full,
            normalise_name(ecosystem, name),
            version,
            normalise_name(ecosystem, source_name) if source_name else None,
            source_version,
        )
    ecosystem = _PURL_TYPES.get(ptype)
    if ecosystem is None:
        return unscannable(f"no OSV ecosystem for purl type {ptype!r}")
    if ecosystem == "Maven":
        if not namespace:
            return unscannable("a Maven purl needs a namespace (the groupId)")
        osv_name = f"{namespace}:{name}"
    elif ecosystem in ("npm", "Go", "Packagist", "SwiftURL", "GitHub Actions") and namespace:
        osv_name = f"{namespace}/{name}"
    else:
        osv_name = name
    return PurlPackage(ptype, ecosystem, normalise_name(ecosystem, osv_name), version)
