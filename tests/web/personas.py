"""The personas of the access matrix (tests/web/test_access_matrix.py): the anonymous caller and one
signed-in person for each role the matrix tries. The domains' matrix modules build their rows from it."""

from __future__ import annotations

PERSONAS = [
    "anonymous",
    "platform_admin",
    "lab_admin",
    "lab_safety",
    "nsa_custodian",
    "partner_reviewer",
    "operator_contact",
    "analyst",
    "vendor",
    "grants_officer",
    "grantee",
    "hiring_officer",
    "coordinator",
]
