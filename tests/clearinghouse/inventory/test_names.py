"""Package identity: purls mapped to OSV ecosystems and names, names normalised per ecosystem, suffixes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forewarn.clearinghouse.inventory.names import (
    OSV_ECOSYSTEMS,
    canonical_ecosystem,
    from_purl,
    normalise_name,
    normalise_suffix,
    split_ecosystem,
)


@pytest.mark.parametrize(
    ("purl", "ecosystem", "name", "version"),
    [
        ("pkg:pypi/Django_Foo.Bar@3.2", "PyPI", "django-foo-bar", "3.2"),
        ("pkg:npm/%40angular/core@12.0.0", "npm", "@angular/core", "12.0.0"),
        ("pkg:npm/JSONStream@1.3.5", "npm", "jsonstream", "1.3.5"),
        (
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar",
            "Maven",
            "org.apache.logging.log4j:log4j-core",
            "2.14.1",
        ),
        ("pkg:golang/github.com/gin-gonic/gin@v1.7.0#binding", "Go", "github.com/gin-gonic/gin", "v1.7.0"),
        ("pkg:golang/github.com/BurntSushi/toml@v1.0.0", "Go", "github.com/BurntSushi/toml", "v1.0.0"),
        ("pkg:cargo/Serde_JSON@1.0.0", "crates.io", "serde-json", "1.0.0"),
        ("pkg:gem/Rails@7.0.0", "RubyGems", "Rails", "7.0.0"),
        ("pkg:nuget/Newtonsoft.Json@13.0.1", "NuGet", "newtonsoft.json", "13.0.1"),
        ("pkg:composer/Laravel/Framework@8.0.0", "Packagist", "laravel/framework", "8.0.0"),
        ("pkg:hex/Phoenix@1.6.0", "Hex", "phoenix", "1.6.0"),
        ("pkg:pub/http@0.13.0", "Pub", "http", "0.13.0"),
        ("pkg:cran/ggplot2@3.4.0", "CRAN", "ggplot2", "3.4.0"),
        ("pkg:hackage/aeson@2.0.0.0", "Hackage", "aeson", "2.0.0.0"),
        ("pkg:swift/github.com/apple/swift-nio@2.0.0", "SwiftURL", "github.com/apple/swift-nio", "2.0.0"),
        ("pkg:githubactions/Actions/Checkout@v3", "GitHub Actions", "actions/checkout", "v3"),
        (
            "pkg:deb/debian/libssl1.1@1.1.1n-0%2Bdeb11u3?distro=bullseye",
            "Debian:11",
            "libssl1.1",
            "1.1.1n-0+deb11u3",
        ),
        (
            "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.10?distro=ubuntu-22.04",
            "Ubuntu:22.04",
            "openssl",
            "3.0.2-0ubuntu1.10",
        ),
        ("pkg:apk/alpine/busybox@1.36.1-r2?distro=alpine-3.18.4", "Alpine:v3.18", "busybox", "1.36.1-r2"),
        ("pkg:apk/wolfi/glibc@2.38-r1", "Wolfi", "glibc", "2.38-r1"),
        ("pkg:rpm/redhat/openssl@1.1.1k-7.el8_6?epoch=1", "Red Hat", "openssl", "1:1.1.1k-7.el8_6"),
        ("pkg:rpm/rocky-linux/bash@4.4.20-4.el8_6", "Rocky Linux", "bash", "4.4.20-4.el8_6"),
    ],
)
def test_purls_map_to_osv_packages(purl: str, ecosystem: str, name: str, version: str) -> None:
    found = from_purl(purl)
    assert (found.ecosystem, found.name, found.version, found.reason) == (ecosystem, name, version, None)


@pytest.mark.parametrize(
    ("purl", "source", "source_version"),
    [
        ("pkg:deb/debian/libssl1.1@1.1.1n-0%2Bdeb11u3?upstream=openssl", "openssl", "1.1.1n-0+deb11u3"),
        ("pkg:deb/debian/libc6@2.31-13?source=glibc", "glibc", "2.31-13"),
        (
            "pkg:deb/debian/zlib1g@1%3A1.2.11.dfsg-2?upstream=zlib%401%3A1.2.11.dfsg-1",
            "zlib",
            "1:1.2.11.dfsg-1",
        ),
        ("pkg:apk/alpine/libcrypto3@3.1.4-r5?upstream=openssl", "openssl", "3.1.4-r5"),
        ("pkg:apk/alpine/libcrypto3@3.1.4-r5?origin=openssl", "openssl", "3.1.4-r5"),
        (
            "pkg:rpm/redhat/openssl-libs@1.1.1k-7.el8?epoch=1&upstream=openssl-1.1.1k-7.el8.src.rpm",
            "openssl",
            "1:1.1.1k-7.el8",
        ),
    ],
)
def test_distribution_purls_carry_their_source_package(purl: str, source: str, source_version: str) -> None:
    found = from_purl(purl)
    assert (found.source_name, found.source_version) == (source, source_version)


@pytest.mark.parametrize(
    ("purl", "reason"),
    [
        ("pkg:huggingface/CompVis/stable-diffusion@abc", "no OSV ecosystem for purl type 'huggingface'"),
        ("pkg:generic/openssl@1.1.1", "no OSV ecosystem for purl type 'generic'"),
        ("pkg:deb/raspbian/libfoo@1.0", "no OSV ecosystem for deb packages of the distribution 'raspbian'"),
        ("pkg:rpm/fedora/bash@5.0", "no OSV ecosystem for rpm packages of the distribution 'fedora'"),
        ("pkg:maven/log4j-core@2.14.1", "a Maven purl needs a namespace (the groupId)"),
    ],
)
def test_purls_without_an_osv_ecosystem_say_why(purl: str, reason: str) -> None:
    found = from_purl(purl)
    assert found.ecosystem is None and found.reason == reason


@pytest.mark.parametrize("text", ["not a purl", "pkg:/x", "pkg:npm/", "pkg:npm/" + "a" * 5000])
def test_malformed_purls_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="purl"):
        from_purl(text)


@pytest.mark.parametrize(
    ("ecosystem", "given", "normalised"),
    [
        ("PyPI", "Products.PluggableAuthService", "products-pluggableauthservice"),
        ("PyPI", "zope__interface", "zope-interface"),
        ("npm", "JSONStream", "jsonstream"),
        ("Maven", "Org.Example:Lib", "org.example:lib"),
        ("NuGet", "Newtonsoft.Json", "newtonsoft.json"),
        ("crates.io", "Serde_Json", "serde-json"),
        ("SwiftURL", "https://github.com/Apple/swift-nio.git", "github.com/apple/swift-nio"),
        ("Debian:11", "LibSSL1.1", "libssl1.1"),
        ("Go", "github.com/BurntSushi/toml", "github.com/BurntSushi/toml"),
        ("RubyGems", "Rails", "Rails"),
        ("Red Hat", "perl-Digest-MD5", "perl-Digest-MD5"),
    ],
)
def test_names_are_normalised_per_ecosystem(ecosystem: str, given: str, normalised: str) -> None:
    assert normalise_name(ecosystem, given) == normalised


@given(st.sampled_from(sorted(OSV_ECOSYSTEMS)), st.text(min_size=1, max_size=40))
def test_normalisation_is_idempotent(ecosystem: str, name: str) -> None:
    once = normalise_name(ecosystem, name)
    assert normalise_name(ecosystem, once) == once


@pytest.mark.parametrize(
    ("base", "suffix", "expected"),
    [
        ("Debian", "11", "11"),
        ("Debian", "bookworm", "12"),
        ("Debian", "debian-12.4", "12"),
        ("Debian", "sid", None),
        ("Ubuntu", "22.04:LTS", "22.04"),
        ("Ubuntu", "Pro:18.04:LTS", "18.04"),
        ("Ubuntu", "jammy", "22.04"),
        ("Ubuntu", "ubuntu-24.04", "24.04"),
        ("Alpine", "v3.16", "v3.16"),
        ("Alpine", "alpine-3.19.1", "v3.19"),
        ("Alpine", "3.18", "v3.18"),
        ("Red Hat", "rhel_aus:8.4::appstream", "rhel_aus:8.4::appstream"),
        ("Debian", None, None),
    ],
)
def test_suffixes_in_osv_form(base: str, suffix: str | None, expected: str | None) -> None:
    assert normalise_suffix(base, suffix) == expected


def test_ecosystem_spellings() -> None:
    assert split_ecosystem("Ubuntu:Pro:18.04:LTS") == ("Ubuntu", "Pro:18.04:LTS")
    assert split_ecosystem("npm") == ("npm", None)
    assert canonical_ecosystem("pypi") == "PyPI"
    assert canonical_ecosystem(" debian:12 ") == "Debian:12"
    assert canonical_ecosystem("CRATES.IO") == "crates.io"
    assert canonical_ecosystem("cobol") is None
