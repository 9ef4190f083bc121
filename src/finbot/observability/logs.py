"""Structured logs: structlog's and the standard library's loggers alike leave through one
renderer on stderr, JSON (or, for a person at a terminal, console), one line per record.

FinBot's own code logs through ``logging.getLogger(__name__)``, fields in ``extra``; the
ids of the work in hand are bound with ``structlog.contextvars.bound_contextvars``
(request_id by the web app's middleware, decision_id and workflow_id where decisions are
made and workflow steps run, event ids where consumers handle events) and the trace of
the current span is added to every line. Every line is redacted last (``scrub``), after
the traceback is formatted, so no record, whoever wrote it, leaves with a secret or
personal data. Uvicorn's access lines are reshaped: method, path and status as fields,
the client's address left out.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO

import structlog
from opentelemetry import trace
from structlog.typing import Processor

from finbot.observability.scrub import Scrubber

_CHATTY = ("sqlalchemy", "httpcore", "hpack", "openai", "alembic")
"""Libraries whose debug (or, for SQLAlchemy, info) lines carry statements' parameters,
raw headers or prompts, and Alembic, whose info lines retell every migration of a fresh
database (twenty lines before `finbot up` prints its address): kept at warning whatever
the level."""
LogFormat = Literal["json", "console"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """FinBot's handler on the root logger (told apart from any other, e.g. pytest's).
    Without a stream of its own it writes to whatever ``sys.stderr`` is at the time."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream)
        self._follows_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follows_stderr:
            self.stream = sys.stderr
        super().emit(record)


def configure_logging(*, level: LogLevel = "info", fmt: LogFormat = "json",
                      secrets: Iterable[str] = (), stream: TextIO | None = None) -> None:
    """Route every logger through the renderer at ``level`` to ``stream`` (stderr);
    ``secrets`` are masked wherever they appear. Calling it again replaces the setup."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars, structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level, structlog.stdlib.ExtraAdder(), _foreign,
        structlog.processors.TimeStamper(fmt="iso", utc=True), _trace_ids]
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.PositionalArgumentsFormatter(),
                    structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger, cache_logger_on_first_use=False)
    renderer: Processor = (structlog.processors.JSONRenderer() if fmt == "json"
                           else structlog.dev.ConsoleRenderer(colors=False))
    handler = _Handler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared, pass_foreign_args=True, processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info, Scrubber(secrets), renderer]))
    _install(handler, logging.getLevelName(level.upper()))


def _install(handler: _Handler, level: int) -> None:
    """``handler`` the root's only way out at ``level``, in place of an earlier one; every
    library's records go through it, none through handlers of its own."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        served = logging.getLogger(name)
        if not served.handlers and not served.propagate:
            continue  # switched off (uvicorn --no-access-log): it stays off
        served.handlers.clear()
        served.propagate = True
        served.setLevel(logging.NOTSET)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, level))
    logging.captureWarnings(True)


def reset_logging() -> None:
    """Undo ``configure_logging`` (tests)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(False)
    structlog.reset_defaults()


def _trace_ids(_logger: object, _method: str,
               event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """The current span's trace and span ids (the trace a consumer continues included)."""
    found = trace.get_current_span().get_span_context()
    if found.is_valid:
        event.setdefault("trace_id", f"{found.trace_id:032x}")
        event.setdefault("span_id", f"{found.span_id:016x}")
    return event


def _foreign(_logger: object, _method: str,
             event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A standard library record tidied: uvicorn's access record as fields, without the
    client's address; no copy of the message another handler formatted, no terminal
    colours."""
    record = event.get("_record")
    if record is None:  # structlog's own
        return event
    args = event.pop("positional_args", ())
    for copy in ("message", "color_message"):
        event.pop(copy, None)
    if record.name == "uvicorn.access" and len(args) == 5:
        _client, method, path, version, status = args
        event.update(event=f"{method} {path} HTTP/{version} {status}", method=method,
                     path=path, status=status)
    return event
