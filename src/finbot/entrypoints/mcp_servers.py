"""The arena's tool servers over the Model Context Protocol, with the official ``mcp`` SDK.

One MCP server per tool family (drive, mail, rail, tax, utilities), bound to one sandbox.
Listing tools reads the sandbox's current descriptions each time, so a poisoned
description shows at once; every call goes through ``ArenaTools.call`` and is logged like
any other. The low-level ``Server`` is used because descriptions change while it runs.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext

from finbot.arena.tools.catalogue import Server as Family
from finbot.domain.errors import FinbotError
from finbot.services.arena_tools import ArenaTools

Transport = Literal["stdio", "streamable-http"]


def tool_server(tools: ArenaTools, family: Family, sandbox: str, *,
                agent_id: str = "mcp-client") -> Server[Any]:
    """The MCP server of ``family``'s tools in ``sandbox``; calls are logged as
    ``agent_id``'s."""
    async def list_tools(ctx: ServerRequestContext[Any],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        listed = await anyio.to_thread.run_sync(tools.tools, sandbox, family)
        return types.ListToolsResult(tools=[
            types.Tool(name=spec.name, description=description,
                       input_schema=spec.arguments.model_json_schema())
            for spec, description in listed])

    async def call_tool(ctx: ServerRequestContext[Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        def run() -> Any:
            return tools.call(sandbox, params.name, params.arguments or {},
                              agent_id=agent_id).data
        try:
            data = await anyio.to_thread.run_sync(run)
        except FinbotError as error:
            return _error(json.dumps(error.as_dict()))
        text = json.dumps(data, sort_keys=True, default=str)
        return types.CallToolResult(content=[types.TextContent(text=text)],
                                    structured_content=data)

    return Server(f"finbot-arena-{family}", version="1",
                  instructions=f"FinBot arena {family} tools (simulated; sandbox {sandbox}).",
                  on_list_tools=list_tools, on_call_tool=call_tool)


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def serve(server: Server[Any], *, transport: Transport, host: str, port: int) -> None:
    """Run ``server`` until interrupted: on stdin/stdout, or Streamable HTTP at /mcp."""
    if transport == "stdio":
        anyio.run(_stdio, server)
        return
    import uvicorn

    uvicorn.run(server.streamable_http_app(host=host), host=host, port=port,
                log_level="warning")


async def _stdio(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
