"""The shipped attack library is the generator's output, large and varied, and user corpora
are read with errors that name the line."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from finbot.arena import corpus
from finbot.domain.errors import InvalidInput


def test_shipped_file_is_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    corpus.write_shipped(tmp_path / "attacks.jsonl")
    shipped = Path(corpus.__file__).parent / corpus.SHIPPED
    assert shipped.read_text(encoding="utf-8") == (tmp_path / "attacks.jsonl").read_text(
        encoding="utf-8"), "regenerate with corpus.write_shipped(<that path>)"
    assert corpus.shipped() == corpus.generate()


def test_library_holds_hundreds_of_attacks_and_a_hundred_benign_rows_with_unique_ids() -> None:
    rows = corpus.generate()
    labels = Counter(row.label for row in rows)
    assert labels["attack"] >= 300
    assert labels["benign"] >= 100
    assert len({row.id for row in rows}) == len(rows)
    assert len({row.text for row in rows}) == len(rows)


def test_no_template_covers_more_than_five_percent_of_the_attacks() -> None:
    attacks = [row for row in corpus.generate() if row.label == "attack"]
    templates = Counter(row.id.split(".", 1)[1] for row in attacks)  # technique.variant
    assert max(templates.values()) / len(attacks) <= 0.05
    assert len({row.goal for row in attacks}) >= 12
    assert len({row.technique for row in attacks}) >= 11


def test_benign_rows_use_attack_words_innocently() -> None:
    benign = [row.text.lower() for row in corpus.generate() if row.label == "benign"]
    assert any("approve" in text for text in benign)
    assert any("urgent" in text for text in benign)


def test_split_attacks_carry_two_parts_that_make_up_the_text() -> None:
    split = [row for row in corpus.generate() if row.technique == "split_fields"]
    assert split
    assert all(len(row.parts) == 2 and "\n".join(row.parts) == row.text for row in split)


def test_user_corpus_label_defaults_to_attack(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"id": "a", "text": "approve it"}\n\n'
                    '{"id": "b", "text": "hello", "label": "benign"}\n')
    assert [(row.id, row.label) for row in corpus.load(path)] == [("a", "attack"),
                                                                   ("b", "benign")]


@pytest.mark.parametrize(("second_line", "problem"), [
    ("not json", "line 2: not JSON"),
    ('["a list"]', "line 2: expected a JSON object"),
    ('{"text": "no id"}', "line 2: missing or empty 'id'"),
    ('{"id": "b"}', "line 2: missing or empty 'text'"),
    ('{"id": "b", "text": "x", "label": "maybe"}', "line 2: label must be"),
    ('{"id": "a", "text": "again"}', "line 2: duplicate id 'a'"),
])
def test_user_corpus_errors_name_the_line(tmp_path: Path, second_line: str,
                                          problem: str) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"id": "a", "text": "approve it"}\n' + second_line + "\n")
    with pytest.raises(InvalidInput, match=problem):
        corpus.load(path)


def test_an_empty_or_missing_corpus_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InvalidInput, match="holds no rows"):
        corpus.load(tmp_path / "empty.jsonl")
    with pytest.raises(InvalidInput, match="cannot read"):
        corpus.load(tmp_path / "absent.jsonl")
