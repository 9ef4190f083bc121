"""The audit chain on both backends: appends link, tampering by raw SQL is always found."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from finbot.bootstrap import App
from finbot.domain.audit import GENESIS
from finbot.domain.errors import InvalidInput
from finbot.domain.merkle import leaf_hash, verify_inclusion
from finbot.entrypoints.cli.app import cli


@pytest.fixture
def chain(app: App) -> App:
    for n in range(1, 21):
        app.audit.append("decision", f"dec-{n}", {"outcome": "APPROVE", "amount": f"{n}.00",
                                                  "reasoning": f"invoice {n} matches its PO"},
                         decision_id=f"dec-{n}")
    return app


def first_problem(app: App) -> str | None:
    problems = app.audit.verify(limit=1)
    return f"{problems[0].seq}: {problems[0].message}" if problems else None


def tamper(app: App, *statements: str, rows: list[dict[str, object]] | None = None) -> None:
    """Go around the append-only triggers, as an attacker with database access would.
    With ``rows``, the one statement runs once per row of bound values."""
    with app.engine.begin() as conn:
        if app.engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        for statement in statements:
            conn.execute(text(statement), rows) if rows else conn.execute(text(statement))
        if app.engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


def test_records_link_into_a_chain_that_verifies(chain: App) -> None:
    assert first_problem(chain) is None
    with chain.uow() as uow:
        records = list(uow.audit.records())
    assert records[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert records[4].data["reasoning"] == "invoice 5 matches its PO"


def test_an_outsider_can_check_the_chain_with_hashlib_alone(chain: App) -> None:
    with chain.engine.connect() as conn:
        rows = conn.execute(text("SELECT body, prev_hash, hash FROM audit_log ORDER BY seq"))
        prev = GENESIS
        for body, prev_hash, digest in rows:
            assert prev_hash == prev
            assert hashlib.sha256((prev_hash + body).encode()).hexdigest() == digest
            prev = digest
        assert json.loads(body)["seq"] == 20


def test_the_database_refuses_to_edit_the_log(chain: App) -> None:
    with pytest.raises(Exception, match="append-only"), chain.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET body = 'x' WHERE seq = 3"))
    with pytest.raises(Exception, match="append-only"), chain.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))


@pytest.mark.parametrize(("statements", "seq"), [
    (["UPDATE audit_log SET body = replace(body, 'invoice 7', 'invoice 8') WHERE seq = 7"], 7),
    (["UPDATE audit_log SET decision_id = 'dec-99' WHERE seq = 9"], 9),
    (["DELETE FROM audit_log WHERE seq = 12"], 13),
    (["DELETE FROM audit_log WHERE seq = 20"], 20),
    (["UPDATE audit_log SET seq = seq + 1000 WHERE seq = 5",
      "UPDATE audit_log SET seq = 5 WHERE seq = 6",
      "UPDATE audit_log SET seq = 6 WHERE seq = 1005"], 5),
    (["INSERT INTO audit_log (seq, record_id, kind, decision_id, created_at, body, prev_hash, "
      "hash) SELECT 21, 'forged', kind, decision_id, created_at, body, hash, hash "
      "FROM audit_log WHERE seq = 20"], 21),
])
def test_tampering_is_found_at_the_first_bad_record(chain: App, statements: list[str],
                                                   seq: int) -> None:
    tamper(chain, *statements)
    assert chain.audit.verify(limit=1)[0].seq == seq


def test_a_checkpoint_proves_one_record_without_the_rest(chain: App) -> None:
    size, root_hex = chain.audit.checkpoint()
    assert size == 20
    proof = chain.audit.prove("dec-7")
    leaf = leaf_hash(bytes.fromhex(proof.record.hash))
    path = [bytes.fromhex(p) for p in proof.path]
    assert verify_inclusion(leaf, proof.index, proof.tree_size, path, bytes.fromhex(root_hex))
    assert first_problem(chain) is None


def test_an_edit_under_a_checkpoint_is_found_even_if_the_chain_is_rebuilt(chain: App) -> None:
    chain.audit.checkpoint()
    with chain.uow() as uow:
        records = list(uow.audit.records())
    from finbot.domain.audit import make_record
    forged, prev = [], GENESIS
    for r in records:
        data = r.data | ({"outcome": "REJECT"} if r.seq == 4 else {})
        new = make_record(seq=r.seq, record_id=r.record_id, kind=r.kind,
                          decision_id=r.decision_id, created_at=r.created_at, data=data,
                          prev_hash=prev)
        forged.append(new)
        prev = new.hash
    tamper(chain, "UPDATE audit_log SET body = :b, prev_hash = :p, hash = :h WHERE seq = :s",
           rows=[{"b": f.body, "p": f.prev_hash, "h": f.hash, "s": f.seq} for f in forged])
    with chain.engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_head SET hash = '{forged[-1].hash}'"))
    problems = [p.message for p in chain.audit.verify()]
    assert any("no longer match the checkpoint" in m for m in problems)


def test_bad_records_are_refused(app: App) -> None:
    with pytest.raises(InvalidInput):
        app.audit.append("gossip", "x", {})
    with pytest.raises(InvalidInput):
        app.audit.append("note", "", {})


def test_the_cli_verifies_and_names_the_first_bad_record(chain: App, database_url: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("FINBOT_ENVIRONMENT", "test")
    runner = CliRunner()
    assert runner.invoke(cli, ["audit", "checkpoint"]).exit_code == 0
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    tamper(chain, "UPDATE audit_log SET body = replace(body, 'PO', 'P0') WHERE seq = 11")
    broken = runner.invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "record 11" in broken.output


def test_an_export_verifies_with_the_standard_library_alone(
        chain: App, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    chain.audit.checkpoint()
    monkeypatch.setenv("FINBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("FINBOT_ENVIRONMENT", "test")
    out = tmp_path / "export.jsonl"
    result = CliRunner().invoke(cli, ["audit", "export", "--from", "5", "--to", "12",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    script = Path(__file__).parents[2] / "scripts" / "verify_audit_export.py"
    ok = subprocess.run([sys.executable, "-I", str(script), str(out)], capture_output=True,
                        text=True, check=False)
    assert ok.returncode == 0, ok.stdout
    lines = out.read_text().splitlines()
    lines[3] = lines[3].replace("invoice 7", "invoice 9")
    out.write_text("\n".join(lines) + "\n")
    bad = subprocess.run([sys.executable, "-I", str(script), str(out)], capture_output=True,
                         text=True, check=False)
    assert bad.returncode == 1
    assert "record 7" in bad.stdout


def test_verifying_and_checkpointing_do_not_hold_the_write_lock(chain: App) -> None:
    writes: list[str] = []

    def write_meanwhile(done: int, total: int) -> None:
        record = chain.audit.append("note", f"written-during-verify-{len(writes)}", {})
        writes.append(record.record_id)

    assert chain.audit.verify(progress=write_meanwhile) == []
    assert writes == ["written-during-verify-0"]
    assert chain.audit.checkpoint()[0] == 21
    assert chain.audit.verify() == []
