"""``finbot sanctions``: an import replaces the stored list in one transaction, screening's
view picks it up, and a malformed file leaves the previous list in place."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finbot.adapters.db.agent_views import SqlSanctionsView
from finbot.agents.sanctions import SanctionedParty, sample_parties
from finbot.bootstrap import App
from finbot.domain.clock import now_us
from finbot.domain.errors import InvalidInput
from finbot.entrypoints.cli.sanctions import sanctions_cli
from finbot.services.sanctions import import_sanctions, sanctions_summary

runner = CliRunner()
_DATA = resources.files("finbot.agents.data")
SDN = _DATA.joinpath("sdn_sample.csv").read_text(encoding="utf-8")
ALT = _DATA.joinpath("alt_sample.csv").read_text(encoding="utf-8")
TWO_ENTRIES = (
    '36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,"Havana."\n'
    '173,"ANGLO-CARIBBEAN CO., LTD.",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n')
MALFORMED = '36,"AEROCARIBBEAN AIRLINES",-0- ,"CUBA"\n'
SAMPLE_SIZE = len(sample_parties())


def _import(app: App, sdn: str, aliases: str | None = None, *,
            clock: Callable[[], int] = now_us) -> int:
    return import_sanctions(app.uow, sdn, aliases_text=aliases,
                            clock=clock)


def _by_id(parties: list[SanctionedParty]) -> list[SanctionedParty]:
    return sorted(parties, key=lambda p: p.entry_id)


def test_importing_the_sample_files_stores_every_entry_with_its_aliases(app: App) -> None:
    assert _import(app, SDN, ALT) == SAMPLE_SIZE
    count, imported_at = sanctions_summary(app.uow)
    assert count == SAMPLE_SIZE
    assert imported_at is not None
    stored = _by_id(SqlSanctionsView(app.agent_engine).parties())
    assert stored == _by_id(sample_parties())
    volkov = stored[0]
    assert volkov.programs == ("UKRAINE-EO13662", "RUSSIA-EO14024")
    assert volkov.aliases == ("ВОЛКОВ ХОЛДИНГС", "VOLKOV INVESTMENT GROUP")


def test_a_second_import_replaces_the_list_and_the_view_picks_it_up(app: App) -> None:
    view = SqlSanctionsView(app.agent_engine)
    _import(app, SDN, ALT)
    assert len(view.parties()) == SAMPLE_SIZE
    assert _import(app, TWO_ENTRIES) == 2
    assert sanctions_summary(app.uow)[0] == 2
    assert [(p.entry_id, p.name, p.aliases) for p in _by_id(view.parties())] == [
        (36, "AEROCARIBBEAN AIRLINES", ()), (173, "ANGLO-CARIBBEAN CO., LTD.", ())]


def test_an_import_at_the_same_instant_still_refreshes_the_view(app: App) -> None:
    view = SqlSanctionsView(app.agent_engine)
    _import(app, SDN, ALT, clock=lambda: 1_000)
    assert len(view.parties()) == SAMPLE_SIZE
    _import(app, TWO_ENTRIES, clock=lambda: 1_000)
    assert sanctions_summary(app.uow) == (2, 1_001)
    assert {p.entry_id for p in view.parties()} == {36, 173}


def test_the_view_shows_the_shipped_sample_until_a_list_is_imported(app: App) -> None:
    view = SqlSanctionsView(app.agent_engine)
    assert sanctions_summary(app.uow) == (0, None)
    assert view.parties() == sample_parties()
    _import(app, TWO_ENTRIES)
    assert {p.entry_id for p in view.parties()} == {36, 173}


@pytest.mark.parametrize(("sdn", "aliases"), [
    (MALFORMED, None),
    (TWO_ENTRIES, "99,1,\"aka\",\"NOBODY\",-0- \n"),  # an alias of an entry not listed
    ("\n\x1a\n", None),  # nothing but OFAC's end-of-file mark: an empty list
], ids=["short-row", "orphan-alias", "empty"])
def test_a_bad_file_leaves_the_previous_list_intact(app: App, sdn: str,
                                                     aliases: str | None) -> None:
    _import(app, SDN, ALT)
    before = sanctions_summary(app.uow)
    with pytest.raises(InvalidInput):
        _import(app, sdn, aliases)
    assert sanctions_summary(app.uow) == before
    assert _by_id(SqlSanctionsView(app.agent_engine).parties()) == _by_id(sample_parties())


def test_a_name_longer_than_the_column_is_refused_before_anything_changes(app: App) -> None:
    _import(app, TWO_ENTRIES)
    before = sanctions_summary(app.uow)
    long_name = "X" * 513
    with pytest.raises(InvalidInput, match="at most 512"):
        _import(app, f'7,"{long_name}",-0- ,"CUBA",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n')
    assert sanctions_summary(app.uow) == before


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def sample_files(tmp_path: Path) -> tuple[Path, Path]:
    sdn, alt = tmp_path / "SDN.CSV", tmp_path / "ALT.CSV"
    sdn.write_text(SDN, encoding="utf-8")
    alt.write_text(ALT, encoding="utf-8")
    return sdn, alt


def _message(stderr: str) -> str:
    """The error as one line: rich wraps it at the test terminal's 80 columns."""
    return " ".join(stderr.split())


def _status(*extra: str) -> dict[str, object]:
    result = runner.invoke(sanctions_cli, ["status", "--json", *extra])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_the_cli_imports_the_files_and_reports_the_list_in_use(
        env: None, sample_files: tuple[Path, Path]) -> None:
    assert _status() == {"source": "sample", "entries": SAMPLE_SIZE, "imported_at": None}
    assert "shipped sample" in runner.invoke(sanctions_cli, ["status"]).stdout
    sdn, alt = sample_files
    result = runner.invoke(sanctions_cli, ["import", str(sdn), "--aliases", str(alt)])
    assert result.exit_code == 0, result.output
    assert f"imported {SAMPLE_SIZE} sanctions entries" in result.stdout
    status = _status()
    assert status["source"] == "imported"
    assert status["entries"] == SAMPLE_SIZE
    assert str(status["imported_at"]).endswith("+00:00")
    assert f"{SAMPLE_SIZE} entries, imported" in runner.invoke(sanctions_cli, ["status"]).stdout


def test_the_cli_import_prints_json_and_accepts_a_byte_order_mark(
        env: None, tmp_path: Path) -> None:
    sdn = tmp_path / "SDN.CSV"
    sdn.write_text("\ufeff" + TWO_ENTRIES, encoding="utf-8")
    result = runner.invoke(sanctions_cli, ["import", str(sdn), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"imported": 2}
    assert _status()["entries"] == 2


def test_a_missing_file_is_a_one_line_error(env: None, tmp_path: Path) -> None:
    result = runner.invoke(sanctions_cli, ["import", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    message = _message(result.stderr)
    assert message.startswith("error[unreadable_file]: cannot read SDN_CSV '")
    assert message.endswith("': No such file or directory (field: SDN_CSV)")
    assert str(tmp_path / "nope.csv") in "".join(result.stderr.split())  # a long path folds


def test_an_unreadable_aliases_file_is_a_one_line_error(
        env: None, sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    latin1 = tmp_path / "ALT.CSV"
    latin1.write_bytes('90001,1,"aka","MÜLLER",-0- \n'.encode("latin-1"))
    result = runner.invoke(sanctions_cli, ["import", str(sample_files[0]), "--aliases",
                                           str(latin1)])
    assert result.exit_code == 2
    assert _message(result.stderr).startswith("error[unreadable_file]: cannot read --aliases")
    assert "not UTF-8 (byte 16" in _message(result.stderr)
    assert _status()["source"] == "sample"


def test_a_malformed_file_through_the_cli_keeps_the_list(
        env: None, sample_files: tuple[Path, Path], tmp_path: Path) -> None:
    runner.invoke(sanctions_cli, ["import", str(sample_files[0])])
    bad = tmp_path / "BAD.CSV"
    bad.write_text(MALFORMED, encoding="utf-8")
    result = runner.invoke(sanctions_cli, ["import", str(bad)])
    assert result.exit_code == 2
    assert _message(result.stderr) == (
        "error[invalid_input]: line 1: expected 12 columns, found 4 (field: sdn)")
    assert _status()["entries"] == SAMPLE_SIZE


def test_every_sanctions_command_has_help() -> None:
    for command in ("import", "status"):
        result = runner.invoke(sanctions_cli, [command, "--help"])
        assert result.exit_code == 0
        assert "--json" in result.stdout
