"""Traces: FinBot's spans through one tracer, exported only when configured.

Code paths use ``span`` (and ``continued``) from here, the OpenTelemetry API only. The
SDK, with an OTLP/HTTP exporter, is set up by ``configure_tracing`` when an endpoint is
configured; until then no span is made (one would record nothing): the span in hand stands
for it, at the cost of a look-up, and a unit of work with no trace to continue is given
fresh ids, so its log lines and the events it emits still share a trace id.

The trace crosses the event spine in each event's ``trace_id``: ``carried()`` is what an
event emitted now carries, ``<trace id>-<span id>`` (W3C hex; older events hold the trace
id alone), and ``continued(carried)`` makes it the parent of a consumer's spans, so an
invoice submitted over HTTP and the workers' steps, decisions and payments that follow
are one trace. No span attribute holds a name, a bank detail or free text: ids, kinds,
counts and outcomes only (an exception's text is redacted before it becomes a status).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, Status, StatusCode
from opentelemetry.trace import TraceFlags as _Flags

from finbot.privacy.redaction import redact_text

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

Attribute = str | int | float | bool | None

_tracer: trace.Tracer | None = None  # None: tracing is off


def use_tracer_provider(provider: TracerProvider | None) -> None:
    """Send FinBot's spans to ``provider`` (an SDK provider; tests pass one with an
    in-memory exporter); None goes back to the no-op tracer."""
    global _tracer
    _tracer = provider.get_tracer("finbot") if provider is not None else None


@contextmanager
def span(name: str, **attributes: Attribute) -> Iterator[Span]:
    """A span named ``name`` around the block, child of the current one; attributes that
    are None are left out. A failure marks the span as an error (its text redacted).
    Tracing off, the span in hand stands for it (nothing would be recorded), or, at the
    root of a unit of work, one with fresh ids."""
    if _tracer is not None:
        with _recorded(_tracer, name, attributes) as current:
            yield current
        return
    current = trace.get_current_span()
    if current.get_span_context().is_valid:
        yield current
        return
    fresh = NonRecordingSpan(SpanContext(random.getrandbits(128) or 1,
                                         random.getrandbits(64) or 1, is_remote=False))
    token = context.attach(trace.set_span_in_context(fresh))
    try:
        yield fresh
    finally:
        context.detach(token)


def opened(name: str, **attributes: Attribute) -> Span:
    """A span named ``name``, child of the current one, that is not made current: for work
    that yields as it goes (a streamed model reply), whose reader may resume it in another
    thread or context, where a current span could not be detached. The caller ends it
    (``closed``). Tracing off, a span that records nothing."""
    if _tracer is None:
        return NonRecordingSpan(trace.get_current_span().get_span_context())
    return _tracer.start_span(name, record_exception=False, set_status_on_exception=False,
                              attributes={k: v for k, v in attributes.items()
                                          if v is not None})


def closed(current: Span, failure: BaseException | None = None) -> None:
    """End a span from ``opened``; a failure marks it as an error (its text redacted)."""
    if failure is not None:
        _mark_failed(current, failure)
    current.end()


def carried() -> str | None:
    """What an event emitted now carries as its trace: ``<trace id>-<span id>`` of the
    current span, or None outside any trace."""
    found = trace.get_current_span().get_span_context()
    return f"{found.trace_id:032x}-{found.span_id:016x}" if found.is_valid else None


def in_trace() -> bool:
    """Whether the work in hand is inside a trace already."""
    return trace.get_current_span().get_span_context().is_valid


@contextmanager
def continued(carried: str | None) -> Iterator[None]:
    """Continue the trace an event carried (or a caller's ``traceparent`` header): the
    spans opened in the block are children of the span that emitted it. Work already
    inside a trace (a payment run by a request) stays in its own; an unreadable value
    starts none."""
    parent = None if carried is None or in_trace() else _parent(carried)
    if parent is None:
        yield
        return
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        yield
    finally:
        context.detach(token)


def configure_tracing(endpoint: str | None, *, service: str = "finbot") -> bool:
    """Export spans over OTLP/HTTP to ``endpoint`` (a collector's base URL, as
    FINBOT_OTLP_ENDPOINT; ``/v1/traces`` is added) or, without it, to the standard
    OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT; True if either was set. Nothing happens (the
    no-op tracer stays) when neither is, or when this process already exports."""
    standard = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    if not (endpoint or standard):
        return False
    if _tracer is not None:
        return True
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = OTLPSpanExporter(endpoint=_traces_url(endpoint)) if endpoint else (
        OTLPSpanExporter())
    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    provider = TracerProvider(resource=Resource.create(named))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    use_tracer_provider(provider)
    return True


def _traces_url(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


@contextmanager
def _recorded(tracer: trace.Tracer, name: str,
              attributes: dict[str, Attribute]) -> Iterator[Span]:
    with tracer.start_as_current_span(
            name, record_exception=False, set_status_on_exception=False,
            attributes={k: v for k, v in attributes.items() if v is not None}) as current:
        try:
            yield current
        except Exception as failure:
            _mark_failed(current, failure)
            raise


def _mark_failed(current: Span, failure: BaseException) -> None:
    """The failure's kind, and its text redacted, as the span's error status."""
    current.set_attribute("error.type", type(failure).__name__)
    current.set_status(Status(StatusCode.ERROR, redact_text(str(failure))[:200]))


def _parent(carried: str) -> SpanContext | None:
    """The remote parent an event's trace (or a caller's W3C ``traceparent``) names; an
    event that carries the trace id alone gets a stand-in span id derived from it, so its
    consumers still share one parent."""
    parts = carried.split("-")
    trace_hex, span_hex = (parts[1], parts[2]) if len(parts) == 4 else (
        parts[0], parts[1] if len(parts) == 2 else "")
    try:
        trace_id = int(trace_hex, 16)
        span_id = int(span_hex, 16) if span_hex else trace_id & (2**64 - 1)
    except ValueError:
        return None
    found = SpanContext(trace_id, span_id, is_remote=True,
                        trace_flags=_Flags(_Flags.SAMPLED))
    return found if found.is_valid else None
