"""Structured logs with a request id (web) or a job id (worker) bound to every line.

House rule 8: logs carry ids, never health data. The ``redact`` processor drops keys that are known
to carry personal data, as a safety net for mistakes; the rule itself is enforced by review and tests.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED_KEYS = frozenset(
    {"name", "first_name", "last_name", "birth_name", "nir", "ins", "password", "body", "text", "email",
     "phone", "address", "question", "answer", "comment", "token", "secret", "totp"}
)


def _redact(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key.lower() in REDACTED_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping().get(level, 20)),
        logger_factory=_current_stderr_logger,
        cache_logger_on_first_use=False,
    )


def _current_stderr_logger(*_args: Any) -> structlog.PrintLogger:
    # Resolve sys.stderr at each call so redirections (test capture, daemonisation) are honoured.
    return structlog.PrintLogger(file=sys.stderr)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)


bind_context = structlog.contextvars.bind_contextvars
bound_context = structlog.contextvars.bound_contextvars
