"""What each arena tool does to a sandbox's stored world: one small function per tool.

Each takes the sandbox's repository, the checked arguments and the time, and returns the
tool's answer with the one-line summary the call log keeps. A tool's own refusal (no such
file, a command that is not permitted) is an answer like any other. ``run_command`` never
runs anything: it answers from a fixed table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from finbot.arena.tools import catalogue as c
from finbot.arena.tools import world as w
from finbot.domain.money import Currency, to_minor
from finbot.services.ports import ArenaRepo

Effect = Callable[[ArenaRepo, str, Any, int], tuple[Any, str]]


def _list_files(repo: ArenaRepo, sandbox: str, args: c.ListFiles, at: int) -> tuple[Any, str]:
    paths = [path for path in repo.files(sandbox) if path.startswith(args.prefix.lstrip("/"))]
    return {"paths": paths}, f"listed {len(paths)} files"


def _read_file(repo: ArenaRepo, sandbox: str, args: c.ReadFile, at: int) -> tuple[Any, str]:
    path = w.clean_path(args.path)
    text = repo.file(sandbox, path)
    if text is None:
        return {"error": f"no file {path}"}, f"refused: no file {path}"
    return {"path": path, "text": text}, f"read {path} ({len(text)} characters)"


def _write_file(repo: ArenaRepo, sandbox: str, args: c.WriteFile, at: int) -> tuple[Any, str]:
    path = w.clean_path(args.path)
    repo.put_file(sandbox, path, args.text, now_us=at)
    return {"path": path, "written": len(args.text)}, f"wrote {path}"


def _delete_file(repo: ArenaRepo, sandbox: str, args: c.DeleteFile,
                 at: int) -> tuple[Any, str]:
    path = w.clean_path(args.path)
    if args.recursive:
        paths = [p for p in repo.files(sandbox) if p == path or p.startswith(path + "/")]
    else:
        paths = [path]
    deleted = repo.delete_files(sandbox, paths) if paths else 0
    if not deleted:
        return {"error": f"no file {path}"}, f"refused: no file {path}"
    return {"deleted": sorted(paths)}, f"deleted {deleted} files under {path}"


def _send_mail(repo: ArenaRepo, sandbox: str, args: c.SendMail, at: int) -> tuple[Any, str]:
    outside, drop = w.is_outside(args.to), w.is_dead_drop(args.to)
    mail = w.SentMail(0, w.SENDER, args.to, args.subject, args.body, outside, drop, at)
    mail_id = repo.add_mail(sandbox, mail)
    where = "the dead drop" if drop else ("outside" if outside else "inside")
    return {"mail_id": mail_id, "to": args.to, "status": "sent"}, f"mail to {where}"


def _list_sent_mail(repo: ArenaRepo, sandbox: str, args: c.NoArguments,
                    at: int) -> tuple[Any, str]:
    sent = [{"mail_id": m.mail_id, "to": m.recipient, "subject": m.subject}
            for m in repo.mail(sandbox)]
    return {"mail": sent}, f"listed {len(sent)} mails"


def _create_payment(repo: ArenaRepo, sandbox: str, args: c.CreatePayment,
                    at: int) -> tuple[Any, str]:
    currency = Currency.of(args.currency)
    to_minor(args.amount, currency)  # refuses more decimals than the currency has
    payment = w.PaymentInstruction(0, args.payee, args.iban.replace(" ", "").upper(),
                                   args.amount, currency.code, args.reference, at)
    payment_id = repo.add_payment(sandbox, payment)
    return ({"payment_id": payment_id, "status": "accepted"},
            f"payment of {args.amount} {currency.code} to {payment.iban[:4]}…")


def _list_payments(repo: ArenaRepo, sandbox: str, args: c.NoArguments,
                   at: int) -> tuple[Any, str]:
    listed = [{**asdict(p), "amount": str(p.amount)} for p in repo.payments(sandbox)]
    return {"payments": listed}, f"listed {len(listed)} payments"


def _calculate_vat(repo: ArenaRepo, sandbox: str, args: c.TaxQuestion,
                   at: int) -> tuple[Any, str]:
    answer = w.vat(args.amount, args.country, Currency.of(args.currency))
    return answer, f"VAT {answer['tax']} {answer['currency']} in {args.country}"


def _calculate_withholding(repo: ArenaRepo, sandbox: str, args: c.TaxQuestion,
                           at: int) -> tuple[Any, str]:
    answer = w.withholding(args.amount, args.country, Currency.of(args.currency))
    return answer, f"withheld {answer['withheld']} {answer['currency']} in {args.country}"


def _disk_usage(repo: ArenaRepo, sandbox: str, args: c.NoArguments,
                at: int) -> tuple[Any, str]:
    usage: dict[str, int] = {}
    for path, text in repo.files(sandbox).items():
        folder = path.split("/")[0] if "/" in path else "."
        usage[folder] = usage.get(folder, 0) + len(text.encode())
    return {"bytes_by_folder": usage, "total_bytes": sum(usage.values())}, "disk usage"


def _list_processes(repo: ArenaRepo, sandbox: str, args: c.NoArguments,
                    at: int) -> tuple[Any, str]:
    return {"processes": w.PROCESSES}, "listed processes"


def _run_command(repo: ArenaRepo, sandbox: str, args: c.RunCommand,
                 at: int) -> tuple[Any, str]:
    output = w.answer_command(args.command)
    refused = output == w.COMMAND_REFUSED
    return ({"output": output, "executed": False},
            "refused: command not permitted" if refused else "answered from the table")


EFFECTS: dict[str, Effect] = {
    "list_files": _list_files, "read_file": _read_file, "write_file": _write_file,
    "delete_file": _delete_file, "send_mail": _send_mail, "list_sent_mail": _list_sent_mail,
    "create_payment": _create_payment, "list_payments": _list_payments,
    "calculate_vat": _calculate_vat, "calculate_withholding": _calculate_withholding,
    "disk_usage": _disk_usage, "list_processes": _list_processes,
    "run_command": _run_command,
}
"""Each catalogued tool's effect, by name."""
