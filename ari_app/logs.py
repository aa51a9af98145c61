"""JSON log lines on stderr: one object per line, with the call's request id and carrier.

Log calls pass identifiers only (`extra={"request_id": ..., "carrier": ...}`); the
text of a playlist and every password stay out of logs by construction.
"""

from __future__ import annotations

import logging
import sys
import time

import orjson

_FIELDS = ("request_id", "verification_id", "carrier", "cause", "app")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(level: str = "INFO") -> None:
    # Nothing here uses the caller's file and line, thread or process: not looked up.
    logging._srcfile = None  # the logging HOWTO's "Optimization" section
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
