"""``finbot arena …``: the arena's simulated tool servers for one sandbox, served over MCP
so any MCP client can connect, and the sandbox's world reset or exported."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from finbot.arena.challenges import load_challenges, shipped_challenges
from finbot.arena.tools.catalogue import SERVERS, Server
from finbot.bootstrap import bootstrap
from finbot.domain.errors import InvalidInput
from finbot.entrypoints.cli.common import console, reports_errors
from finbot.entrypoints.mcp_servers import Transport, serve, tool_server
from finbot.services.arena_tools import ArenaTools

arena_cli = typer.Typer(help="The red-team arena: its challenges and its sandboxed tools.",
                        no_args_is_help=True)

_SANDBOX = typer.Option(..., "--sandbox", metavar="ID", help="The sandbox whose world the "
                        "tools act on (each arena player has their own).")


@arena_cli.command("challenges")
@reports_errors
def challenges_command(
        file: Path | None = typer.Option(None, "--file", exists=True, dir_okay=False,
                                         help="Check and list this catalogue instead of "
                                         "the shipped one (YAML)."),
        as_json: bool = typer.Option(False, "--json", help="Print the catalogue as JSON.")
) -> None:
    """List the challenges (id, category, agent, surface, difficulty, points, labels),
    after checking the whole catalogue: a broken one is refused naming the challenge
    and the field."""
    challenges = load_challenges(file) if file else shipped_challenges()
    if as_json:
        print(json.dumps([c.model_dump(mode="json") for c in challenges], indent=2))
        return
    table = Table("id", "category", "agent", "surface", "difficulty", "points", "labels")
    for c in challenges:
        table.add_row(c.id, c.category, c.agent, c.surface, c.difficulty, str(c.points),
                      " ".join((*c.labels.owasp_llm, *c.labels.owasp_agentic,
                                *c.labels.atlas)))
    console.print(table)
    console.print(f"{len(challenges)} challenges, "
                  f"{sum(c.points for c in challenges):,} points in all")


@arena_cli.command("mcp")
@reports_errors
def mcp_command(
        server: str = typer.Argument(..., metavar="SERVER",
                                     help=f"Which tools: {', '.join(SERVERS)}."),
        sandbox: str = _SANDBOX,
        transport: str = typer.Option("stdio", help="stdio (an MCP client starts this "
                                      "command) or streamable-http (serve /mcp on --port)."),
        host: str = typer.Option("127.0.0.1", help="Interface for streamable-http."),
        port: int = typer.Option(8765, min=1, max=65535, help="Port for streamable-http."),
        agent: str = typer.Option("mcp-client", help="Agent id the tool-call log records.")
) -> None:
    """Serve SERVER's simulated tools for one sandbox over the Model Context Protocol.
    Nothing touches the host or the real ledger; every call is logged in the sandbox
    (`finbot arena export`) and announced as a tool.called event."""
    family = _family(server)
    if transport not in ("stdio", "streamable-http"):
        raise InvalidInput("transport is stdio or streamable-http", field="transport")
    kind: Transport = "stdio" if transport == "stdio" else "streamable-http"
    app = bootstrap()
    try:
        tools = ArenaTools(app.uow, app.outbox)
        serve(tool_server(tools, family, sandbox, agent_id=agent), transport=kind,
              host=host, port=port)
    finally:
        app.close()


@arena_cli.command("export")
@reports_errors
def export_command(sandbox: str = _SANDBOX) -> None:
    """Print the sandbox's files, sent mail, payments, tool calls and tool descriptions
    as one JSON document."""
    app = bootstrap()
    try:
        document = ArenaTools(app.uow, app.outbox).export(sandbox)
    finally:
        app.close()
    print(json.dumps(document, indent=2, sort_keys=True))


@arena_cli.command("reset")
@reports_errors
def reset_command(sandbox: str = _SANDBOX) -> None:
    """Put the sandbox's world back to its seed and its tools' shipped descriptions (the
    tool-call log is kept)."""
    app = bootstrap()
    try:
        ArenaTools(app.uow, app.outbox).reset(sandbox)
    finally:
        app.close()
    console.print(f"sandbox {sandbox} reset to its seed", highlight=False)


def _family(name: str) -> Server:
    for family in SERVERS:
        if family == name:
            return family
    raise InvalidInput(f"no tool server {name!r}; known: {', '.join(SERVERS)}",
                       field="server")
