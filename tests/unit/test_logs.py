"""The JSON log lines of the hooks service."""

import json
import logging
import os
import re
import sys

from hooks.logs import JSONFormatter, LineHandler


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("hooks.app", logging.WARNING, __file__, 1, "sync %s", ("done",), None)
    record.__dict__.update(extra)
    record.created = 1795957200.0429  # 2026-11-29T13:00:00.042Z
    return record


def test_a_line_is_one_json_object_with_the_extra_fields() -> None:
    line = JSONFormatter().format(_record(namespace="default", imports=["a", "b"], when=object()))
    assert "\n" not in line
    fields = json.loads(line)
    assert fields["time"] == "2026-11-29T13:00:00.042Z"
    assert (fields["level"], fields["logger"], fields["msg"]) == ("warning", "hooks.app", "sync done")
    assert (fields["namespace"], fields["imports"]) == ("default", ["a", "b"])
    assert re.fullmatch(r"<object object at 0x[0-9a-f]+>", fields["when"])  # anything else as its str()
    assert not {"args", "pathname", "lineno", "thread", "process"} & set(fields)


def test_an_exception_is_logged_by_its_type_only() -> None:
    try:
        raise ValueError("token=secret")
    except ValueError:
        record = logging.LogRecord("hooks.app", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = JSONFormatter().format(record)
    assert json.loads(line)["exc_type"] == "ValueError" and "secret" not in line


def test_the_handler_writes_whole_lines_to_its_file_descriptor() -> None:
    read, write = os.pipe()
    handler = LineHandler(write)
    handler.setFormatter(JSONFormatter())
    for i in range(3):
        handler.handle(_record(n=i, big="x" * 10_000))
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        lines = pipe.read().decode().splitlines()
    assert [json.loads(line)["n"] for line in lines] == [0, 1, 2]


def test_fields_orjson_cannot_encode_are_still_logged() -> None:
    line = JSONFormatter().format(_record(big=2**70, keyed={1: "a"}))
    fields = json.loads(line)
    assert (fields["big"], fields["keyed"]) == (2**70, {"1": "a"})
