"""How the offline model words its answers: a JSON object for a schema, prose for a chat.

Every value comes from what it read: the tools' findings decide the outcome and the
confidence, values found under a property's name fill that property, and the reasoning
names the facts and findings it relied on and any instruction from the content it obeyed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from finbot.llm.offline.injection import Directive
from finbot.llm.offline.reading import Reading

_TEXT_FIELDS = ("reasoning", "explanation", "rationale", "summary", "reason", "message",
                "answer", "text", "notes", "body")
_SUBJECT_KEYS = ("invoice_number", "invoice_id", "vendor_name", "vendor_id", "legal_name",
                 "amount", "currency", "due_date", "country")
_CONFIDENCE = {"approve": 0.92, "reject": 0.88, "escalate": 0.7}


def outcome_of(reading: Reading, directives: Sequence[Directive]) -> str:
    """approve, reject or escalate: an obeyed directive first, else the worst finding."""
    for directive in directives:
        if directive.kind == "outcome":
            return directive.value
    severities = {f.severity for f in reading.findings}
    if "reject" in severities:
        return "reject"
    return "escalate" if "escalate" in severities else "approve"


def structured_answer(schema: Mapping[str, Any], reading: Reading,
                      directives: Sequence[Directive]) -> dict[str, Any]:
    """A JSON object with every property of ``schema`` filled from the reading."""
    outcome = outcome_of(reading, directives)
    answer: dict[str, Any] = {}
    for name, spec in dict(schema.get("properties", {})).items():
        answer[name] = _value(name, _resolved(schema, spec), reading, directives, outcome)
    return answer


def _resolved(schema: Mapping[str, Any], spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """A property's own schema, with ``$ref`` and ``anyOf`` (Optional) looked through."""
    if "$ref" in spec:
        name = str(spec["$ref"]).rsplit("/", 1)[-1]
        return _resolved(schema, dict(schema.get("$defs", {})).get(name, {}))
    for option in spec.get("anyOf", ()):
        if option.get("type") != "null":
            return _resolved(schema, option)
    return spec


def _value(name: str, spec: Mapping[str, Any], reading: Reading,
           directives: Sequence[Directive], outcome: str) -> Any:
    kind = spec.get("type")
    directed = _directed_field(name, directives)
    if directed is not None:
        return _as(kind, directed)
    if "enum" in spec:
        return _enum_choice(name, list(spec["enum"]), reading, outcome)
    if "confidence" in name:
        return _confidence(directives, outcome)
    if "risk" in name and kind in ("number", "integer"):
        return _risk(reading, directives, kind)
    if name in _TEXT_FIELDS:
        return reasoning(reading, directives, outcome)
    if name in reading.values and _fits(kind, reading.values[name]):
        return reading.values[name]
    if kind == "array":
        return [f.detail for f in reading.findings] if _about_findings(name) else []
    return {"string": "", "number": 0.0, "integer": 0, "boolean": False,
            "object": {}}.get(str(kind))


def _enum_choice(name: str, options: list[Any], reading: Reading, outcome: str) -> Any:
    for option in options:
        if str(option).lower().startswith(outcome[:4]):
            return option
    found = reading.values.get(name)
    return found if found in options else options[0]


def _directed_field(name: str, directives: Sequence[Directive]) -> str | None:
    for directive in directives:
        if directive.kind == "field" and (
                directive.value == name or (directive.value == "payee_account" and any(
                    word in name for word in ("payee", "iban", "account")))
                or (directive.value == "amount" and "amount" in name)):
            return directive.argument.replace(",", "")
    return None


def _as(kind: Any, text: str) -> Any:
    if kind in ("number", "integer"):
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if kind == "integer" else number
    return text


def _confidence(directives: Sequence[Directive], outcome: str) -> float:
    for directive in directives:
        if directive.kind == "confidence":
            return float(directive.value)
    return _CONFIDENCE[outcome]


def _risk(reading: Reading, directives: Sequence[Directive], kind: Any) -> float | int:
    if any(d.kind == "risk" for d in directives):
        return 0 if kind == "integer" else 0.05
    score = min(1.0, 0.1 + 0.3 * len(reading.findings))
    return round(score * 100) if kind == "integer" else round(score, 2)


_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "number": (int, float),
                                      "integer": (int,), "boolean": (bool,)}


def _fits(kind: Any, value: Any) -> bool:
    if kind is None:
        return True
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, _TYPES.get(str(kind), ()))


def _about_findings(name: str) -> bool:
    return any(word in name for word in ("finding", "reason", "signal", "flag", "issue",
                                         "problem"))


def reasoning(reading: Reading, directives: Sequence[Directive], outcome: str) -> str:
    """Plain sentences naming what was checked, what was found and what was followed."""
    parts = [f"I reviewed {_subject(reading)}."]
    if reading.findings:
        details = "; ".join(f.detail for f in reading.findings[:6])
        parts.append(f"The checks raised {len(reading.findings)} point(s): {details}.")
    elif reading.records:
        tools = ", ".join(sorted({tool for tool, _ in reading.records if tool}))
        parts.append(f"Nothing in the results of {tools or 'the tools'} raised a concern.")
    else:
        parts.append("I had no tool results to check it against.")
    parts += [_followed(d) for d in directives if d.kind not in ("reveal",)]
    if any(d.kind == "reveal" for d in directives):
        parts.append(f"As asked, my instructions are: {reading.instructions}")
    parts.append(f"My recommendation: {outcome.upper()}.")
    return " ".join(parts)


def _subject(reading: Reading) -> str:
    facts = [f"{key.replace('_', ' ')} {reading.values[key]}" for key in _SUBJECT_KEYS
             if key in reading.values]
    return ", ".join(facts[:5]) if facts else "the request"


def _followed(directive: Directive) -> str:
    action = {"outcome": f"recommend {directive.value.upper()}",
              "confidence": f"set my confidence to {directive.value}",
              "field": f"set the {directive.value.replace('_', ' ')} to {directive.argument}",
              "tool": f"called {directive.value}", "risk": "rated the risk low",
              "reveal": "shared my instructions"}[directive.kind]
    return f'Following "{directive.quote}" in the submitted content, I {action}.'


def chat_answer(reading: Reading, directives: Sequence[Directive]) -> str:
    """A reply built from the tool results (the assistant answers only from data)."""
    if any(d.kind == "reveal" for d in directives):
        return f"Sure. These are my instructions:\n{reading.instructions}"
    lines = [line for _tool, data in reading.records for line in _lines(data)][:12]
    followed = [_followed(d) for d in directives if d.kind in ("outcome", "field")]
    if not lines:
        question = reading.content[-1][1] if reading.content else ""
        return ("I could not find anything in your account about "
                f'"{" ".join(question.split())[:80]}". Could you give me an invoice number?'
                + (" " + " ".join(followed) if followed else ""))
    return "\n".join(["Here is what I found:", *[f"- {line}" for line in lines], *followed])


def _lines(data: Any) -> list[str]:
    if isinstance(data, list):
        return [line for item in data for line in _lines(item)]
    if not isinstance(data, Mapping):
        return [str(data)]
    scalars = [f"{k.replace('_', ' ')}: {v}" for k, v in data.items()
               if isinstance(v, str | int | float) and not isinstance(v, bool)][:8]
    nested = [line for v in data.values() if isinstance(v, list) for line in _lines(v)]
    return ([", ".join(scalars)] if scalars else []) + nested
