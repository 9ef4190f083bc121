"""``finbot arena …``: the arena's simulated tool servers for one sandbox, served over MCP
so any MCP client can connect, and the sandbox's world reset or exported."""

from __future__ import annotations

import json

import typer

from finbot.arena.tools.catalogue import SERVERS, Server
from finbot.bootstrap import bootstrap
from finbot.domain.errors import InvalidInput
from finbot.entrypoints.cli.common import console, reports_errors
from finbot.entrypoints.mcp_servers import Transport, serve, tool_server
from finbot.services.arena_tools import ArenaTools

arena_cli = typer.Typer(help="The red-team arena's sandboxed tools.", no_args_is_help=True)

_SANDBOX = typer.Option(..., "--sandbox", metavar="ID", help="The sandbox whose world the "
                        "tools act on (each arena player has their own).")


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
