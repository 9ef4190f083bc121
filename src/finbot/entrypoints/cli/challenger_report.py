"""A challenger's agreement report as one self-contained HTML page (inline style, no
scripts or outside assets; every value escaped, since outcomes and ids came from agents
and vendors)."""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

from finbot.domain.agreement import Report, report_json

_STYLE = ("body{font-family:system-ui,sans-serif;margin:2rem;color:#222}"
          "table{border-collapse:collapse;margin:0 0 1.5rem}"
          "th,td{border:1px solid #bbb;padding:.25rem .6rem;text-align:left}"
          "th{background:#eee}.low{background:#fdd}")


def report_html(report: Report, *, min_agreement: str) -> str:
    data = report_json(report)
    title = f"Agreement report: {data['challenger_id']}"
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{escape(title)}</h1>",
             f"<p>Overall: {_rate(data['overall'])} over {data['overall']['count']} "
             f"paired decisions (bar: {escape(min_agreement)}).</p>"]
    for name, values in data["segments"].items():
        rows = [[value, str(a["count"]), str(a["agreed"]), _rate(a)]
                for value, a in values.items()]
        low = {i for i, a in enumerate(values.values())
               if a["rate"] is not None and Decimal(a["rate"]) < Decimal(min_agreement)}
        parts.append(f"<h2>By {escape(name.replace('_', ' '))}</h2>"
                     + _table([name, "count", "agreed", "agreement"], rows, low))
    parts.append("<h2>Confusion matrix (champion → challenger)</h2>" + _confusion(data))
    parts.append("<h2>Disagreements</h2>" + _table(
        ["step", "routed", "champion decision", "champion", "challenger decision",
         "challenger", "vendor country", "amount"],
        [[d["step_decision_id"], d["routed"], d["champion_decision_id"], d["champion"],
          d["challenger_decision_id"], d["challenger"], d["vendor_country"],
          f"{d['amount']} {d['currency']}"] for d in data["disagreements"]], set()))
    parts.append("</body></html>")
    return "\n".join(parts)


def _rate(agreement: dict[str, Any]) -> str:
    rate = agreement["rate"]
    return "-" if rate is None else escape(f"{float(rate):.2%}")


def _confusion(data: dict[str, Any]) -> str:
    matrix: dict[str, dict[str, int]] = data["confusion"]
    columns = sorted({c for row in matrix.values() for c in row})
    rows = [[champion, *(str(row.get(c, 0)) for c in columns)]
            for champion, row in sorted(matrix.items())]
    return _table(["champion \\ challenger", *columns], rows, set())


def _table(head: list[str], rows: list[list[str]], low: set[int]) -> str:
    if not rows:
        return "<p>none</p>"
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        ("<tr class=\"low\">" if i in low else "<tr>")
        + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>"
        for i, row in enumerate(rows))
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
