"""Answers about a text remembered while the text is short: a model's conversation comes
back whole on every round, so the same tool descriptions, task and earlier messages are
read again and again. Longer texts (attachments) are worked out each time, so the memory
stays small."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import ParamSpec, TypeVar

SHORT_TEXT = 16_384
"""Texts up to this many characters are remembered."""

P = ParamSpec("P")
T = TypeVar("T")


def for_short_texts(maxsize: int) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Remember the last ``maxsize`` answers of a pure function whose first argument is
    a text, for texts up to ``SHORT_TEXT`` characters. Answers are shared between
    callers: the function must return values nobody changes (tuples, strings)."""
    def remembering(work: Callable[P, T]) -> Callable[P, T]:
        cached = lru_cache(maxsize=maxsize)(work)

        @wraps(work)
        def answer(*args: P.args, **kwargs: P.kwargs) -> T:
            text = args[0]
            if isinstance(text, str) and len(text) <= SHORT_TEXT:
                return cached(*args, **kwargs)  # type: ignore[arg-type]
            return work(*args, **kwargs)
        return answer
    return remembering
