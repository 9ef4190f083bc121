"""The model card of an agent version: what it is for, what it reads and answers, which
checks an approval must rest on, what the gate does with its answer, where it is known to
be weak, and its full prompt, so whoever answers for a decision can see what made it.

A card is written from the agent's spec and the tools it is offered, never by hand, so it
cannot drift from the code that runs; the prompt's SHA-256 in it is the one every decision
record names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from finbot.agents.runner import AgentSpec, Tool

LIMITATIONS = (
    "Untrusted content (invoice text, attachments, vendor profiles and notes, tool "
    "output, chat) reaches the model as data; a model can still be steered by instructions "
    "hidden in it. The gate does not rely on the model resisting: hard rules run before it, "
    "soft and evidence rules after it, and only an approved payment decision executes. "
    "Measure a model's susceptibility with `finbot redteam run`.",
    "The model's confidence is self-reported; the gate escalates below the policy's minimum "
    "but never treats a high confidence as evidence.",
    "Reasoning is the model's own account; the decision record keeps the tool results it "
    "was given, which are what a reviewer should check the reasoning against.",
)


def card(spec: AgentSpec[Any], *, model: str, tools: Sequence[Tool],
         stage: str | None = None) -> str:
    """The Markdown card of ``spec`` as run on ``model`` with ``tools``; ``stage``: the
    workflow stage it decides (None: it answers, it does not decide)."""
    schema = spec.output.model_json_schema()
    fields = [f"| `{name}` | {_kind(prop)} | {prop.get('description', '')} |"
              for name, prop in schema.get("properties", {}).items()]
    offered = [f"- `{t.spec.name}`: {t.spec.description}" for t in tools]
    required = ", ".join(f"`{name}`" for name in sorted(spec.required_tools)) or "none"
    return "\n".join([
        f"# Agent card: {spec.agent_id} {spec.version}", "",
        f"- Agent: `{spec.agent_id}`; version `{spec.version}`",
        f"- Prompt SHA-256: `{spec.prompt_hash}` (named in every decision it makes)",
        f"- Model: `{model}`",
        f"- Decides: {f'the `{stage}` stage of a workflow' if stage else 'nothing (it answers)'}",
        "", "## Purpose", "", _purpose(spec.prompt), "",
        "## Output", "", "| Field | Type | Meaning |", "|---|---|---|", *fields, "",
        "## Tools (read-only)", "", *(offered or ["- none"]), "",
        "## What an approval must rest on", "",
        f"Checks the agent must have run: {required}. An APPROVE without them, or over a "
        "check that failed, is escalated by the gate's evidence rules.", "",
        "## What the gate does with its answer", "",
        "Hard rules run first (a fired one blocks before the model is asked); the agent's "
        "proposal is checked for shape, timing and a matching input hash; soft rules and "
        "evidence rules turn an APPROVE into an ESCALATE; only a payment decision approved "
        "by the gate (or by the required reviewers) executes.", "",
        "## Known limitations", "", *(f"- {text}" for text in LIMITATIONS), "",
        "## Prompt", "", "```text", spec.prompt.rstrip(), "```", "",
    ])


def _kind(prop: dict[str, Any]) -> str:
    """A schema property in words: its type, its allowed values or range."""
    if "enum" in prop:
        return "one of " + ", ".join(str(v) for v in prop["enum"])
    bounds = [f"{word} {prop[key]}" for key, word in (("minimum", "from"), ("maximum", "to"))
              if key in prop]
    return " ".join([str(prop.get("type", "see the schema")), *bounds])


def _purpose(prompt: str) -> str:
    """The prompt's first two sentences: who the agent is and what it decides."""
    words = " ".join(prompt.split())
    sentences = re.split(r"(?<=[.!?])\s+", words)
    return " ".join(sentences[:2])
