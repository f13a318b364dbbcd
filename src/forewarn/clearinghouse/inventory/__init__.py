"""Operators' inventories: SBOMs and product lists as normalised components (DESIGN §3).

Modules (pure, no database):

- ``schemas`` the normalised shapes: :class:`~.schemas.Component`, :class:`~.schemas.Unscannable`,
              :class:`~.schemas.Inventory`;
- ``names``   package identity: OSV ecosystems, names normalised per ecosystem, purls mapped onto both;
- ``sbom``    CycloneDX 1.4-1.6 (JSON, XML), SPDX 2.2/2.3 (JSON) and forewarn's CSV product list, with
              format detection, strict validation and size limits;
- ``errors``  :class:`~.errors.InvalidSbom`, one problem per offending place.

Heavy libraries (cyclonedx-python-lib, spdx-tools, packageurl) are imported inside functions.
"""
