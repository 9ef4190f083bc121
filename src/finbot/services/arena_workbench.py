"""What a player does by hand to their own sandbox's tool servers: read each tool's
current description, rewrite one (tool poisoning) and plant a document on the drive.

Both writes are open in training mode only: a governed sandbox is the production
setting, where nobody outside FinBot rewrites a tool or files documents on its drive.
The player's sandbox is always their own; there is no sandbox id to name another.
"""

from __future__ import annotations

from dataclasses import dataclass

from finbot.arena.tools.catalogue import TOOLS, ToolSpec
from finbot.domain.errors import Forbidden
from finbot.domain.sandboxes import Sandbox, SandboxMode
from finbot.domain.users import Principal
from finbot.services.arena_tools import ArenaTools, ToolResult
from finbot.services.sandboxes import SandboxService

NOT_TRAINING = "arena_not_training"


@dataclass(frozen=True)
class ToolView:
    """One tool as the player's sandbox shows it to the agents."""

    spec: ToolSpec
    description: str

    @property
    def overridden(self) -> bool:
        return self.description != self.spec.description


class Workbench:
    def __init__(self, sandboxes: SandboxService, tools: ArenaTools) -> None:
        self._sandboxes = sandboxes
        self._tools = tools

    def tools(self, player: Principal) -> tuple[Sandbox, list[ToolView]]:
        """The player's sandbox and every tool with the description it shows now."""
        sandbox = self._sandboxes.get(player)
        return sandbox, [ToolView(spec, text)
                         for spec, text in self._tools.described(sandbox.tenant, TOOLS)]

    def poison(self, player: Principal, tool: str, description: str) -> ToolView:
        """Rewrite ``tool``'s description in the player's sandbox (training mode only)."""
        sandbox = self._sandboxes.get(player)
        self._tools.override_description(sandbox.tenant, tool, description,
                                         training=sandbox.mode is SandboxMode.TRAINING,
                                         tenant=sandbox.tenant)
        [(spec, text)] = self._tools.described(sandbox.tenant, [tool])
        return ToolView(spec, text)

    def plant(self, player: Principal, path: str, text: str) -> ToolResult:
        """Put a document at ``path`` on the player's sandbox drive (training mode only),
        logged and announced as the player's own ``write_file`` call."""
        sandbox = self._training(player)
        return self._tools.call(sandbox.tenant, "write_file", {"path": path, "text": text},
                                agent_id="player", tenant=sandbox.tenant)

    def _training(self, player: Principal) -> Sandbox:
        sandbox = self._sandboxes.get(player)
        if sandbox.mode is not SandboxMode.TRAINING:
            raise Forbidden("documents can be planted only in training mode",
                            code=NOT_TRAINING, field="mode")
        return sandbox
