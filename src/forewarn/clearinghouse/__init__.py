"""The Treasury AI cybersecurity clearinghouse (DESIGN §1 R7).

Coordinates vulnerability intake, validation, coordinated disclosure and publication
(``advisories``), operators' inventories (``inventory``), matching of advisories against those
inventories (``matching``) and distribution of notices and patches (``distribution``).
"""
