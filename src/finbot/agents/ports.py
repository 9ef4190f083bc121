"""What an agent may use: read-only views, and nothing else.

Agents receive an ``AgentTools`` and no other handle on the system. Every view here only
reads; the adapters behind them run on a database engine that refuses writes, and an
import contract keeps this package from importing services, execution, adapters or a
database driver. A manipulated agent can therefore propose anything, but can change
nothing: only the gate's decision and the execution service move money.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from finbot.domain.ledger import Balances, Transfer
from finbot.domain.policy import Policy


class LedgerView(Protocol):
    """Balances and recent transfers of one account, as of now."""

    def balances(self, account_code: str) -> Balances | None: ...
    def recent_transfers(self, account_code: str, *, limit: int = 20) -> list[Transfer]: ...


class PolicyView(Protocol):
    """The policy the gate will judge with (agents may reason about the limits)."""

    def current(self) -> Policy: ...


@dataclass(frozen=True)
class AgentTools:
    """Everything an agent is given. Adding a field here is adding a capability: keep it
    a read."""

    ledger: LedgerView
    policy: PolicyView
