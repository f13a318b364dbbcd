from __future__ import annotations

import pytest

from forewarn.core.strictjson import StrictJsonError, loads_object, too_deep


@pytest.mark.parametrize(
    ("text", "summary", "detail"),
    [
        ('{"a": 1, "a": 2}', "not valid JSON", "duplicate key 'a'"),
        ('{"a": NaN}', "not valid JSON", "NaN is not JSON"),
        ("[1, 2]", "not a JSON object", "expected an object"),
        ('{"a": [[[[1]]]]}', "nested too deeply", "more than 4 levels"),
        ('{"a": ', "not valid JSON", "Expecting value"),
    ],
)
def test_refusals_name_the_problem(text: str, summary: str, detail: str) -> None:
    with pytest.raises(StrictJsonError) as err:
        loads_object(text, max_depth=4)
    assert err.value.summary == summary and detail in err.value.detail


def test_accepts_a_plain_object_and_measures_depth() -> None:
    assert loads_object('{"a": [{"b": 1}]}', max_depth=3) == {"a": [{"b": 1}]}
    assert too_deep([[[]]], 2) and not too_deep([[[]]], 3)


def test_deep_nesting_does_not_exhaust_the_stack() -> None:
    with pytest.raises(StrictJsonError):
        loads_object('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", max_depth=64)
