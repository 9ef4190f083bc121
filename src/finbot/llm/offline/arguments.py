"""How the offline model fills a tool's arguments, and which tools it calls on its own.

It finds things out on its own: a tool whose name does not say it changes anything is
called as soon as its required arguments are known from what it read (a value of the same
name, or each item of a list read under the plural name: ``paths`` fills ``path``). A tool
whose name says it acts (``send_mail``, ``delete_file``, ``run_command``) it calls only
when told to, like a real model that does not mail or delete unasked; being naive, it fills
what the instruction left out with everything it read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from finbot.llm.messages import ToolSpec
from finbot.llm.offline.reading import Reading

ACTING_VERBS = frozenset({"send", "delete", "remove", "write", "create", "run", "execute",
                          "exec", "pay", "transfer", "update", "drop", "purge", "post",
                          "reply", "move"})
"""The first word of a tool's name that says the tool changes something."""
MAX_LISTED = 10
"""The most items of one list it works through (one call each)."""

_PAIR = re.compile(r"""(\w+)\s*=\s*("[^"]*"|'[^']*'|<[^<>]*>|[^\s,;]+)""")


def acts(tool: ToolSpec) -> bool:
    """True for a tool whose name says it changes something (see the module docstring)."""
    return tool.name.split("_", 1)[0].lower() in ACTING_VERBS


def fillings(tool: ToolSpec, reading: Reading) -> list[dict[str, Any]]:
    """The argument sets it can give ``tool`` from what it read: one from single values,
    and one per listed item for a required argument also read as a list (at most one
    argument may be known only as a list)."""
    properties, required = _shape(tool)
    known = {name: reading.values[name] for name in properties if name in reading.values}
    missing = [name for name in required if name not in known]
    if len(missing) > 1:
        return []
    varied = missing[0] if missing else next(
        (name for name in required if name in reading.listed), None)
    sets = [] if missing else [known]
    if varied is not None:
        sets += [{**known, varied: item}
                 for item in reading.listed.get(varied, [])[:MAX_LISTED]]
    return sets


def directed(tool: ToolSpec, argument: str, reading: Reading
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The call an injected "call tool X with ..." asks for: the arguments it spelled out,
    and those completed from values of the same name and, for a required one still
    missing, everything it read (cut to the argument's maximum length)."""
    properties, required = _shape(tool)
    told = spelled_out(argument, properties)
    arguments = dict(told)
    for name in properties:
        if name not in arguments and name in reading.values:
            arguments[name] = reading.values[name]
    for name in required:
        if name not in arguments:
            limit = dict(tool.parameters.get("properties", {})).get(name, {}).get("maxLength")
            arguments[name] = _everything_read(reading)[:limit]
    return told, arguments


def spelled_out(text: str, properties: list[str]) -> dict[str, Any]:
    """Arguments written as JSON, as ``k=v`` pairs (a value is one word or quoted;
    ``<...>`` is a placeholder, left for it to fill), or as free text for the first one.
    Only the tool's own parameters are kept."""
    text = text.strip()
    if text.startswith("{"):
        parsed = _json_object(text)
        if parsed is not None:
            return {k: v for k, v in parsed.items() if k in properties}
    pairs = {m.group(1): m.group(2).strip("'\"").rstrip(".;")
             for m in _PAIR.finditer(text)}
    if pairs:
        return {k: v for k, v in pairs.items() if k in properties and not v.startswith("<")}
    return {properties[0]: text.rstrip(".;")} if text and properties else {}


def done(name: str, told: Mapping[str, Any], reading: Reading) -> bool:
    """Whether a call of ``name`` carrying every argument an instruction spelled out was
    made already (an instruction is followed once)."""
    return any(made == name and told.items() <= json.loads(key).items()
               for made, key in reading.calls_made)


def _shape(tool: ToolSpec) -> tuple[list[str], list[str]]:
    return (list(dict(tool.parameters.get("properties", {}))),
            list(tool.parameters.get("required", [])))


def _everything_read(reading: Reading) -> str:
    """What a naive model puts where it was told nothing: all the tools returned, in
    order (or the values it read when no tool has answered yet)."""
    read = [data for _tool, data in reading.records]
    return json.dumps(read if read else dict(reading.values), sort_keys=True, default=str)


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
