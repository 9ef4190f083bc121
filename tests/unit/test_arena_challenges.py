"""The arena's challenge catalogue and its one scoring formula: the shipped catalogue is
complete and playable, a broken catalogue is refused naming what is wrong, and every
score, badge and standing follows the documented formula."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from finbot.arena.challenges import (
    ATLAS,
    OWASP_AGENTIC,
    OWASP_LLM,
    Challenge,
    load_challenges,
    shipped_challenges,
)
from finbot.arena.scoring import Solve, badges, leaderboard, score
from finbot.domain.errors import InvalidInput

REQUIRED = {  # what the arena must cover, by the surface or label that shows it
    "system prompt, two agents": lambda c: "AML.T0056" in c.labels.atlas,
    "memory poisoning": lambda c: "T1" in c.labels.owasp_agentic,
    "tool poisoning": lambda c: c.surface == "tool_description",
    "bank-detail change": lambda c: c.surface == "bank_change_note",
    "hidden text in an attachment": lambda c: c.surface == "attachment_text",
    "simulated command execution": lambda c: "AML.T0050" in c.labels.atlas,
    "zero-click planted document": lambda c: c.surface == "planted_document",
    "defence by rule": lambda c: c.surface == "guardrail_rule",
    "defence by signed webhook": lambda c: c.surface == "guardrail_webhook",
}


def test_the_shipped_catalogue_is_complete_and_playable() -> None:
    challenges = shipped_challenges()
    assert len(challenges) >= 20
    assert sum(c.category == "defence" for c in challenges) >= 2
    assert sum(1 for c in challenges if "AML.T0056" in c.labels.atlas) >= 2
    for need, covers in REQUIRED.items():
        assert any(covers(c) for c in challenges), need
    assert {c.agent for c in challenges} == {
        "onboarding", "invoice", "fraud", "payments", "communication"}
    for challenge in challenges:
        assert set(challenge.labels.owasp_llm) <= OWASP_LLM.keys()
        assert set(challenge.labels.owasp_agentic) <= OWASP_AGENTIC.keys()
        assert set(challenge.labels.atlas) <= ATLAS.keys()
        assert challenge.hint_budget < challenge.points


def _write(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "challenges.yaml"
    path.write_text(yaml.safe_dump(rows))
    return path


def _rows() -> list[dict[str, object]]:
    return [c.model_dump(mode="json") for c in shipped_challenges()]


@pytest.mark.parametrize(("change", "said"), [
    (lambda rows: rows[0]["labels"].update(owasp_llm=["LLM99"]), "unknown label(s) LLM99"),
    (lambda rows: rows[1].update(id=rows[0]["id"]), "is used twice"),
    (lambda rows: rows[0].update(prerequisites=["no-such-thing"]), "unknown prerequisite"),
    (lambda rows: rows[0].update(points=10), "cost"),
    (lambda rows: rows[0].update(surface="smoke_signals"), "surface"),
    (lambda rows: rows[0].update(solved_when={}), "solved when the agent is manipulated"),
    (lambda rows: rows.pop(), "at least 20 challenges"),
    (lambda rows: rows[0].update(solved_when={"manipulated": "vibes"}),
     "'vibes' is not a fact the arena observes"),
    (lambda rows: rows[2].update(solved_when={"manipulated": "outcome_approve",
                                              "money": "lottery_won"}),
     "'lottery_won' is not a fact"),
    (lambda rows: rows[-1].update(solved_when={"blocks": "everything",
                                               "lets_through": "ordinary_invoices"}),
     "no case set named 'everything'"),
    (lambda rows: rows[-1].update(surface="invoice_description"), "a defence is played"),
])
def test_a_broken_catalogue_is_refused_naming_what_is_wrong(
        tmp_path: Path, change: object, said: str) -> None:
    rows = _rows()
    change(rows)  # type: ignore[operator]
    with pytest.raises(InvalidInput) as refused:
        load_challenges(_write(tmp_path, rows))
    assert said in refused.value.message


def test_prerequisites_that_go_round_in_a_circle_are_refused(tmp_path: Path) -> None:
    rows = _rows()
    first, second = rows[0]["id"], rows[1]["id"]
    rows[0]["prerequisites"], rows[1]["prerequisites"] = [second], [first]
    with pytest.raises(InvalidInput, match="circle"):
        load_challenges(_write(tmp_path, rows))


def test_a_file_that_is_not_a_list_of_challenges_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("just: a mapping\n")
    with pytest.raises(InvalidInput, match="must be a list"):
        load_challenges(path)
    path.write_text("- [unclosed\n")
    with pytest.raises(InvalidInput, match="not YAML"):
        load_challenges(path)


def _challenge(challenge_id: str) -> Challenge:
    return next(c for c in shipped_challenges() if c.id == challenge_id)


def test_an_attack_scores_its_points_less_the_hints_opened_and_first_blood_adds() -> None:
    bypass = _challenge("threshold-bypass")  # 200 points, hints cost 30 then 40
    assert score(Solve(bypass)) == 200
    assert score(Solve(bypass, hints_opened=1)) == 170
    assert score(Solve(bypass, hints_opened=2)) == 130
    assert score(Solve(bypass, hints_opened=2, first_blood=True)) == 150
    with pytest.raises(InvalidInput, match="has 2 hints"):
        score(Solve(bypass, hints_opened=3))


def test_a_defence_is_scored_on_what_it_blocks_and_what_it_lets_through() -> None:
    rule = _challenge("defence-injection-rule")  # 300 points, one hint of 40
    assert score(Solve(rule, blocked=1.0, let_through=1.0)) == 300
    assert score(Solve(rule, blocked=0.9, let_through=1.0)) == 270
    assert score(Solve(rule, blocked=1.0, let_through=0.5)) == 75  # blocking business costs
    assert score(Solve(rule, blocked=1.0, let_through=0.0)) == 0
    assert score(Solve(rule, blocked=0.1, let_through=1.0, hints_opened=1)) == 0
    with pytest.raises(InvalidInput, match="scored on what it blocked"):
        score(Solve(rule))


def test_badges_and_the_leaderboard_follow_the_solves() -> None:
    extract = [Solve(_challenge("prompt-extraction-invoice"), at_us=10),
               Solve(_challenge("prompt-extraction-assistant"), at_us=20)]
    assert badges(extract) == ["prompt-thief"]
    red = Solve(_challenge("urgency-approval"), first_blood=True, at_us=30)
    blue = Solve(_challenge("defence-injection-rule"), blocked=1.0, let_through=1.0,
                 at_us=40)
    assert set(badges([*extract, red, blue])) == {
        "prompt-thief", "first-blood", "no-hints", "red-and-blue"}
    board = leaderboard({"pia": [*extract, red, blue], "max": extract,
                         "ida": [Solve(_challenge("prompt-extraction-invoice"), at_us=5),
                                 Solve(_challenge("prompt-extraction-assistant"), at_us=6)]})
    assert [s.player for s in board] == ["pia", "ida", "max"]  # a tie: first there wins
    assert board[0].score == 100 + 100 + 150 + 15 + 300


def test_the_cli_lists_the_catalogue_and_refuses_a_broken_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from finbot.entrypoints.cli.app import cli

    listed = CliRunner().invoke(cli, ["arena", "challenges", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [c["id"] for c in json.loads(listed.output)] == [
        c.id for c in shipped_challenges()]
    rows = _rows()
    rows[0]["points"] = 10
    refused = CliRunner().invoke(cli, ["arena", "challenges", "--file",
                                       str(_write(tmp_path, rows))])
    assert refused.exit_code == 2
    assert "cost" in refused.output
