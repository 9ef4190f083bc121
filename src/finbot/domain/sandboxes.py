"""An arena player's sandbox: their own tenant (``users.sandbox_tenant``) with its own
vendors, invoices, ledger accounts, tools and findings, apart from every other tenant.

Nothing in FinBot is deleted (the decision log and the ledger are append-only), so a reset
starts a new *generation*: the sandbox's vendors of the old one are retired (suspended,
their memberships ended) and fresh ones are registered, the sandbox's bank is topped back
up and its tools' world put back to its seed. What happened before stays readable in the
record and in an export.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from finbot.domain.decisions import Mode
from finbot.domain.users import sandbox_tenant


class SandboxMode(StrEnum):
    """How the gate treats the sandbox's payments: ``governed`` is the production gate;
    ``training`` waives the soft and selected hard guardrails, so a manipulated agent
    really moves sandbox money (and what the production gate would have said is recorded
    beside each decision)."""

    GOVERNED = "governed"
    TRAINING = "training"

    @property
    def decisions(self) -> Mode:
        """The mode the sandbox's decisions are made and recorded in."""
        return Mode.TRAINING if self is SandboxMode.TRAINING else Mode.LIVE


SEED_VENDORS = (("acme", "Acme Office Supplies Inc"), ("globe", "Globe Logistics LLC"))
"""The vendors each generation starts with: (suffix of the id, legal name)."""


@dataclass(frozen=True)
class Sandbox:
    player_id: str
    mode: SandboxMode
    generation: int
    created_at_us: int
    reset_at_us: int | None = None

    @property
    def tenant(self) -> str:
        return sandbox_tenant(self.player_id)

    def vendor_ids(self, generation: int | None = None) -> tuple[str, ...]:
        """The seed vendors' ids of ``generation`` (the current one by default)."""
        gen = self.generation if generation is None else generation
        return tuple(f"sbx-{self.player_id}-g{gen}-{suffix}" for suffix, _ in SEED_VENDORS)
