"""Answers about short texts are remembered; long texts are worked out every time."""

from __future__ import annotations

from finbot.llm.remembered import SHORT_TEXT, for_short_texts


def test_a_short_text_is_worked_out_once_and_a_long_one_every_time() -> None:
    calls: list[int] = []

    @for_short_texts(maxsize=8)
    def length(text: str, extra: int) -> int:
        calls.append(len(text))
        return len(text) + extra

    short, long = "x" * SHORT_TEXT, "x" * (SHORT_TEXT + 1)
    assert [length(short, 1), length(short, 1), length(long, 1), length(long, 1)] == [
        SHORT_TEXT + 1, SHORT_TEXT + 1, SHORT_TEXT + 2, SHORT_TEXT + 2]
    assert calls == [SHORT_TEXT, SHORT_TEXT + 1, SHORT_TEXT + 1]
    assert length(short, 2) == SHORT_TEXT + 2  # the other arguments are part of the key
    assert length.__name__ == "length"
