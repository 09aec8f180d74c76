"""Structured logging: one JSON object a line on stderr (or plain text when CIVICGRID_LOG_JSON=false)."""

from __future__ import annotations

import json
import logging
import sys

from civicgrid.config import get_settings

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
               "logger": record.name, "msg": record.getMessage()}
        out.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging() -> None:
    """Configure the civicgrid logger once per process."""
    logger = logging.getLogger("civicgrid")
    if getattr(logger, "_configured", False):
        return
    s = get_settings()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if s.log_json else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(s.log_level.upper())
    logger.propagate = False
    logger._configured = True  # type: ignore[attr-defined]
