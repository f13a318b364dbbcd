"""SBOMs and product lists: public CycloneDX samples, forewarn's own fixtures (CycloneDX XML 1.4, nested
JSON, distribution packages with their source, SPDX 2.3, CSV), format detection, and a bad-input corpus
where each document is refused at the right place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import testdata as shared

from forewarn.clearinghouse.inventory import sbom
from forewarn.clearinghouse.inventory.errors import InvalidSbom, SbomTooLarge
from forewarn.clearinghouse.inventory.schemas import ComponentKind, Inventory, SbomFormat
from forewarn.core.errors import InvalidInput

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def by_location(inventory: Inventory) -> dict[str, Any]:
    found: dict[str, Any] = {c.location: c for c in inventory.components}
    found.update({u.component.location: u for u in inventory.unscannable})
    return found


def count_json_components(doc: dict[str, Any]) -> int:
    def walk(components: list[dict[str, Any]]) -> int:
        return sum(1 + walk(c.get("components", [])) for c in components)

    meta = doc.get("metadata", {}).get("component")
    return walk(doc.get("components", [])) + (walk([meta]) if meta else 0)


# --------------------------------------------------------------------------------------------------
# Public CycloneDX 1.6 samples
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "valid-bom-1.6.json",
        "valid-component-hashes-1.6.json",
        "valid-dependency-1.6.json",
        "valid-machine-learning-1.6.json",
        "valid-vulnerability-1.6.json",
    ],
)
def test_public_cyclonedx_samples_parse_and_keep_every_component(name: str) -> None:
    raw = shared("cyclonedx", name).read_bytes()
    inventory = sbom.parse_sbom(raw)
    assert inventory.format is SbomFormat.CYCLONEDX_JSON and inventory.spec_version == "1.6"
    assert len(inventory) == count_json_components(json.loads(raw))


def test_public_bom_names_maven_packages() -> None:
    inventory = sbom.parse_sbom(shared("cyclonedx", "valid-bom-1.6.json").read_bytes())
    assert [(c.ecosystem, c.package, c.version) for c in inventory.components] == [
        ("Maven", "com.acme:tomcat-catalina", "9.0.14"),
        ("Maven", "com.example:myapplication", "1.0.0"),
        ("Maven", "com.example:myframework", "1.0.0"),
    ]
    (product,) = inventory.unscannable
    assert product.component.location == "/metadata/component" and product.reason == "no purl"
    assert inventory.name == "Acme Application"


def test_public_ml_bom_keeps_the_model_as_unscannable() -> None:
    inventory = sbom.parse_sbom(shared("cyclonedx", "valid-machine-learning-1.6.json").read_bytes())
    (model,) = inventory.unscannable
    assert model.component.kind is ComponentKind.MACHINE_LEARNING_MODEL
    assert model.component.name == "stable-diffusion" and model.component.group == "CompVis"
    assert "machine-learning-model" in model.reason


# --------------------------------------------------------------------------------------------------
# forewarn's own fixtures
# --------------------------------------------------------------------------------------------------


def test_cyclonedx_xml_1_4_with_nested_components() -> None:
    inventory = sbom.parse_sbom(fixture("bom-1.4.xml"))
    assert (inventory.format, inventory.spec_version, inventory.name) == (
        SbomFormat.CYCLONEDX_XML,
        "1.4",
        "clinic-fileserver",
    )
    found = by_location(inventory)
    assert found["/bom/components/component[1]"].package == "django"
    nested = found["/bom/components/component[1]/components/component[1]"]
    assert (nested.ecosystem, nested.package, nested.version, nested.ref) == (
        "PyPI",
        "sqlparse",
        "0.4.1",
        "sqlparse",
    )
    libssl = found["/bom/components/component[3]"]
    assert (libssl.ecosystem, libssl.package, libssl.source_package) == ("Debian:11", "libssl1.1", "openssl")
    assert libssl.supplier == "Debian OpenSSL Team"
    assert "CPE" in found["/bom/components/component[4]"].reason
    assert found["/bom/metadata/component"].reason == "no purl"
    assert len(inventory) == 6


def test_nested_json_components_in_document_order() -> None:
    inventory = sbom.parse_sbom(fixture("nested-1.5.json"))
    assert [c.location for c in inventory.components] == [
        "/metadata/component",
        "/components/0",
        "/components/0/components/0",
        "/components/0/components/0/components/0",
        "/components/1",
    ]
    assert inventory.components[-1].package == "@angular/core"
    reasons = {u.component.kind: u.reason for u in inventory.unscannable}
    assert reasons[ComponentKind.MACHINE_LEARNING_MODEL] == "no OSV ecosystem for purl type 'huggingface'"
    assert reasons[ComponentKind.DATA].startswith("a data component")
    assert reasons[ComponentKind.LIBRARY] == "no version"


def test_distribution_binaries_carry_their_source_packages() -> None:
    found = by_location(sbom.parse_sbom(fixture("debian-1.6.json")))
    expected = {
        "/components/0": ("Debian:11", "libssl1.1", "1.1.1n-0+deb11u3", "openssl", "1.1.1n-0+deb11u3"),
        "/components/1": ("Debian:11", "openssl", "1.1.1n-0+deb11u3", None, None),
        "/components/2": ("Debian:11", "libc6", "2.31-13+deb11u5", "glibc", "2.31-13+deb11u5"),
        "/components/3": (
            "Debian:11",
            "zlib1g",
            "1:1.2.11.dfsg-2+deb11u2",
            "zlib",
            "1:1.2.11.dfsg-2+deb11u2",
        ),
        "/components/4": ("Alpine:v3.19", "libcrypto3", "3.1.4-r5", "openssl", "3.1.4-r5"),
        "/components/5": ("Red Hat", "openssl-libs", "1:1.1.1k-7.el8_6", "openssl", "1:1.1.1k-7.el8_6"),
    }
    for location, identity in expected.items():
        c = found[location]
        assert (c.ecosystem, c.package, c.version, c.source_package, c.source_version) == identity
    assert "raspbian" in found["/components/6"].reason


def test_spdx_2_3() -> None:
    inventory = sbom.parse_sbom(fixture("sbom-2.3.spdx.json"))
    assert (inventory.format, inventory.spec_version, inventory.name) == (
        SbomFormat.SPDX_JSON,
        "2.3",
        "water-scada-gateway",
    )
    assert [(c.location, c.ecosystem, c.package, c.version, c.ref) for c in inventory.components] == [
        ("/packages/1", "PyPI", "requests", "2.25.0", "SPDXRef-requests"),
        ("/packages/2", "Maven", "org.apache.logging.log4j:log4j-core", "2.14.1", "SPDXRef-log4j"),
        ("/packages/3", "Alpine:v3.18", "busybox", "1.36.1-r2", "SPDXRef-busybox"),
    ]
    (gateway,) = inventory.unscannable
    assert gateway.component.kind is ComponentKind.APPLICATION
    assert gateway.component.supplier == "Acme Controls"


def test_csv_product_list() -> None:
    inventory = sbom.parse_sbom(fixture("products.csv"))
    assert inventory.format is SbomFormat.CSV
    assert [(c.location, c.ecosystem, c.package, c.version) for c in inventory.components] == [
        ("line 4", "PyPI", "django", "3.2.0"),
        ("line 5", "Maven", "org.apache.logging.log4j:log4j-core", "2.14.1"),
        ("line 6", "Debian:11", "openssl", "1.1.1n-0+deb11u3"),
        ("line 7", "npm", "lodash", "4.17.20"),
        ("line 12", "npm", "lodash", "4.17.19"),
    ]
    assert inventory.components[-1].purl == "pkg:npm/lodash@4.17.19"
    assert {u.component.location: u.reason for u in inventory.unscannable} == {
        "line 3": "no purl and no ecosystem",
        "line 8": "no purl and no ecosystem",
        "line 9": "no version",
        "line 10": "'NotAnEcosystem' is not an OSV ecosystem",
        "line 11": "a Maven product is named groupId:artifactId",
    }
    assert inventory.unscannable[0].component.supplier == "Acme Medical"
    assert inventory.unscannable[1].component.name == "Billing Suite, Enterprise"


def test_csv_header_may_name_columns_in_any_order_and_case() -> None:
    inventory = sbom.parse_sbom(b"\xef\xbb\xbfPURL,Version\r\npkg:pypi/flask,2.0.0\r\n")
    (component,) = inventory.components
    assert (component.package, component.version, component.purl) == (
        "flask",
        "2.0.0",
        "pkg:pypi/flask@2.0.0",
    )


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("bom-1.4.xml", SbomFormat.CYCLONEDX_XML),
        ("nested-1.5.json", SbomFormat.CYCLONEDX_JSON),
        ("sbom-2.3.spdx.json", SbomFormat.SPDX_JSON),
        ("products.csv", SbomFormat.CSV),
    ],
)
def test_format_is_detected_or_given(name: str, fmt: SbomFormat) -> None:
    assert sbom.parse_sbom(fixture(name)).format is fmt
    assert sbom.parse_sbom(fixture(name), format=fmt).format is fmt


# --------------------------------------------------------------------------------------------------
# Bad input: refused completely, at the right place
# --------------------------------------------------------------------------------------------------


def cdx(components: list[Any], spec: str = "1.6", **extra: Any) -> bytes:
    return json.dumps(
        {"bomFormat": "CycloneDX", "specVersion": spec, "version": 1, "components": components, **extra}
    ).encode()


XML_HEAD = (
    '<?xml version="1.0"?>\n<bom xmlns="http://cyclonedx.org/schema/bom/{spec}" version="1"><components>'
)


def xml(body: str, spec: str = "1.4") -> bytes:
    return (XML_HEAD.format(spec=spec) + body + "</components></bom>").encode()


def spdx(**changes: Any) -> bytes:
    doc = json.loads(fixture("sbom-2.3.spdx.json"))
    doc.update(changes)
    return json.dumps(doc).encode()


GOOD = {"type": "library", "name": "ok", "version": "1.0", "purl": "pkg:npm/ok@1.0"}
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
    b'<bom xmlns="http://cyclonedx.org/schema/bom/1.4"><components><component type="library">'
    b"<name>&lol2;</name></component></components></bom>"
)

BAD: list[tuple[str, bytes, str, str]] = [
    ("not UTF-8", b"\xff\xfe{", "not UTF-8", ""),
    ("duplicate key", b'{"bomFormat": "CycloneDX", "bomFormat": "SPDX"}', "duplicate key", ""),
    ("NaN", b'{"bomFormat": "CycloneDX", "specVersion": NaN}', "not JSON", ""),
    ("top-level array", b"[1, 2]", "expected an object", ""),
    ("neither", b'{"hello": "world"}', "bomFormat", ""),
    ("deep JSON", b'{"a":' * 70 + b"1" + b"}" * 70, "levels", ""),
    ("CycloneDX 1.3", cdx([GOOD], spec="1.3"), "forewarn reads 1.4, 1.5, 1.6", "/specVersion"),
    (
        "no name",
        cdx([GOOD, {"type": "library", "version": "1"}]),
        "'name' is a required property",
        "/components/1",
    ),
    ("bad type", cdx([{**GOOD, "type": "spaceship"}]), "spaceship", "/components/0/type"),
    ("purl not a string", cdx([{**GOOD, "purl": 5}]), "not of type 'string'", "/components/0/purl"),
    ("unknown field", cdx([{**GOOD, "colour": "red"}]), "colour", "/components/0"),
    ("XML with a DTD", BILLION_LAUGHS, "DTD", ""),
    (
        "XML malformed",
        b"<bom xmlns='http://cyclonedx.org/schema/bom/1.4'><components>",
        "not well-formed",
        "",
    ),
    ("XML namespace", b"<bom xmlns='urn:other'/>", "root element", "/"),
    ("XML 1.3", xml('<component type="library"><name>x</name></component>', spec="1.3"), "1.3", "/bom"),
    (
        "XML no name",
        xml('<component type="library"><version>1</version></component>'),
        "needs a name",
        "/bom/components/component[1]/name",
    ),
    (
        "XML bad type",
        xml('<component type="spaceship"><name>x</name></component>'),
        "spaceship",
        "/bom/components/component[1]/@type",
    ),
    (
        "XML 1.4 has no ML type",
        xml('<component type="machine-learning-model"><name>m</name></component>'),
        "not a CycloneDX 1.4 component type",
        "/bom/components/component[1]/@type",
    ),
    (
        "XML twice",
        xml('<component type="library"><name>x</name><version>1</version><version>2</version></component>'),
        "more than once",
        "/bom/components/component[1]/version",
    ),
    ("SPDX 2.1", spdx(spdxVersion="SPDX-2.1"), "forewarn reads SPDX-2.2, SPDX-2.3", "/spdxVersion"),
    ("SPDX no namespace", spdx(documentNamespace=None), "required", "/documentNamespace"),
    (
        "SPDX package",
        spdx(packages=[{"SPDXID": "SPDXRef-x", "name": "x"}]),
        "required",
        "/packages/0/downloadLocation",
    ),
    (
        "SPDX bad relationship",
        spdx(
            relationships=[
                {
                    "spdxElementId": "SPDXRef-DOCUMENT",
                    "relationshipType": "DESCRIBES",
                    "relatedSpdxElement": "SPDXRef-missing",
                }
            ]
        ),
        "SPDXRef-missing",
        "",
    ),
    (
        "SPDX dangling relationship",
        spdx(
            relationships=[
                {
                    "spdxElementId": "SPDXRef-DOCUMENT",
                    "relationshipType": "DESCRIBES",
                    "relatedSpdxElement": "SPDXRef-gateway",
                },
                {
                    "spdxElementId": "SPDXRef-gateway",
                    "relationshipType": "DEPENDS_ON",
                    "relatedSpdxElement": "SPDXRef-nowhere",
                },
            ]
        ),
        "did not find the referenced spdx_id SPDXRef-nowhere",
        "/relationships",
    ),
    ("CycloneDX duplicates", cdx([GOOD, GOOD]), "must be unique", "/components"),
    ("CSV unknown column", b"vendor,colour\nacme,red\n", "unknown column 'colour'", "line 1:2"),
    ("CSV twice", b"product,product\na,b\n", "appears twice", "line 1:2"),
    ("CSV no product", b"vendor,version\nacme,1\n", "product or a purl", "line 1"),
    ("CSV ragged", b"product,version\na,1\nb\n", "1 fields; the header has 2", "line 3"),
    ("CSV purl/version", b"purl,version\npkg:npm/a@1.0,2.0\n", "differs from the purl's version", "line 2:2"),
    (
        "CSV purl/ecosystem",
        b"purl,ecosystem\npkg:npm/a@1.0,PyPI\n",
        "differs from the purl's ecosystem",
        "line 2:2",
    ),
    ("CSV bad purl", b"product,purl\na,pkg:\n", "purl", "line 2:2"),
    ("CSV quote", b'product,version\n"a,1\n', "CSV", ""),
    ("CSV long field", b"product,version\n" + b"a" * 5000 + b",1\n", "longer than", "line 2:1"),
    ("plain text", b"hello world\n", "not an SBOM or product list", "line 1"),
    ("empty", b"", "not an SBOM or product list", ""),
]


@pytest.mark.parametrize(("what", "raw", "message", "where"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_at_its_place(what: str, raw: bytes, message: str, where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        sbom.parse_sbom(raw)
    text = str(caught.value)
    assert message in text, text
    assert any(p.field == where or p.field.startswith(where) for p in caught.value.problems) or not where, (
        text
    )


def test_one_bad_component_refuses_the_whole_document() -> None:
    with pytest.raises(InvalidSbom) as caught:
        sbom.parse_sbom(cdx([GOOD, {**GOOD, "name": "also-ok"}, {**GOOD, "name": "x" * 5000}]))
    assert [p.field for p in caught.value.problems] == ["/components/2/name"]


def test_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sbom, "MAX_COMPONENTS", 2)
    with pytest.raises(SbomTooLarge, match="too many components"):
        sbom.parse_sbom(cdx([GOOD, GOOD, GOOD]))  # counted before the schema (which wants them unique)
    with pytest.raises(SbomTooLarge, match="too many components"):
        sbom.parse_sbom(xml('<component type="library"><name>x</name></component>' * 3))
    with pytest.raises(SbomTooLarge, match="too many components"):
        sbom.parse_sbom(b"product,version\na,1\nb,1\nc,1\n")
    with pytest.raises(SbomTooLarge):
        sbom.parse_sbom(spdx(packages=[{"SPDXID": f"SPDXRef-{i}"} for i in range(3)]))
    monkeypatch.setattr(sbom, "MAX_COMPONENTS", 100)
    monkeypatch.setattr(sbom, "MAX_NESTING", 2)
    deep = {**GOOD, "components": [{**GOOD, "components": [GOOD]}]}
    with pytest.raises(InvalidSbom, match="too deeply"):
        sbom.parse_sbom(cdx([deep]))
    monkeypatch.setattr(sbom, "MAX_SBOM_BYTES", 100)
    with pytest.raises(SbomTooLarge, match="too large"):
        sbom.parse_sbom(b" " * 101)


def test_cyclonedx_schemas_come_from_the_library_with_a_linear_unique_items_check() -> None:
    # jsonschema's own uniqueItems compares every pair: minutes for a 20,000-component BOM
    for spec in sbom.CYCLONEDX_VERSIONS:
        assert sbom._cyclonedx_validator(spec) is not None


def test_a_malformed_purl_makes_a_component_unscannable_not_the_document_invalid() -> None:
    inventory = sbom.parse_sbom(cdx([GOOD, {**GOOD, "purl": "pkg:npm/"}]))
    assert len(inventory.components) == 1
    assert inventory.unscannable[0].reason.startswith("the purl is malformed")
