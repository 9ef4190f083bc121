"""Conditions on one value (a payload field or a tool-call parameter), the operators the
pattern and tool-call detectors are built from.

A value that is a list satisfies a condition when any of its items does (a mail to three
addresses is a dead drop if one of them is). Numbers compare as ``Decimal``, never float.
A regex condition may name ``{tenant_domain}``: it is filled per tenant, escaped.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Literal

from finbot.arena.detectors.core import field_value, is_missing

Operator = Literal["equals", "eq", "ne", "contains", "regex", "in", "gt", "lt", "exists"]


@dataclass(frozen=True)
class Condition:
    """``path`` (dotted, into the payload or the tool call's arguments) ``op`` ``value``."""

    path: str
    op: Operator
    value: Any = None
    _regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        plain = self.op == "regex" and "{tenant_domain}" not in str(self.value)
        object.__setattr__(self, "_regex", re.compile(self.value) if plain else None)

    def holds(self, found: Any, *, tenant_domain: str = "") -> bool:
        """Whether the value ``found`` at ``path`` satisfies this condition."""
        if self.op == "exists":
            return not is_missing(found)
        if is_missing(found) or found is None:
            return self.op == "ne"
        items = found if isinstance(found, list) else [found]
        return any(self._one(item, tenant_domain) for item in items)

    def _one(self, item: Any, tenant_domain: str) -> bool:
        if self.op in ("equals", "eq", "ne"):
            same = _text(item) == _text(self.value)
            return same if self.op != "ne" else not same
        if self.op == "contains":
            return str(self.value).casefold() in _text(item).casefold()
        if self.op == "regex":
            regex = self._regex or _tenant_regex(str(self.value), tenant_domain)
            return regex.search(_text(item)) is not None
        if self.op == "in":
            return _text(item) in {_text(v) for v in _collection(self.value)}
        return _compare(item, self.value, self.op)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _collection(value: Any) -> Collection[Any]:
    return value if isinstance(value, Collection) and not isinstance(value, str) else (value,)


def _compare(left: Any, right: Any, op: str) -> bool:
    a, b = _number(left), _number(right)
    if a is None or b is None:
        return False
    return a > b if op == "gt" else a < b


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@cache
def _tenant_regex(template: str, domain: str) -> re.Pattern[str]:
    return re.compile(template.replace("{tenant_domain}", re.escape(domain)))


def all_hold(conditions: tuple[Condition, ...], document: Mapping[str, Any], *,
             tenant_domain: str = "") -> bool:
    """Whether every condition holds on ``document`` (a payload or a call's arguments)."""
    return all(c.holds(field_value(document, c.path), tenant_domain=tenant_domain)
               for c in conditions)
