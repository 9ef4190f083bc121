"""Business events: typed, versioned envelopes that announce a committed state change.

An event is written to the outbox in the same transaction as the change it announces, so
an event exists exactly when its change does. Each type and version has a schema (the
fields its payload must carry, and their kinds); a payload that does not match is refused
before it is written, and a consumer refuses (dead-letters) an event it cannot read.
Payloads carry ids and amounts, never names, bank details or free text about a person.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from finbot.domain.errors import InvalidInput

BUSINESS, AGENTS = "business", "agents"
"""Streams: money and workflow facts; agent and gate facts."""


@dataclass(frozen=True)
class EventSchema:
    """One event type at one version: its stream and its payload's required fields."""

    name: str
    version: int
    stream: str
    fields: Mapping[str, type]
    push: bool = True  # sent live to the browsers of the event's tenant


SCHEMAS: dict[tuple[str, int], EventSchema] = {
    (s.name, s.version): s for s in (
        EventSchema("decision.recorded", 1, AGENTS, {
            "decision_id": str, "agent_id": str, "outcome": str, "mode": str,
            "vendor_id": str, "amount": str, "currency": str}),
        EventSchema("decision.recorded", 2, AGENTS, {
            "decision_id": str, "agent_id": str, "stage": str, "outcome": str, "mode": str,
            "vendor_id": str, "amount": str, "currency": str}),
        EventSchema("review.queued", 1, BUSINESS, {
            "decision_id": str, "vendor_id": str, "priority": int, "due_at": int,
            "required_approvals": int}),
        EventSchema("review.recorded", 1, BUSINESS, {
            "decision_id": str, "reviewer_id": str, "verdict": str, "status": str}),
        EventSchema("escalation.approved", 1, BUSINESS, {
            "decision_id": str, "vendor_id": str, "amount": str, "currency": str}),
        EventSchema("vendor.registered", 1, BUSINESS, {"vendor_id": str}),
        EventSchema("vendor.status_changed", 1, BUSINESS, {"vendor_id": str, "status": str}),
        EventSchema("vendor.bank_changed", 1, BUSINESS, {"vendor_id": str}),
        EventSchema("vendor.erased", 1, BUSINESS, {"vendor_id": str}),
        EventSchema("vendor.notified", 1, BUSINESS, {"vendor_id": str, "subject_id": str}),
        EventSchema("vendor.money_burst", 1, BUSINESS, {
            "vendor_id": str, "requests": int, "window_s": int}, push=False),
        EventSchema("invoice.submitted", 1, BUSINESS, {
            "invoice_id": str, "vendor_id": str, "amount": str, "currency": str}),
        EventSchema("invoice.status_changed", 1, BUSINESS, {
            "invoice_id": str, "vendor_id": str, "status": str}),
        EventSchema("payment.settled", 1, BUSINESS, {
            "payment_id": str, "decision_id": str, "state": str, "amount": str,
            "currency": str}),
        EventSchema("rollback.progressed", 1, BUSINESS, {
            "case_id": str, "step": str, "decision_id": str, "vendor_id": str,
            "model_version": str, "detail": str}),
        EventSchema("rollback.completed", 1, BUSINESS, {
            "case_id": str, "decision_id": str, "vendor_id": str, "model_version": str,
            "amount": str, "currency": str, "settled_as": str}),
        EventSchema("workflow.failed", 1, BUSINESS, {
            "workflow_id": str, "step": str, "error": str}, push=False),
        EventSchema("breaker.changed", 1, AGENTS, {
            "agent_id": str, "from_state": str, "to_state": str, "reason": str}),
        EventSchema("challenger.changed", 1, AGENTS, {
            "challenger_id": str, "agent_id": str, "from_state": str, "to_state": str,
            "reason": str}),
        EventSchema("challenger.rolled_back", 1, AGENTS, {
            "challenger_id": str, "agent_id": str, "to_state": str, "reason": str}),
        EventSchema("monitor.drift_detected", 1, AGENTS, {
            "agent_id": str, "stream": str, "psi": str, "ks_p_value": str, "baseline_n": int,
            "current_n": int}, push=False),
        EventSchema("monitor.bias_detected", 1, AGENTS, {
            "dimension": str, "segment": str, "rate": str, "rest_rate": str,
            "adjusted_p": str, "decisions": int}, push=False),
        EventSchema("llm.requested", 1, AGENTS, {
            "call_id": str, "agent_id": str, "workflow_id": str, "model": str,
            "messages": int, "tools": int, "request_sha256": str, "excerpt": str},
            push=False),
        EventSchema("llm.responded", 1, AGENTS, {
            "call_id": str, "agent_id": str, "workflow_id": str, "model": str,
            "latency_us": int, "input_tokens": int, "output_tokens": int,
            "cost_micro_usd": int, "tool_calls": str, "excerpt": str, "error": str},
            push=False),
        EventSchema("tool.called", 1, AGENTS, {
            "tool": str, "agent_id": str, "arguments": str, "workflow_id": str}, push=False),
        EventSchema("tool.refused", 1, AGENTS, {
            "tool": str, "agent_id": str, "arguments": str, "workflow_id": str,
            "reason": str}, push=False),
        EventSchema("tool.described", 1, AGENTS, {
            "tool": str, "description_sha256": str, "server": str}, push=False),
        EventSchema("arena.finding", 1, BUSINESS, {
            "finding_id": str, "detector": str, "severity": str, "aggregate_id": str,
            "detail": str}),
        EventSchema("content.screened", 1, AGENTS, {
            "surface": str, "subject_id": str, "vendor_id": str, "score": str, "cues": str},
            push=False),
        EventSchema("arena.progress", 1, BUSINESS, {
            "player_id": str, "challenge_id": str, "fact": str, "mode": str}),
        EventSchema("arena.solved", 1, BUSINESS, {
            "player_id": str, "challenge_id": str, "points": int,
            "first_blood_points": int}),
        EventSchema("assistant.replied", 1, AGENTS, {
            "vendor_id": str, "conversation_id": str, "excerpt": str, "tool_calls": str},
            push=False),
    )
}


@dataclass(frozen=True)
class Event:
    """One event as stored and delivered."""

    event_id: str
    type: str
    version: int
    stream: str
    aggregate_id: str
    aggregate_seq: int
    tenant: str
    occurred_at_us: int
    trace_id: str
    payload: Mapping[str, Any]


class Outgoing(NamedTuple):
    """A committed event on its way to a stream, as the relay sends it."""

    outbox_id: int
    stream: str
    fields: dict[str, str]  # the flat envelope (see ``flat_envelope``)


ENVELOPE = ("event_id", "type", "version", "stream", "aggregate_id", "aggregate_seq",
            "tenant", "occurred_at", "trace_id", "payload")
"""The fields of a flat envelope (a stream entry), in order; also the outbox's columns."""

STREAMS = tuple(sorted({schema.stream for schema in SCHEMAS.values()}))
"""Every stream an event type is published to."""


def envelope_fields(values: Sequence[object]) -> dict[str, str]:
    """The flat envelope of ``values`` given in ``ENVELOPE`` order (the payload already
    JSON text): every field a string."""
    return {name: str(value) for name, value in zip(ENVELOPE, values, strict=True)}


def flat_envelope(event: Event) -> dict[str, str]:
    """The envelope of ``event`` as flat text fields, the payload as JSON with sorted
    keys."""
    return envelope_fields((event.event_id, event.type, event.version, event.stream,
                            event.aggregate_id, event.aggregate_seq, event.tenant,
                            event.occurred_at_us, event.trace_id,
                            json.dumps(dict(event.payload), sort_keys=True)))


def schema_for(type_: str, version: int) -> EventSchema:
    """The schema of ``type_`` v``version``; InvalidInput if there is none."""
    schema = SCHEMAS.get((type_, version))
    if schema is None:
        raise InvalidInput(f"unknown event {type_} v{version}", code="event_unknown",
                           field="type")
    return schema


def check_payload(schema: EventSchema, payload: Mapping[str, Any]) -> None:
    """Refuse a payload missing a field, carrying one of the wrong kind, or an extra one
    (an extra field is how PII leaks into a stream unnoticed)."""
    missing = [name for name in schema.fields if name not in payload]
    extra = [name for name in payload if name not in schema.fields]
    wrong = [name for name, kind in schema.fields.items()
             if name in payload and (not isinstance(payload[name], kind)
                                     or isinstance(payload[name], bool))]
    if missing or extra or wrong:
        raise InvalidInput(f"{schema.name} v{schema.version} payload: missing {missing}, "
                           f"unexpected {extra}, wrong kind {wrong}",
                           code="event_malformed", field="payload")
