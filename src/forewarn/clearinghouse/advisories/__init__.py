"""Vulnerability advisories: one internal model and the codecs of the formats the field uses.

Modules (pure, no database):

- ``schemas``     the internal advisory model (:class:`~.schemas.Advisory`, :class:`~.schemas.Publication`)
                  and the size and count limits every untrusted document is held to;
- ``errors``      :class:`~.errors.InvalidAdvisory`, carrying one problem per offending JSON path;
- ``jsondoc``     bounded, strict JSON parsing shared by the codecs;
- ``osv``         OSV 1.7 JSON, both ways, validated against an OSV JSON Schema shipped with forewarn;
- ``csaf``        CSAF 2.0 (``csaf_security_advisory``, ``csaf_vex``), both ways;
- ``csaf_checks`` CSAF 2.0 JSON Schema and mandatory tests (§6.1), through the ``csaf`` package;
- ``cve5``        CVE JSON 5 records, one way (into the internal model);
- ``kev``         the CISA Known Exploited Vulnerabilities catalogue, and "known exploited" flags.

Every codec validates its input completely before it builds anything, and refuses a document with an
:class:`~.errors.InvalidAdvisory` listing every problem it found; nothing half-converted escapes.
"""
