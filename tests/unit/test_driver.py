"""Pure parts of the Metacontroller test driver: three-way merge and strict decoding."""

import json

import pytest

from tests.testbed.metacontroller import _child_key, _duration_seconds, _no_duplicate_keys, three_way_merge


def test_three_way_merge_keeps_fields_it_never_set_and_drops_fields_it_stopped_setting() -> None:
    observed = {"metadata": {"uid": "1", "labels": {"a": "1", "b": "2", "other": "x"}}, "data": {"k": "old"}}
    last = {"metadata": {"labels": {"a": "1", "b": "2"}}, "data": {"k": "old"}}
    desired = {"metadata": {"labels": {"a": "9"}}, "data": {"k": "new"}}
    merged = three_way_merge(observed, last, desired)
    assert merged == {"metadata": {"uid": "1", "labels": {"a": "9", "other": "x"}}, "data": {"k": "new"}}


def test_duplicate_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        json.loads('{"status": {}, "status": {}}', object_pairs_hook=_no_duplicate_keys)


@pytest.mark.parametrize(("value", "seconds"), [("5s", 5.0), ("500ms", 0.5), ("1m", 60.0), (None, 10.0)])
def test_durations(value: str | None, seconds: float) -> None:
    assert _duration_seconds(value) == seconds


def test_child_keys_follow_metacontroller() -> None:
    assert _child_key("Secret", "v1") == "Secret.v1"
    assert _child_key("Deployment", "apps/v1") == "Deployment.apps/v1"
