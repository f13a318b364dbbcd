"""Inventory tests share the operators of the matching tests."""

from tests.clearinghouse.matching.conftest import operators  # noqa: F401 -- a fixture, re-exported
