"""Pure parts of the Metacontroller test driver: three-way merge, strict decoding, Retry-After, the workqueue."""

import calendar
import json
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.testbed.metacontroller import (
    CompositeControllerDriver,
    _child_key,
    _duration_seconds,
    _no_duplicate_keys,
    load_controller,
    retry_after_seconds,
    three_way_merge,
)

REPO = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1", 1), ("30", 30), (" 1", 0), ("1.5", 0), ("soon", 0), ("", 0), (None, 0),
     ("Fri, 04 Dec 2026 13:00:00 GMT", 4)],  # 3.5 s away: rounded up
)  # fmt: skip
def test_retry_after_is_read_as_metacontroller_reads_it(value: str | None, seconds: int) -> None:
    # pkg/hooks/webhook.go: an RFC 1123 date (seconds until it, rounded up), else strconv.Atoi, else 0.
    now = calendar.timegm((2026, 12, 4, 12, 59, 57, 0, 0, 0)) - 0.5
    assert retry_after_seconds(value, now) == seconds


def driver() -> CompositeControllerDriver:
    # No API call is made: only the workqueue is used.
    return CompositeControllerDriver(load_controller(REPO / "metacontroller" / "compositecontroller.yaml"),
                                     k8s.ApiClient(), qps=None)  # fmt: skip


def test_the_workqueue_is_first_in_first_out_with_each_key_once() -> None:
    queue = driver()
    for key in ("a", "b", "a", "c", "b"):
        queue.enqueue(key)
    assert [queue._next() for _ in range(3)] == ["a", "b", "c"]


def test_a_key_added_while_it_syncs_goes_to_the_back_once_done() -> None:
    queue = driver()
    queue.enqueue("a")
    assert queue._next() == "a"
    queue.enqueue("a")  # an event meanwhile: never a second worker on it
    queue.enqueue("b")
    assert queue._next() == "b"
    queue._done("a")
    assert queue._next() == "a"


def test_a_delayed_add_is_not_cancelled_by_an_add_and_the_earliest_wins() -> None:
    queue = driver()
    queue.enqueue("a", 0.2)
    queue.enqueue("a", 5.0)  # later: the earlier one stays
    queue.enqueue("a")  # now: synced at once, and the delayed one still fires (an extra sync, as in client-go)
    assert queue._next() == "a"
    queue._done("a")
    started = time.monotonic()
    assert queue._next() == "a"
    assert 0.1 < time.monotonic() - started < 1.0
    stopper = threading.Timer(0.5, queue.stop)
    stopper.start()
    assert queue._next() is None  # the 5 s one was replaced by the earlier one: nothing more
    stopper.join()
