"""Random edits of valid documents, for the property tests that every edit is either accepted or
refused cleanly (test_csaf, test_cve5, test_osv)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st


def paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (keys and list indices), the value's own (``()``) first."""
    found = [here]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(paths(child, (*here, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found.extend(paths(child, (*here, i)))
    return found


def edit(data: st.DataObject, doc: dict[str, Any], values: st.SearchStrategy[Any]) -> dict[str, Any]:
    """A copy of ``doc`` with one value below its top deleted, or replaced by one of ``values``."""
    doc = copy.deepcopy(doc)
    path = data.draw(st.sampled_from(paths(doc)[1:]))
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    if data.draw(st.booleans()):
        del node[path[-1]]
    else:
        node[path[-1]] = data.draw(values)
    return doc
