"""JSON log lines, one object per line on stderr (gunicorn.conf.py installs these)."""

import json
import logging
import os
import time

import orjson

#: Record attributes that are not part of the message; anything else passed in `extra` is logged.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _utc(created: float) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. 2026-11-29T08:00:00.123Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = vars(record)
        line.update([(k, v) for k, v in fields.items() if k not in _STANDARD])
        if record.exc_info:  # the type only: a traceback's text could quote request data
            line["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        try:
            return orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # e.g. an integer beyond 64 bits
            return json.dumps(line, default=str)


class LineHandler(logging.Handler):
    """Writes each record as one line, with one write(2), to a file descriptor (stderr by default).

    The record is formatted before the lock is taken, so threads serving requests hold it only for
    the write; there is no buffer to flush.
    """

    def __init__(self, fd: int = 2, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.fd = fd

    def handle(self, record: logging.LogRecord) -> bool:
        if not self.filter(record):
            return False
        try:
            data = memoryview((self.format(record) + "\n").encode())
            with self.lock:  # type: ignore[union-attr]
                while data:
                    data = data[os.write(self.fd, data) :]
        except Exception:
            self.handleError(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)
