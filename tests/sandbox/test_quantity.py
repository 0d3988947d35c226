"""Resource quantities through the kubernetes client's parser and formatter, worded as the
apiserver words a bad one."""

from __future__ import annotations

import pytest

from opsagent.sandbox import quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", 0.5), ("1.5", 1.5), ("512Mi", 512 * 2**20), ("2G", 2e9), (3, 3.0), ("1Ki", 1024.0)],
)
def test_parse(text, value):
    assert quantity.parse(text) == value


@pytest.mark.parametrize("bad", ["abc", "5x", "", "1.2.3"])
def test_a_bad_quantity_is_refused_as_the_apiserver_says(bad):
    with pytest.raises(ValueError, match="quantities must match the regular expression"):
        quantity.parse(bad)
    with pytest.raises(ValueError, match="non-negative"):
        quantity.parse("-1")


def test_format_round_trips():
    assert [quantity.cpu(v) for v in (0.5, 1.5, 2, 0.07)] == ["500m", "1500m", "2", "70m"]
    assert [quantity.memory(v) for v in (2**30, 512 * 2**20, 3 * 2**10, 1000)] == [
        "1Gi",
        "512Mi",
        "3Ki",
        "1000",
    ]
    for text in ("250m", "4", "768Mi", "2Gi"):
        value = quantity.parse(text)
        assert quantity.parse(quantity.cpu(value) if text[-1] in "m4" else quantity.memory(value)) == value
